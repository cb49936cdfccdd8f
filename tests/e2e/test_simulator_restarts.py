"""The simulator outlives its processes (issue 11, point 8): `api --simulate` and `worker
--simulate` apart, the worker killed with SIGKILL; what a phone received is still shown,
an SMS-MO and a verification asked for while the worker was dead arrive once it is back,
once each; and `serve --simulate` started afterwards on the same state shows it all."""
import os
import signal
import subprocess

import requests

from processes import (SCRIPT, clean_environment, eventually, query, start_api, start_serve,
                       start_verification, start_worker, stop)

MODEM = "+33700000001"
BEFORE, DURING, SENDER = "+33612345201", "+33612345202", "+33612345203"


def received(url: str, number: str) -> list[str]:
    return [m["text"] for m in requests.get(f"{url}/__sim__/phones/{number}/messages",
                                            timeout=10).json()]


def inbox_texts(state_dir) -> list[str]:
    return [text for (text,) in query(state_dir, "SELECT text FROM inbox ORDER BY id")]


def test_phones_keep_their_mail_and_what_was_asked_while_the_worker_was_dead_arrives_once(
        tmp_path):
    subprocess.run([str(SCRIPT), "keys", "generate", "--state-dir", str(tmp_path)], check=True,
                   capture_output=True, env=clean_environment())
    log = tmp_path / "worker.log"
    api, url = start_api(tmp_path, "--simulate")
    worker = start_worker(tmp_path, log, "--simulate")
    try:
        start_verification(url, BEFORE)
        [code] = eventually(lambda: received(url, BEFORE))
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(30)

        assert requests.post(f"{url}/__sim__/phones/{SENDER}/messages",
                             json={"to": MODEM, "text": "STOP"}, timeout=10).status_code == 202
        start_verification(url, DURING)
        assert query(tmp_path, "SELECT count(*) FROM sim_mo_requests WHERE sent_at IS NULL"
                     ) == [(1,)]
        assert received(url, BEFORE) == [code]  # the API shows it with no worker at all

        worker = start_worker(tmp_path, log, "--simulate")
        eventually(lambda: inbox_texts(tmp_path) == ["STOP"])
        [during] = eventually(lambda: received(url, DURING))
    finally:
        stop(worker)
        stop(api)

    serve, url = start_serve(tmp_path, "--simulate")
    try:
        assert (received(url, BEFORE), received(url, DURING)) == ([code], [during])
        assert inbox_texts(tmp_path) == ["STOP"]
        assert query(tmp_path, "SELECT count(*) FROM sim_mo_requests WHERE sent_at IS NULL"
                     ) == [(0,)]
    finally:
        stop(serve)

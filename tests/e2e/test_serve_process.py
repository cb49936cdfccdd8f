"""`msisdn-gateway serve` as users run it: a subprocess on 127.0.0.1 with gunicorn workers
and the worker process, driven with requests-hawk."""
import os
import signal
import time

import pytest
import requests
from requests_hawk import HawkAuth

from processes import descendants, eventually, query, running, start_serve, stop, worker_pid

NUMBER = "+33612345678"


@pytest.fixture
def served(tmp_path):
    process, url = start_serve(tmp_path, "--simulate")
    try:
        yield url, process, tmp_path
    finally:
        stop(process)


def phone_texts(url: str, number: str) -> list[str]:
    """What the simulated phone ``number`` received (the outbox keeps no text in clear)."""
    return [m["text"] for m in requests.get(f"{url}/__sim__/phones/{number}/messages").json()]


def test_serve_runs_gunicorn_workers_and_the_worker_and_stops_cleanly_on_sigterm(served):
    url, process, _ = served
    children = descendants(process.pid)
    # two gunicorn workers and the worker process (plus multiprocessing's helper)
    assert len(children) >= 3, children
    assert requests.get(url + "/").json()["name"] == "msisdn-gateway"
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    assert not [pid for pid in children if running(pid)]
    output = process.stdout.read()
    assert "worker stopped" in output and "Shutting down: Master" in output
    assert "Traceback" not in output and " ERROR " not in output, output


def test_serve_stops_with_an_error_when_its_worker_process_dies(served):
    url, process, _ = served
    os.kill(worker_pid(process), signal.SIGKILL)
    code = process.wait(30)
    output = process.stdout.read()
    assert code == 1, output  # so that systemd restarts it (Restart=on-failure)
    assert "worker exited with code -9" in output


def test_the_worker_does_not_outlive_a_killed_serve(served):
    _, process, _ = served
    worker = worker_pid(process)
    process.kill()
    process.wait(10)
    end = time.monotonic() + 30
    while running(worker) and time.monotonic() < end:
        time.sleep(0.05)  # waiting for another process to exit
    assert not running(worker)


def test_the_whole_mt_flow_over_real_http_with_requests_hawk(served):
    url, _, _ = served
    http = requests.Session()
    token = http.post(url + "/v1/msisdn/register").json()["msisdnSessionToken"]
    auth = HawkAuth(hawk_session=token, server_url=url)
    response = http.post(url + "/v1/msisdn/sms/mt/verify", auth=auth,
                         json={"msisdn": NUMBER, "mcc": "208", "mnc": "01"})
    assert response.status_code == 204, response.text
    [code] = eventually(lambda: phone_texts(url, NUMBER))
    response = http.post(url + "/v1/msisdn/sms/verify_code", auth=auth, json={"code": code})
    assert response.json() == {"msisdn": NUMBER}
    replay = http.prepare_request(requests.Request(
        "POST", url + "/v1/msisdn/sms/verify_code", json={"code": code}, auth=auth))
    replay.headers["Connection"] = "close"  # new connections: several gunicorn workers see it
    statuses = [http.send(replay).status_code for _ in range(4)]
    assert statuses[0] in (400, 410) and statuses[1:] == [401, 401, 401]


def a_send_in_progress(url: str, state_dir) -> None:
    """A code SMS that the simulated modem takes 2 s to submit, being sent now."""
    requests.post(f"{url}/__sim__/modems/sim0/faults", json={"fault": "slow_submit:2"})
    eventually(lambda: query(state_dir, "SELECT outcome FROM sim_modem_commands")
               == [("applied",)])
    token = requests.post(url + "/v1/msisdn/register").json()["msisdnSessionToken"]
    assert requests.post(url + "/v1/msisdn/sms/mt/verify", json={"msisdn": NUMBER, "mcc": "208"},
                         auth=HawkAuth(hawk_session=token, server_url=url)).status_code == 204
    eventually(lambda: query(state_dir, "SELECT status FROM outbox") == [("sending",)])


def test_sigterm_during_a_send_lets_it_finish(served):
    url, process, state_dir = served
    a_send_in_progress(url, state_dir)
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0
    assert query(state_dir, "SELECT status FROM outbox")[0][0] in ("sent", "delivered")


def test_a_second_signal_to_the_worker_during_its_stop_changes_nothing(served):
    """Ctrl-C under serve reaches the worker twice (SIGINT from the terminal, then serve's
    SIGTERM): the send in progress still finishes and the worker exits cleanly."""
    url, process, state_dir = served
    a_send_in_progress(url, state_dir)
    worker = worker_pid(process)
    os.kill(worker, signal.SIGINT)  # as the terminal's Ctrl-C, then serve's SIGTERM:
    os.kill(worker, signal.SIGTERM)  # while the worker stops, the send taking 2 s
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0
    output = process.stdout.read()
    assert "worker stopped" in output and "Traceback" not in output, output
    assert query(state_dir, "SELECT status FROM outbox")[0][0] in ("sent", "delivered")

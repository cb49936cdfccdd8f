"""`msisdn-gateway serve` as users run it: a subprocess on 127.0.0.1 with gunicorn workers
and the worker process, driven with requests-hawk."""
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
import requests
from requests_hawk import HawkAuth

NUMBER = "+33612345678"
SCRIPT = Path(sys.executable).with_name("msisdn-gateway")


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def descendants(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        for child in (task / "children").read_text().split():
            found |= {int(child)} | descendants(int(child))
    return found


def running(pid: int) -> bool:
    """The process exists and has not exited (a zombie waits only for its reaper)."""
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def wait_until_serving(url: str, process: subprocess.Popen, deadline: float = 30.0) -> None:
    """Poll the load-balancer heartbeat until the real server answers (or fails)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process.poll() is not None:
            raise AssertionError(f"serve exited early: {process.stdout.read()}")
        try:
            if requests.get(url + "/__heartbeat__", timeout=1).status_code == 200:
                return  # the database answers and the worker reported a healthy modem
        except requests.ConnectionError:
            pass
        time.sleep(0.1)  # waiting for another process to bind its port, not for timing
    raise AssertionError("serve did not start in time")


@pytest.fixture
def served(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [str(SCRIPT), "serve", "--simulate", "--state-dir", str(tmp_path), "--port", str(port),
         "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("MSISDN_GATEWAY_")})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process)
        yield url, process, tmp_path
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        process.wait(10)
        process.stdout.close()


def outbox_texts(state_dir: Path) -> list[str]:
    with closing(sqlite3.connect(state_dir / "msisdn-gateway.sqlite3")) as db:
        return [row[0] for row in db.execute("SELECT text FROM outbox ORDER BY id")]


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
    assert "Traceback" not in output and "[ERROR]" not in output, output


def test_serve_stops_with_an_error_when_its_worker_process_dies(served):
    url, process, _ = served
    [worker] = [pid for pid in descendants(process.pid)
                if b"\0worker\0" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    os.kill(worker, signal.SIGKILL)
    code = process.wait(30)
    output = process.stdout.read()
    assert code == 1, output  # so that systemd restarts it (Restart=on-failure)
    assert "worker exited with code -9" in output


def test_the_worker_does_not_outlive_a_killed_serve(served):
    _, process, _ = served
    [worker] = [pid for pid in descendants(process.pid)
                if b"\0worker\0" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    process.kill()
    process.wait(10)
    end = time.monotonic() + 30
    while running(worker) and time.monotonic() < end:
        time.sleep(0.05)  # waiting for another process to exit
    assert not running(worker)


def test_the_whole_mt_flow_over_real_http_with_requests_hawk(served):
    url, _, state_dir = served
    http = requests.Session()
    token = http.post(url + "/v1/msisdn/register").json()["msisdnSessionToken"]
    auth = HawkAuth(hawk_session=token, server_url=url)
    response = http.post(url + "/v1/msisdn/sms/mt/verify", auth=auth,
                         json={"msisdn": NUMBER, "mcc": "208", "mnc": "01"})
    assert response.status_code == 204, response.text
    [code] = outbox_texts(state_dir)
    response = http.post(url + "/v1/msisdn/sms/verify_code", auth=auth, json={"code": code})
    assert response.json() == {"msisdn": NUMBER}
    replay = http.prepare_request(requests.Request(
        "POST", url + "/v1/msisdn/sms/verify_code", json={"code": code}, auth=auth))
    replay.headers["Connection"] = "close"  # new connections: several gunicorn workers see it
    statuses = [http.send(replay).status_code for _ in range(4)]
    assert statuses[0] in (400, 410) and statuses[1:] == [401, 401, 401]

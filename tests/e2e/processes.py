"""Helpers for tests that run the gateway as users do: real processes on 127.0.0.1."""
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import requests

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
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or too busy starting to answer within a second
        time.sleep(0.1)  # waiting for another process to bind its port, not for timing
    raise AssertionError("serve did not start in time")




def clean_environment() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("MSISDN_GATEWAY_")}


def start_serve(state_dir: Path, *flags: str, env: dict | None = None
                ) -> tuple[subprocess.Popen, str]:
    """`msisdn-gateway serve` on a free port; returns the process and its URL once the
    database answers and the worker reported a healthy modem."""
    port = free_port()
    process = subprocess.Popen(
        [str(SCRIPT), "serve", "--state-dir", str(state_dir), "--port", str(port),
         "--workers", "2", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**clean_environment(), **(env or {})})
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(url, process)
    return process, url


def start_api(state_dir: Path, *flags: str, env: dict | None = None
              ) -> tuple[subprocess.Popen, str]:
    """`msisdn-gateway api` alone (two API processes) on a free port; returns the process
    and its URL once it answers (/__lbheartbeat__: no worker needed)."""
    port = free_port()
    process = subprocess.Popen(
        [str(SCRIPT), "api", "--state-dir", str(state_dir), "--port", str(port),
         "--workers", "2", *flags],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**clean_environment(), **(env or {})})
    url = f"http://127.0.0.1:{port}"
    eventually(lambda: _answers(url + "/__lbheartbeat__", process), timeout=30)
    return process, url


def _answers(url: str, process: subprocess.Popen) -> bool:
    assert process.poll() is None, f"exited early with status {process.returncode}"
    try:
        return requests.get(url, timeout=1).status_code == 200
    except (requests.ConnectionError, requests.Timeout):  # or its worker still booting
        return False


def start_worker(state_dir: Path, log_path: Path, *flags: str, env: dict | None = None
                 ) -> subprocess.Popen:
    """`msisdn-gateway worker` alone, its output appended to ``log_path``; returns once
    it logged that it started (modems open, jobs running)."""
    start = log_path.stat().st_size if log_path.exists() else 0
    with log_path.open("a") as log:
        process = subprocess.Popen(
            [str(SCRIPT), "worker", "--state-dir", str(state_dir), *flags],
            stdout=log, stderr=subprocess.STDOUT, env={**clean_environment(), **(env or {})})

    def started() -> bool:
        assert process.poll() is None, f"the worker exited early: see {log_path}"
        with log_path.open("rb") as log:
            log.seek(start)
            return b" started with " in log.read()

    eventually(started, timeout=30)
    return process


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait(10)
    if process.stdout:
        process.stdout.close()


def eventually(probe, timeout: float = 20.0, interval: float = 0.05):
    """Poll ``probe`` (another process's state) until it returns something truthy."""
    end = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > end:
            assert value, "the gateway did not get there in time"
            return value
        time.sleep(interval)  # waiting for another process, not for timing


def worker_pid(serve: subprocess.Popen) -> int:
    """The pid of the worker child of a `serve` process."""
    [pid] = [pid for pid in descendants(serve.pid)
             if b"\0worker\0" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    return pid


def query(state_dir: Path, sql: str) -> list[tuple]:
    """Read the gateway's SQLite database as an admin would."""
    import sqlite3

    with closing(sqlite3.connect(state_dir / "msisdn-gateway.sqlite3")) as db:
        return db.execute(sql).fetchall()


def start_verification(url: str, number: str) -> str:
    """Register a session and ask for a code to ``number``; returns the session token."""
    from requests_hawk import HawkAuth

    token = requests.post(url + "/v1/msisdn/register").json()["msisdnSessionToken"]
    response = requests.post(url + "/v1/msisdn/sms/mt/verify",
                             json={"msisdn": number, "mcc": "208"},
                             auth=HawkAuth(hawk_session=token, server_url=url))
    assert response.status_code == 204, response.text
    return token

"""Readiness, status and watchdog notifications to the service manager (sd_notify).

A fake NOTIFY_SOCKET is a real AF_UNIX datagram socket bound by the test: in a temporary
directory, or in the abstract namespace. Waits are for another process or thread to
send something, with a deadline; the one window in which nothing may arrive is named."""
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from gateway.process.sd_notify import Notifier, modems_status, parse_message, socket_address
from gateway.config.settings import FIELDS, load_settings
from gateway.process.supervisor import NotifyRelay, Readiness

SCRIPT = Path(sys.executable).with_name("msisdn-gateway")
DEADLINE = 60.0
WATCHDOG_USEC = 400_000  # keep-alives every 0.2 s
needs_notify_settings = pytest.mark.skipif(
    "notify_socket" not in FIELDS,
    reason="Settings has no notify_socket/watchdog_usec yet (issue 5): serve and the "
           "worker cannot learn NOTIFY_SOCKET without them")


class FakeManager:
    """The service manager's end: a bound datagram socket and what it received."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(socket_address(address))
        self.messages: list[dict[str, str]] = []

    def receive(self, timeout: float = DEADLINE) -> dict[str, str] | None:
        """The next message, or None when nothing came within ``timeout`` seconds."""
        self.sock.settimeout(timeout)
        try:
            message = parse_message(self.sock.recv(4096))
        except socket.timeout:
            return None
        self.messages.append(message)
        return message

    def receive_until(self, predicate, deadline: float = DEADLINE) -> dict[str, str]:
        end = time.monotonic() + deadline
        while True:
            message = self.receive(max(0.0, end - time.monotonic()))
            assert message is not None, f"nothing matching in time; got {self.messages}"
            if predicate(message):
                return message

    def drain(self) -> list[dict[str, str]]:
        """Whatever is already queued, without waiting."""
        found = []
        while (message := self.receive(timeout=0.001)) is not None:
            found.append(message)
        return found

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def manager(tmp_path):
    fake = FakeManager(str(tmp_path / "notify.sock"))
    yield fake
    fake.close()


def keys(messages) -> list[str]:
    """Each message as the sorted ``KEY=VALUE`` of its READY/WATCHDOG/STOPPING fields."""
    return ["+".join(f"{k}={v}" for k, v in sorted(m.items()) if k != "STATUS") or "STATUS"
            for m in messages]


# ------------------------------------------------------------------ the client


def test_each_notification_is_one_datagram_of_key_value_lines(manager):
    notifier = Notifier(manager.address, watchdog_usec=30_000_000)

    notifier.status("opening 2 modem(s)")
    notifier.ready("2 of 2 modems ready")
    notifier.watchdog()
    notifier.stopping("stopping")

    assert [manager.receive(5) for _ in range(4)] == [
        {"STATUS": "opening 2 modem(s)"},
        {"READY": "1", "STATUS": "2 of 2 modems ready"},
        {"WATCHDOG": "1"},
        {"STOPPING": "1", "STATUS": "stopping"}]
    assert notifier.keepalive_interval == 15.0


def test_an_address_starting_with_at_is_in_the_abstract_namespace():
    name = f"@msisdn-gateway-test-{uuid.uuid4().hex}"
    fake = FakeManager(name)
    try:
        assert Notifier(name).ready("ok")
        assert fake.receive(5) == {"READY": "1", "STATUS": "ok"}
    finally:
        fake.close()
    assert socket_address(name) == "\0" + name[1:]


def test_without_a_socket_every_call_is_a_no_op():
    notifier = Notifier("", watchdog_usec=30_000_000)

    assert not notifier.enabled
    assert notifier.keepalive_interval is None
    assert not notifier.ready("x") and not notifier.watchdog() and not notifier.stopping()


def test_a_relative_address_is_refused_as_sd_notify_does(caplog):
    notifier = Notifier("notify.sock")

    assert not notifier.enabled and not notifier.ready()
    assert "neither a path nor @abstract" in caplog.text


def test_a_manager_that_went_away_is_logged_once_and_never_raises(tmp_path, caplog):
    notifier = Notifier(str(tmp_path / "nobody-listens.sock"))

    assert not notifier.watchdog()
    assert not notifier.watchdog()
    assert [r.levelname for r in caplog.records if r.levelname != "DEBUG"] == ["WARNING"]


def test_update_status_sends_only_what_changed(manager):
    notifier = Notifier(manager.address)

    notifier.ready("1 of 1 modem ready")
    notifier.update_status("1 of 1 modem ready")
    notifier.update_status("0 of 1 modem ready; modem0 gone")

    assert manager.receive(5)["READY"] == "1"
    assert manager.receive(5) == {"STATUS": "0 of 1 modem ready; modem0 gone"}
    assert manager.drain() == []


def test_the_watchdog_interval_comes_only_with_a_socket():
    assert Notifier("/run/x.sock", watchdog_usec=60_000_000).keepalive_interval == 30.0
    assert Notifier("/run/x.sock").keepalive_interval is None
    assert Notifier("", watchdog_usec=60_000_000).keepalive_interval is None


def test_the_modems_status_line_counts_ready_modems_and_names_the_others():
    def modem(name, state):
        return SimpleNamespace(name=name, state=state)

    assert modems_status([modem("a", "ready")]) == "1 of 1 modem ready"
    assert modems_status([modem("a", "ready"), modem("b", "gone"), modem("c", "failed")]) \
        == "1 of 3 modems ready; b gone; c failed"
    assert modems_status([]).startswith("no modems configured")


def test_datagrams_parse_like_systemd_reads_them():
    assert parse_message(b"READY=1\nSTATUS=a=b\nnonsense\n") == {"READY": "1", "STATUS": "a=b"}


# ------------------------------------------------------------------ serve's decisions


def test_ready_is_told_once_both_children_said_ready_with_the_workers_status():
    readiness = Readiness()

    assert readiness.received("worker", {"STATUS": "opening 1 modem(s)"}, True) \
        == [("STATUS=opening 1 modem(s)",)]
    assert readiness.received("worker", {"READY": "1", "STATUS": "1 of 1 modem ready"},
                              True) == [("STATUS=1 of 1 modem ready",)]
    assert readiness.received("api", {"READY": "1", "STATUS": "Gunicorn arbiter booted"},
                              True) == [("READY=1", "STATUS=1 of 1 modem ready")]
    assert readiness.received("api", {"READY": "1"}, True) == []


def test_keep_alives_are_passed_on_only_from_the_worker_after_ready_while_both_run():
    readiness = Readiness()
    alive = {"WATCHDOG": "1"}

    assert readiness.received("worker", alive, True) == []  # not ready yet
    readiness.received("api", {"READY": "1"}, True)
    readiness.received("worker", {"READY": "1"}, True)
    assert readiness.received("worker", alive, True) == [("WATCHDOG=1",)]
    assert readiness.received("api", alive, True) == []
    assert readiness.received("worker", alive, children_running=False) == []


def test_nothing_but_one_stopping_is_told_once_serve_stops():
    readiness = Readiness()
    readiness.received("api", {"READY": "1"}, True)
    readiness.received("worker", {"READY": "1"}, True)

    [stopping] = readiness.stopping()
    assert stopping[0] == "STOPPING=1"
    assert readiness.stopping() == []
    assert readiness.received("worker", {"WATCHDOG": "1", "STATUS": "x"}, True) == []


def test_the_relay_gives_each_child_its_own_socket_and_forwards_what_serve_decides(manager):
    relay = NotifyRelay(Notifier(manager.address, watchdog_usec=WATCHDOG_USEC))
    try:
        worker_command = relay.wrap("worker", ["python", "-m", "gateway.cli", "worker"])
        assert worker_command[:5] == ["env", "-u", "WATCHDOG_PID", "-u", "WATCHDOG_USEC"]
        assert f"NOTIFY_SOCKET={relay.paths['worker']}" in worker_command
        assert f"WATCHDOG_USEC={WATCHDOG_USEC}" in worker_command
        assert not any(a.startswith("WATCHDOG_USEC=") for a in relay.wrap("api", ["x"]))
        assert (os.stat(relay.directory).st_mode & 0o777) == 0o700
        relay.start(lambda: True)
        worker, api = Notifier(relay.paths["worker"]), Notifier(relay.paths["api"])

        worker.ready("1 of 1 modem ready")
        api.ready("Gunicorn arbiter booted")
        assert manager.receive_until(lambda m: "READY" in m) == {
            "READY": "1", "STATUS": "1 of 1 modem ready"}
        worker.watchdog()
        assert manager.receive_until(lambda m: "WATCHDOG" in m) == {"WATCHDOG": "1"}
        relay.stopping()
        assert manager.receive_until(lambda m: "STOPPING" in m)["STOPPING"] == "1"
    finally:
        relay.close()
    assert not os.path.exists(relay.directory)


# ------------------------------------------------------------------ the worker


@needs_notify_settings
def test_the_worker_is_ready_once_its_modems_are_open_and_keeps_alive_from_its_scheduler(
        tmp_path, manager):
    from gateway.process.wiring import build_deps, prepare_database
    from gateway.process.worker import Worker

    settings = load_settings(overrides={"state_dir": tmp_path, "simulate": True},
                             environ={"NOTIFY_SOCKET": manager.address,
                                      "WATCHDOG_USEC": str(WATCHDOG_USEC)})
    engine = prepare_database(settings)
    worker = Worker(build_deps(settings, engine))
    worker.start()
    try:
        ready = manager.receive_until(lambda m: "READY" in m)
        assert ready == {"READY": "1", "STATUS": "1 of 1 modem ready"}
        assert manager.messages[0] == {"STATUS": "opening 1 modem(s)"}
        job = worker.scheduler.get_job("watchdog")
        assert job.trigger.interval.total_seconds() == WATCHDOG_USEC / 2e6
        manager.receive_until(lambda m: "WATCHDOG" in m)
    finally:
        worker.stop()
        engine.dispose()
    assert manager.receive_until(lambda m: "STOPPING" in m)["STOPPING"] == "1"


# ------------------------------------------------------------------ serve, as systemd runs it


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_serve(tmp_path, manager) -> tuple[subprocess.Popen, str]:
    """`serve --simulate` as systemd starts it: NOTIFY_SOCKET and WATCHDOG_USEC set."""
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MSISDN_GATEWAY_") and not k.startswith("WATCHDOG_")}
    env.update(NOTIFY_SOCKET=manager.address, WATCHDOG_USEC=str(WATCHDOG_USEC))
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [str(SCRIPT), "serve", "--simulate", "--state-dir", str(tmp_path / "state"),
         "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    log.close()
    return process, f"http://127.0.0.1:{port}"


def stop_serve(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    return process.wait(DEADLINE)


def worker_pid(serve_pid: int) -> int:
    for task in Path(f"/proc/{serve_pid}/task").glob("*"):
        for child in (task / "children").read_text().split():
            if b"\0worker\0" in Path(f"/proc/{child}/cmdline").read_bytes():
                return int(child)
    raise AssertionError("no worker process")


@needs_notify_settings
def test_serve_tells_ready_when_healthy_then_keep_alives_then_stopping_on_sigterm(
        tmp_path, manager):
    process, url = start_serve(tmp_path, manager)
    try:
        ready = manager.receive_until(lambda m: "READY" in m)
        # Ready means serving: the worker published its modems and the API listens.
        heartbeat = requests.get(url + "/__heartbeat__", timeout=DEADLINE)
        assert heartbeat.status_code == 200 and heartbeat.json()["modems"] == "ok"
        for _ in range(3):
            manager.receive_until(lambda m: "WATCHDOG" in m)
    finally:
        code = stop_serve(process)
    manager.receive_until(lambda m: "STOPPING" in m)
    manager.drain()
    log = (tmp_path / "serve.log").read_text()
    assert code == 0, log
    assert ready == {"READY": "1", "STATUS": "1 of 1 modem ready"}
    sequence = keys(manager.messages)
    assert sequence[0] == "STATUS"  # "opening 1 modem(s)", while starting
    assert sequence.index("READY=1") < sequence.index("WATCHDOG=1")
    assert sequence.count("WATCHDOG=1") >= 3 and sequence.count("READY=1") == 1
    assert sequence.count("STOPPING=1") == 1
    assert set(sequence[sequence.index("STOPPING=1"):]) == {"STOPPING=1"}, sequence
    assert "Traceback" not in log and "cannot notify" not in log, log


@needs_notify_settings
def test_a_hung_worker_stops_the_keep_alives_until_it_runs_again(tmp_path, manager):
    process, _ = start_serve(tmp_path, manager)
    try:
        manager.receive_until(lambda m: "READY" in m)
        manager.receive_until(lambda m: "WATCHDOG" in m)
        worker = worker_pid(process.pid)
        os.kill(worker, signal.SIGSTOP)
        try:
            while "\nState:\tT" not in Path(f"/proc/{worker}/status").read_text():
                time.sleep(0.01)  # waiting for the kernel to stop the other process
            # A keep-alive sent just before the stop may still be on its way through
            # serve: allow one period for it. Then the one timed window of the tests:
            # 10 keep-alive periods in which none may arrive.
            grace_end = time.monotonic() + WATCHDOG_USEC / 2e6
            while (left := grace_end - time.monotonic()) > 0:
                manager.receive(timeout=left)
            window_end = time.monotonic() + 10 * WATCHDOG_USEC / 2e6
            while (left := window_end - time.monotonic()) > 0:
                message = manager.receive(timeout=left)
                assert message is None or "WATCHDOG" not in message, "keep-alive while hung"
        finally:
            os.kill(worker, signal.SIGCONT)
        manager.receive_until(lambda m: "WATCHDOG" in m)  # it runs again: they resume
    finally:
        assert stop_serve(process) == 0, (tmp_path / "serve.log").read_text()

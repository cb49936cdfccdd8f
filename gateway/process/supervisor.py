"""`serve`: the API and the worker as two child processes of one small supervisor.

Each child is ``python -m gateway.cli [--config F] api|worker --prepared <the same flags>``,
so both resolve exactly the same settings; ``--prepared``: `serve` checked the keys and
migrated the database before starting them, so they do not again. (The API is not run in
this process because gunicorn's arbiter reaps every child, which would hide the worker's
exit status.) This process imports no more than it uses: the standard library, the
settings and sd_notify, not the app, SQLAlchemy or the modems (tests/test_process_imports.py).

SIGTERM/SIGINT to `serve` stops both at once (the worker may take up to
STOP_GRACE_SECONDS to finish a send). If a child exits on its own, the other is stopped
too; `serve` exits 1 if that child failed (systemd's Restart=on-failure brings both back),
0 if it stopped cleanly. On Linux the children also get SIGTERM if `serve` itself is
killed.

Under systemd (``Type=notify``; settings ``notify_socket``/``watchdog_usec``) `serve` is
the only process that talks to the service manager, so ``NotifyAccess=main`` suffices.
Each child gets ``NOTIFY_SOCKET`` pointing at a datagram socket of serve's own, in a
private directory (``NotifyRelay``); the worker also gets ``WATCHDOG_USEC``. From what
arrives there ``Readiness`` decides what systemd hears:

- ``STATUS=`` the worker's lines (``1 of 1 modem ready``), as they change;
- ``READY=1`` once the worker said ``READY=1`` (modems open, jobs running, their status
  published, so ``/__heartbeat__`` is healthy) and gunicorn's arbiter said ``READY=1``
  (it listens);
- ``WATCHDOG=1`` each time the worker sends one (a job of its scheduler, every half
  watchdog timeout) while both children run: a hung worker, or a dead child, stops them
  and systemd kills and restarts the unit after ``WatchdogSec``;
- ``STOPPING=1`` when serve starts to stop; nothing after it.
"""
from __future__ import annotations

import ctypes
import logging
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable, Mapping

from gateway.process.sd_notify import Notifier, parse_message
from gateway.process.signals import StopSignals

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1  # linux/prctl.h
STOP_GRACE_SECONDS = 150  # a send may wait up to 120 s for its +CMGS answer
API_GRACE_SECONDS = 40  # gunicorn's graceful_timeout is 20 s
OPTION_NAMES = {"modems": "--modem"}  # flags whose option name differs from the setting
ROLES = ("worker", "api")


def child_command(role: str, config: str | None, flags: dict) -> list[str]:
    """``python -m gateway.cli [--config F] <role> --prepared <flags>``."""
    args = [sys.executable, "-m", "gateway.cli"]
    if config:
        args += ["--config", config]
    args += [role, "--prepared"]
    for name, value in flags.items():
        if value is None or value is False:
            continue
        option = OPTION_NAMES.get(name, "--" + name.replace("_", "-"))
        for item in (value if isinstance(value, (list, tuple)) else [value]):
            args += [option] if item is True else [option, str(item)]
    return args


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the service manager cleans up
        pass


class Child:
    """A child process whose exit calls ``on_exit`` (watched by a named thread)."""

    def __init__(self, role: str, command: list[str], on_exit: Callable[[], None]) -> None:
        self.role = role
        self.process = subprocess.Popen(command, preexec_fn=_die_with_parent)
        self.code: int | None = None
        self._on_exit = on_exit
        threading.Thread(target=self._watch, name=f"watch-{role}", daemon=True).start()

    def _watch(self) -> None:
        self.code = self.process.wait()
        self._on_exit()

    @property
    def running(self) -> bool:
        return self.code is None

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()

    def wait_or_kill(self, deadline: float) -> None:
        """Wait until the monotonic ``deadline``, then kill."""
        try:
            self.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("%s did not stop in time; killing it", self.role)
            self.process.kill()
            self.process.wait()


class Readiness:
    """What serve tells the service manager, decided from what its children told it.
    No I/O: each method returns the datagrams to send, each a tuple of fields."""

    def __init__(self, roles: tuple[str, ...] = ROLES) -> None:
        self._waiting = set(roles)
        self._status = "starting"
        self.announced = False
        self.stopped = False

    def received(self, role: str, fields: Mapping[str, str],
                 children_running: bool) -> list[tuple[str, ...]]:
        """A datagram from ``role`` (its fields); ``children_running``: both still run."""
        if self.stopped:
            return []
        messages: list[tuple[str, ...]] = []
        status = fields.get("STATUS") if role == "worker" else None  # not gunicorn's
        status_changed = status is not None and status != self._status
        if status_changed:
            self._status = status
        if fields.get("READY") == "1":
            self._waiting.discard(role)
        if not self.announced and not self._waiting:
            self.announced = True
            messages.append(("READY=1", f"STATUS={self._status}"))
        elif status_changed:
            messages.append((f"STATUS={self._status}",))
        if (role == "worker" and fields.get("WATCHDOG") == "1" and self.announced
                and children_running):
            messages.append(("WATCHDOG=1",))
        return messages

    def stopping(self) -> list[tuple[str, ...]]:
        if self.stopped:
            return []
        self.stopped = True
        return [("STOPPING=1", "STATUS=stopping: the worker finishes the sends in progress")]


class NotifyRelay:
    """serve's side of the protocol: one datagram socket per child in a private directory
    (mode 0700), read by a thread ``notify-relay`` that passes what arrives to a
    ``Readiness`` and sends its answers to ``upstream`` (systemd)."""

    def __init__(self, upstream: Notifier, roles: tuple[str, ...] = ROLES) -> None:
        self.upstream = upstream
        self.readiness = Readiness(roles)
        self.directory = tempfile.mkdtemp(prefix="msisdn-gateway-notify-")
        self.paths = {role: os.path.join(self.directory, f"{role}.sock") for role in roles}
        self._sockets = {}
        for role, path in self.paths.items():
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            sock.bind(path)
            self._sockets[role] = sock
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def wrap(self, role: str, command: list[str]) -> list[str]:
        """``command`` run through env(1) with the child's own NOTIFY_SOCKET (and, for the
        worker, WATCHDOG_USEC; WATCHDOG_PID names serve, so it goes). env(1) rather than
        Popen(env=...): only gateway.config.settings reads this process's environment."""
        values = [f"NOTIFY_SOCKET={self.paths[role]}"]
        if role == "worker" and self.upstream.watchdog_usec:
            values.append(f"WATCHDOG_USEC={self.upstream.watchdog_usec}")
        return ["env", "-u", "WATCHDOG_PID", "-u", "WATCHDOG_USEC", *values, *command]

    def start(self, children_running: Callable[[], bool]) -> None:
        self._thread = threading.Thread(target=self._relay, args=(children_running,),
                                        name="notify-relay", daemon=True)
        self._thread.start()

    def _relay(self, children_running: Callable[[], bool]) -> None:
        with selectors.DefaultSelector() as selector:
            for role, sock in self._sockets.items():
                selector.register(sock, selectors.EVENT_READ, role)
            selector.register(self._wake_reader, selectors.EVENT_READ, None)
            while True:
                for key, _ in selector.select():
                    if key.data is None:
                        return
                    fields = parse_message(key.fileobj.recv(4096))
                    with self._lock:
                        for message in self.readiness.received(key.data, fields,
                                                               children_running()):
                            self.upstream.send(*message)

    def stopping(self) -> None:
        """Tell systemd STOPPING=1; nothing is forwarded after it."""
        with self._lock:
            for message in self.readiness.stopping():
                self.upstream.send(*message)

    def close(self) -> None:
        self._wake_writer.send(b"\0")
        if self._thread is not None:
            self._thread.join()
        for sock in (*self._sockets.values(), self._wake_reader, self._wake_writer):
            sock.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def _upstream(config: str | None, flags: dict, settings) -> Notifier:
    if settings is None:
        from gateway.config.settings import load_settings

        overrides = {**flags, "modems": flags.get("modems") or None}
        settings = load_settings(config, overrides)
    return Notifier.for_settings(settings)


def serve(config: str | None, flags: dict, settings=None) -> int:
    """Run the worker and the API until a signal or until one of them exits; returns the
    exit code for `serve`. ``settings`` (those the flags give) are loaded when not given;
    they say where the service manager listens."""
    upstream = _upstream(config, flags, settings)
    relay = NotifyRelay(upstream) if upstream.enabled else None
    signals = StopSignals()  # a child's exit wakes it too
    children = {}
    for role in ROLES:
        command = child_command(role, config, flags)
        children[role] = Child(role, relay.wrap(role, command) if relay else command,
                               signals.wake)
    worker, api = children["worker"], children["api"]
    if relay:
        relay.start(lambda: worker.running and api.running)
    stop_requested = signals.wait() is not None
    ended = [c for c in (worker, api) if c.process.poll() is not None]
    if not stop_requested:
        for child in ended:
            level = logging.ERROR if child.process.returncode else logging.INFO
            log.log(level, "%s exited with code %s; stopping the rest", child.role,
                    child.process.returncode)
    if relay:
        relay.stopping()
    started = time.monotonic()
    for child in (api, worker):
        child.terminate()
    api.wait_or_kill(started + API_GRACE_SECONDS)
    worker.wait_or_kill(started + STOP_GRACE_SECONDS)
    if relay:
        relay.close()
    failed = not stop_requested and any(c.process.returncode for c in ended)
    return 1 if failed else 0

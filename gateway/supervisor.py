"""`serve`: the API and the worker as two child processes of one small supervisor.

Each child is ``python -m gateway.cli [--config F] api|worker <the same flags>``, so both
resolve exactly the same settings. (The API is not run in this process because gunicorn's
arbiter reaps every child, which would hide the worker's exit status.)

SIGTERM/SIGINT to `serve` stops both (the worker may take up to STOP_GRACE_SECONDS to
finish a send). If a child exits on its own, the other is stopped too; `serve` exits 1 if
that child failed (systemd's Restart=on-failure brings both back), 0 if it stopped
cleanly. On Linux the children also get SIGTERM if `serve` itself is killed.
"""
from __future__ import annotations

import ctypes
import logging
import signal
import subprocess
import sys
import threading

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1  # linux/prctl.h
STOP_GRACE_SECONDS = 150  # a send may wait up to 120 s for its +CMGS answer
API_GRACE_SECONDS = 40
OPTION_NAMES = {"modems": "--modem"}  # flags whose option name differs from the setting  # gunicorn's graceful_timeout is 20 s


def child_command(role: str, config: str | None, flags: dict) -> list[str]:
    """``python -m gateway.cli [--config F] <role> <flags>``."""
    args = [sys.executable, "-m", "gateway.cli"]
    if config:
        args += ["--config", config]
    args.append(role)
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
    """A child process whose exit sets ``exited`` (watched by a named thread)."""

    def __init__(self, role: str, command: list[str], exited: threading.Event) -> None:
        self.role = role
        self.process = subprocess.Popen(command, preexec_fn=_die_with_parent)
        self.code: int | None = None
        self._exited = exited
        threading.Thread(target=self._watch, name=f"watch-{role}", daemon=True).start()

    def _watch(self) -> None:
        self.code = self.process.wait()
        self._exited.set()

    def stop(self, grace: float) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                log.error("%s did not stop in %s s; killing it", self.role, grace)
                self.process.kill()
                self.process.wait()


def serve(config: str | None, flags: dict) -> int:
    """Run the worker and the API until a signal or until one of them exits; returns the
    exit code for `serve`."""
    event = threading.Event()
    stop_requested = threading.Event()

    def on_signal(*_):
        stop_requested.set()
        event.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    worker = Child("worker", child_command("worker", config, flags), event)
    api = Child("api", child_command("api", config, flags), event)
    event.wait()
    ended = [c for c in (worker, api) if c.process.poll() is not None]
    if not stop_requested.is_set():
        for child in ended:
            level = logging.ERROR if child.process.returncode else logging.INFO
            log.log(level, "%s exited with code %s; stopping the rest", child.role,
                    child.process.returncode)
    api.stop(API_GRACE_SECONDS)
    worker.stop(STOP_GRACE_SECONDS)
    failed = not stop_requested.is_set() and any(c.process.returncode for c in ended)
    return 1 if failed else 0

"""Initialising a modem again after it restarted (``RDY``, ``^SYSSTART``), off its events thread.

A modem that reboots (brown-out, watchdog, firmware) forgets its settings: echo, numeric
errors, PDU mode, storage, indications. Setting them again takes a dozen commands, seconds
on a busy SIM, and a restarted modem often prints a burst of notices at the same time
(stored SMS announced again, registration, signal). So the work runs on a short-lived
thread of its own, ``modem-reinit-NAME``, while the events thread keeps handling notices.

:class:`Reinitialiser` runs one pass at a time: a restart noticed during a pass makes one
more pass after it (the modem restarted again: what the pass did is lost). ``run()`` does
the pass; if it raises ModemError the modem is unusable as it is, and ``on_failure(exc)``
is called (the pool then reopens it, with backoff); other exceptions are logged with their
traceback. Thread-safe.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

from modem.exceptions import ModemError, ModemGone

log = logging.getLogger(__name__)


class Reinitialiser:
    """Runs ``run()`` on ``modem-reinit-NAME`` each time :meth:`request` is called."""

    def __init__(self, name: str, run: Callable[[], None],
                 on_failure: Callable[[BaseException], None]):
        self.name = name
        self._run, self._on_failure = run, on_failure
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._again = False
        self.passes = 0  # passes finished (successful or not)

    @property
    def running(self) -> bool:
        """True from :meth:`request` until the last pass asked for has finished."""
        with self._lock:
            return self._thread is not None

    def request(self) -> None:
        """Re-initialise the modem: now on a new thread, or after the pass in progress."""
        with self._lock:
            if self._thread is not None:
                self._again = True
                return
            self._thread = threading.Thread(target=self._passes, daemon=True,
                                            name=f"modem-reinit-{self.name}")
            thread = self._thread
        thread.start()

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the passes in progress (not from a pass)."""
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _passes(self) -> None:
        while True:
            self._one_pass()
            with self._lock:
                self.passes += 1
                if not self._again:
                    self._thread = None
                    return
                self._again = False

    def _one_pass(self) -> None:
        try:
            self._run()
        except ModemGone as exc:  # the port failed or the modem was closed: nothing to do
            log.info("%s: re-initialisation stopped: %s", self.name, exc)
        except ModemError as exc:
            log.error("%s: re-initialisation after a restart failed: %s", self.name, exc)
            self._on_failure(exc)
        except Exception:  # noqa: BLE001  top of a thread: log with the traceback
            log.exception("%s: re-initialisation after a restart crashed", self.name)

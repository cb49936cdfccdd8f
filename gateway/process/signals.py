"""Waiting in the main thread for a stop signal (SIGTERM, SIGINT) in a process with threads.

A signal sent to a process goes to any one of its threads that does not block it. Python
runs its handlers in the main thread only, and only between two bytecodes: when the kernel
hands the signal to another thread (the modem reader, a pump), a main thread blocked in
``Event.wait()`` or ``Lock.acquire()`` is not woken, and the handler waits until it is.
So ``stop.wait()`` in the main thread of the worker missed SIGTERMs: 1 in 113 stops during
a send under CPU load, and one CI run (a bare process with six busy threads: 9 in 100;
measured on 2026-12-01). `serve` then killed the worker after STOP_GRACE_SECONDS, the SMS
being sent left to be recovered at the next start.

:class:`StopSignals` waits on a socket instead: ``signal.set_wakeup_fd`` has the C-level
handler, whichever thread it runs on, write the signal's number there, so the main thread
wakes at once and reads which signal came. Other threads can wake it too (:meth:`wake`).
Later signals of the same kinds change nothing (the handler does nothing itself), so a
second Ctrl-C, or serve's SIGTERM after it, does not interrupt a stop in progress.
"""
from __future__ import annotations

import select
import signal
import socket
import threading

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_WOKEN = 0  # no signal has number 0


def _ignore(signum, frame) -> None:
    """The Python-level handler: the number written to the wakeup socket is what counts."""


class StopSignals:
    """From construction on, SIGTERM and SIGINT are caught; :meth:`wait` returns the first
    one's number (or None after :meth:`wake`). Main thread only (``signal`` requires it).
    :meth:`close` restores the previous handlers and wakeup descriptor."""

    def __init__(self, signums: tuple[int, ...] = STOP_SIGNALS) -> None:
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("StopSignals works in the main thread only")
        self._signums = frozenset(signums)
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno(),
                                                 warn_on_full_buffer=False)
        self._previous = {signum: signal.signal(signum, _ignore) for signum in signums}

    def wake(self) -> None:
        """Make :meth:`wait` return (from any thread)."""
        try:
            self._writer.send(bytes([_WOKEN]))
        except (BlockingIOError, OSError):
            pass  # full (a wake is already there) or closed (no one waits any more)

    def wait(self) -> int | None:
        """Block until a stop signal arrives (returns its number; one that arrived since
        construction counts) or :meth:`wake` is called (returns None)."""
        while True:
            select.select([self._reader], [], [])
            try:
                data = self._reader.recv(512)
            except BlockingIOError:
                continue
            for number in data:
                if number in self._signums:
                    return number
            if _WOKEN in data:
                return None

    def close(self) -> None:
        signal.set_wakeup_fd(self._previous_fd)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._reader.close()
        self._writer.close()

"""Clocks for the virtual network: the real one (:mod:`modem.clock`), and a manual one
that tests advance.

Both have ``now()`` (an aware UTC datetime) and ``monotonic()`` (seconds); only the
manual clock has ``advance(seconds)``. Nothing in the simulator sleeps: time passes
when the owner of a ManualClock says so (``VirtualNetwork.advance``).
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from modem.clock import SystemClock

__all__ = ["ManualClock", "SystemClock"]

EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)


class ManualClock:
    """A clock that only moves when told to. Thread-safe."""

    manual = True

    def __init__(self, start: datetime = EPOCH, monotonic_start: float = 1000.0) -> None:
        if start.tzinfo is None:
            raise ValueError("start needs a time zone")
        self._start, self._mono0 = start, monotonic_start
        self._elapsed = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        with self._lock:
            return self._mono0 + self._elapsed

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not go backwards")
        with self._lock:
            self._elapsed += seconds

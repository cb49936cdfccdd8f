"""Fakes for the edges of the box that tests control: time. (tests/ is on sys.path.)"""
from __future__ import annotations

from datetime import datetime, timezone

from modem.sim.clock import ManualClock

START = datetime(2026, 1, 1, tzinfo=timezone.utc)


class FakeClock(ManualClock):
    """The simulator's manual clock, starting on 2026-01-01 unless told otherwise:
    ``now()``, ``monotonic()`` and ``advance(seconds)``. Thread-safe."""

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__(start or START)

"""Time as a dependency, for the modem side and the gateway alike (``gateway.clock``
re-exports these): a :class:`Clock` protocol and the real :class:`SystemClock`.

``now()`` is an aware UTC datetime (wall clock, for timestamps); ``monotonic()`` is
seconds from an arbitrary origin that never go backwards (for timeouts and ages). The
simulator's :class:`modem.sim.manual_clock.ManualClock` is the clock that only moves when told.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    """A source of time."""

    def now(self) -> datetime:
        """Current wall-clock time, timezone-aware UTC."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, never going backwards."""


class SystemClock:
    """The real clock."""

    manual = False  # time passes by itself (see modem.sim.network)

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

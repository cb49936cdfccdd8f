"""Time as a dependency: use cases and jobs take a Clock instead of reading time.

The protocol and the real clock are the modem side's (:mod:`modem.clock`: ``gateway``
imports ``modem``, never the reverse); tests use their own fake clock (tests/fakes.py).
"""
from __future__ import annotations

from datetime import datetime, timezone

from modem.clock import Clock, SystemClock

__all__ = ["Clock", "SystemClock", "start_of_utc_day"]


def start_of_utc_day(moment: datetime) -> datetime:
    """Midnight UTC of ``moment``'s day (daily counts and quotas reset then)."""
    return moment.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)

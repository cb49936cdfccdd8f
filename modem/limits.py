"""Per-modem caps on SMS submits: a rate limit and a daily quota (carriers cap SIMs).

Both count message parts (SMS-SUBMITs), not messages. The rate limit is a token bucket
refilled at ``per_minute`` parts a minute (a burst of up to ``per_minute``); the quota
counts parts per UTC day. :class:`SendLimits` is not thread-safe: its owner (the pool)
calls it under its own lock. ``monotonic`` is seconds; ``now`` an aware datetime (UTC).
Nothing here raises.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone


def seconds_to_utc_midnight(now: datetime) -> float:
    """Seconds from ``now`` to the next midnight UTC, when a daily quota resets."""
    now = now.astimezone(timezone.utc)
    midnight = datetime.combine(now.date() + timedelta(days=1), time(), timezone.utc)
    return (midnight - now).total_seconds()


class SendLimits:
    """The rate bucket and the daily count of one modem (``None``: no such cap)."""

    def __init__(self, per_minute: float | None, daily_quota: int | None):
        self.per_minute, self.daily_quota = per_minute, daily_quota
        self.day: date | None = None
        self.sent_today = 0
        self._tokens = 0.0
        self._tokens_at = 0.0

    def reserve(self, parts: int, monotonic: float, now: datetime) -> float:
        """Take ``parts`` from the quota and the bucket: 0.0, or the seconds to wait first
        (nothing taken then: until midnight UTC for the quota, until a token for the rate)."""
        today = now.date()
        if self.day != today:
            self.day, self.sent_today = today, 0
        if self.daily_quota is not None and self.sent_today + parts > self.daily_quota:
            return seconds_to_utc_midnight(now)
        if self.per_minute:
            rate = self.per_minute / 60.0
            self._tokens = min(self.per_minute, self._tokens + (monotonic - self._tokens_at) * rate)
            self._tokens_at = monotonic
            if self._tokens < 1:
                return (1 - self._tokens) / rate
            self._tokens -= parts
        self.sent_today += parts
        return 0.0

    def carry_over(self, day: date, parts: int) -> None:
        """Count ``parts`` already sent on ``day`` (by an earlier run of the process), so a
        restart does not reset the daily quota."""
        if self.day != day:
            self.day, self.sent_today = day, 0
        self.sent_today = max(self.sent_today, parts)

    def refund(self, parts: int) -> None:
        """Give back what :meth:`reserve` took for a submit that did not go out."""
        self.sent_today -= parts
        self._tokens += parts if self.per_minute else 0

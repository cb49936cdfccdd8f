"""Rate limits counted in the database, so that every API worker shares them.

Fixed windows: a rule "N per P seconds" counts events in the window
``floor(t / P)``; the N+1th event in a window is refused, and ``retryAfter`` is the time
left until that window ends, which is exactly when a new attempt can succeed (for the
rule that refused it; with several rules, the latest such time). Counters are incremented
inside the caller's transaction: a refused request rolls back, so it consumes nothing.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone

from gateway.errors import ApiError
from gateway.config.settings import RateRule
from gateway.storage.uow import UnitOfWork


def enforce(uow: UnitOfWork, now: datetime, rules: tuple[RateRule, ...], scope: str,
            subject: str, error: type[ApiError]) -> None:
    """Count one event for ``subject`` (already hashed where it is personal data) against
    every rule; raises ``error`` with ``retry_after`` when any rule is exceeded."""
    stamp = now.timestamp()
    retry_after = 0
    for rule in rules:
        window = int(stamp // rule.period)
        window_end = (window + 1) * rule.period
        key = f"{scope}:{rule.limit}/{rule.period}:{subject}:{window}"
        count = uow.counters.hit(key, datetime.fromtimestamp(window_end, timezone.utc))
        if count > rule.limit:
            retry_after = max(retry_after, math.ceil(window_end - stamp))
    if retry_after:
        raise error(retry_after=max(1, retry_after))

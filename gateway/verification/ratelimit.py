"""Rate limits counted in the database, so that every API worker shares them.

Sliding windows, exact: a rule "N per P seconds" admits an event at time t only when fewer
than N events of its subject were admitted in the P seconds before it, in ``(t - P, t]``;
so no interval of P seconds (``[a, a + P)``), wherever it starts, ever holds more than N
admitted events, also for a burst that straddles a minute or an hour. No fixed window, no
token bucket, no estimate. The storage keeps, per subject and rule, the times of the last
N events (a ring: gateway.storage.rate_windows): the event N before this one decides. A
check costs 1 + R statements for R rules (two for the usual one), one more when refused.

Events are counted inside the caller's transaction, which serializes the events of one
subject (the row lock of its window head on PostgreSQL, the write lock on SQLite): two
concurrent transactions never both take the Nth place. A refused request rolls back, so
it consumes nothing, in no rule. ``retryAfter`` is the time until the oldest event that
refuses it leaves its window, rounded up to a second: an attempt after exactly that long
is admitted (unless other events of the subject came in between), one a second sooner
is not. With several rules exceeded, the latest of those times.

Keys name the scope, the rules and the subject: changing a rule in the configuration
starts the subject's windows of that scope afresh. Rows are removed by the housekeeping
(gateway.storage.repositories.delete_expired) once their events left every window.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from gateway import metrics
from gateway.errors import ApiError
from gateway.config.settings import RateRule
from gateway.storage.rate_windows import Window
from gateway.storage.uow import UnitOfWork

SECOND = timedelta(seconds=1)
KEY_LENGTH = 160  # rate_counters.key and rate_events.key


def window_key(scope: str, rules: tuple[RateRule, ...], subject: str) -> str:
    """``scope:rules:subject``, e.g. ``client:1000/60:<digest>``; rules too many to fit in
    the column are named by a hash of them."""
    names = ",".join(f"{rule.limit}/{rule.period}" for rule in rules)
    key = f"{scope}:{names}:{subject}"
    if len(key) > KEY_LENGTH:
        key = f"{scope}:#{hashlib.sha256(names.encode()).hexdigest()[:16]}:{subject}"
    return key


def enforce(uow: UnitOfWork, now: datetime, rules: tuple[RateRule, ...], scope: str,
            subject: str, error: type[ApiError]) -> None:
    """Count one event for ``subject`` (already hashed where it is personal data, at most
    ~64 characters) against every rule; raises ``error`` with ``retry_after`` (whole
    seconds, at least 1) when any rule is exceeded, and the caller must then roll back
    its transaction (the use cases' units of work and the HTTP layer do). No rules, no
    statement."""
    if not rules:
        return
    admitted_at = uow.counters.admit(window_key(scope, rules, subject), now,
                                     [Window(rule.limit, rule.period) for rule in rules])
    if admitted_at is not None:
        metrics.rate_limited(scope)
        raise error(retry_after=max(1, -((now - admitted_at) // SECOND)))

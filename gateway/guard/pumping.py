"""Pumping detection: code SMS and completed verifications per destination prefix, and
a cool-down for prefixes whose codes are sent but never used (issue 10).

A prefix is "+", the country code and the first ``guard_prefix_digits`` national digits
("+44741"). Every code SMS queued counts one ``sms`` and every verify_code that succeeds
one ``verified``, in the prefix's bucket of ``guard_window / 12`` seconds but at most a
minute (table guard_counts, shared by every process through the database). The figures
of a prefix are the sums of its buckets that started within the last ``guard_window``
seconds.

A prefix is judged each time a code SMS to it is queued, on the SMS old enough to have
been used: those of buckets that ended ``guard_settle`` seconds ago or more, against
every verification of the window. When they are at least ``guard_min_sms`` with fewer
than ``guard_min_conversion`` of them verified, the SMS being queued is still queued and
the prefix is blocked (guard_blocks) for ``guard_cooldown`` seconds: until then every code
SMS to it is refused (400/107, reason ``pumping``), not counted, and logged. So a burst of
honest users (a launch, the busy hour of a large mobile prefix) is not blocked before
they have had the time to type their codes; the price is that a pumped prefix is blocked
``guard_settle`` seconds (and a bucket) later. ``guard_settle = 0`` judges every SMS at
once, the one being queued included. ``msisdn-gateway guard clear PREFIX`` ends a block
and forgets the prefix's figures. ``guard_min_sms = 0`` turns counting and blocks off.

Each function runs in the caller's unit of work: two statements per SMS (the prefix's
standing, then the count), one per verification.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from gateway import metrics
from gateway.guard.policy import REFUSED, Destination, Refusal
from gateway.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

BUCKETS_PER_WINDOW = 12
MAX_BUCKET_SECONDS = 60  # the finest a settle time can be told
# An ended block stays listed (guard list) this long, then the cleanup job drops it.
BLOCK_HISTORY_SECONDS = 86400


def enabled(settings) -> bool:
    return settings.guard_min_sms > 0


def window_start(settings, now: datetime) -> datetime:
    """Buckets that start after this are in the window."""
    return now - timedelta(seconds=settings.guard_window)


def bucket_seconds(settings) -> int:
    return max(1, min(settings.guard_window // BUCKETS_PER_WINDOW, MAX_BUCKET_SECONDS))


def settled_start(settings, now: datetime) -> datetime:
    """Buckets that start at or before this ended ``guard_settle`` seconds ago or more:
    their SMS are judged."""
    return now - timedelta(seconds=settings.guard_settle + bucket_seconds(settings))


def _bucket(settings, now: datetime) -> tuple[datetime, datetime]:
    """The start of ``now``'s bucket and when the bucket leaves every window."""
    size = bucket_seconds(settings)
    stamp = int(now.timestamp())
    start = datetime.fromtimestamp(stamp - stamp % size, timezone.utc)
    return start, start + timedelta(seconds=settings.guard_window + size)


def admit_and_count(uow: UnitOfWork, settings, now: datetime,
                    destination: Destination) -> Refusal | None:
    """A Refusal while the destination's prefix is blocked; else count one code SMS to
    it and block the prefix when its settled figures look pumped (the SMS itself is
    admitted: the block must commit with it)."""
    if not enabled(settings):
        return None
    prefix = destination.prefix(settings.guard_prefix_digits)
    standing = uow.guard.standing(prefix, window_start(settings, now),
                                  settled_start(settings, now))
    if standing.blocked_until is not None and standing.blocked_until > now:
        return Refusal("pumping", REFUSED + f"numbers starting {prefix} are refused for a "
                                            "while: too many codes sent to them were "
                                            "never used")
    start, expires = _bucket(settings, now)
    uow.guard.count(prefix, start, expires, sms=1)
    # The SMS judged: with no settle time, every one of the window and this one.
    sms = standing.settled_sms if settings.guard_settle else standing.sms + 1
    verified = standing.verified
    if sms >= settings.guard_min_sms and verified < settings.guard_min_conversion * sms:
        until = now + timedelta(seconds=settings.guard_cooldown)
        uow.guard.block(prefix, reason="pumping", blocked_at=now, blocked_until=until,
                        sms=sms, verified=verified,
                        expires_at=until + timedelta(seconds=BLOCK_HISTORY_SECONDS))
        metrics.guard_blocked(destination.region)
        settled = f" at least {settings.guard_settle} s old" if settings.guard_settle else ""
        log.warning("guard: prefix %s blocked until %s: %d code SMS%s and %d verified in "
                    "the last %d s (below %.0f%%)", prefix, f"{until:%Y-%m-%d %H:%M:%S}Z",
                    sms, settled, verified, settings.guard_window,
                    settings.guard_min_conversion * 100)
    return None


def count_verified(uow: UnitOfWork, settings, now: datetime, msisdn: str) -> None:
    """Count a completed verification of ``msisdn`` for its prefix."""
    if not enabled(settings):
        return
    prefix = Destination.of(msisdn).prefix(settings.guard_prefix_digits)
    start, expires = _bucket(settings, now)
    uow.guard.count(prefix, start, expires, verified=1)


def is_blocked(uow: UnitOfWork, settings, now: datetime, destination: Destination) -> bool:
    """Whether the destination's prefix is blocked now (reads only)."""
    if not enabled(settings):
        return False
    prefix = destination.prefix(settings.guard_prefix_digits)
    until = uow.guard.standing(prefix, now, now).blocked_until
    return until is not None and until > now

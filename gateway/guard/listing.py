"""What ``msisdn-gateway guard`` shows and does: the prefixes with their figures in the
current window and their blocks; clearing a block."""
from __future__ import annotations

import re

from gateway.deps import Deps
from gateway.guard import pumping

COLUMNS = [("prefix", "PREFIX"), ("sms", "SMS"), ("judged", "JUDGED"), ("verified", "VERIFIED"),
           ("conversion", "CONVERSION"), ("status", "STATUS"), ("blocked_until", "UNTIL"),
           ("blocked_figures", "WHEN BLOCKED")]
PREFIX = re.compile(r"\+?[1-9][0-9]{0,15}")


def normalise_prefix(text: str) -> str:
    """"+33612" from "+33612", "33612" or "+33 612"; raises ValueError."""
    compact = re.sub(r"[\s.-]", "", text)
    if not PREFIX.fullmatch(compact):
        raise ValueError(f"{text!r} is not a prefix such as +33612")
    return "+" + compact.lstrip("+")


def prefix_rows(deps: Deps) -> list[dict]:
    """Every prefix with code SMS or verifications in the window, or a block that ended
    less than a day ago; status ``blocked`` (refused now), ``block ended`` or ``ok``.

    ``judged`` is the SMS the guard weighs now (those at least ``guard_settle`` seconds
    old: gateway.guard.pumping), and ``conversion`` the window's verifications over them,
    as the guard compares them to ``guard_min_conversion`` (at most 100 %)."""
    settings, now = deps.settings, deps.now()
    settled = pumping.settled_start(settings, now) if settings.guard_settle else None
    with deps.uow(read_only=True) as uow:
        rows = uow.guard.overview(pumping.window_start(settings, now), now, settled)
    return [{"prefix": row.prefix, "sms": row.sms, "judged": row.settled_sms,
             "verified": row.verified,
             "conversion": (f"{min(row.verified, row.settled_sms) / row.settled_sms:.0%}"
                            if row.settled_sms else None),
             "status": _status(row, now), "reason": row.reason,
             "blocked_at": row.blocked_at, "blocked_until": row.blocked_until,
             "blocked_figures": (f"{row.sms_when_blocked} SMS, {row.verified_when_blocked} "
                                 "verified") if row.blocked_at else None,
             "window_seconds": settings.guard_window} for row in rows]


def clear(deps: Deps, prefix: str) -> bool:
    """End the prefix's block and forget its figures; whether it had a block. Raises
    ValueError for what is not a prefix."""
    prefix = normalise_prefix(prefix)
    with deps.uow() as uow:
        had_block = uow.guard.clear(prefix)
        uow.commit()
    return had_block


def _status(row, now) -> str:
    if row.blocked_until is None:
        return "ok"
    return "blocked" if row.blocked_until > now else "block ended"

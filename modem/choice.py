"""Which modem sends a message: an idle one first, then the destination's home network.

Ranks (lower is better): 0, the modem's SIM is of the destination's network (MCC+MNC);
1, of its country (MCC); 2, the modem's own number is of the destination's ISO region;
3, any other. Among the suitable modems (ready, registered, under their limits) the
order is :func:`preference`: fewest sends in progress first (a modem busy with a send is
not chosen while an idle one exists: the modems' speeds add up, which the capacity estimate
behind 201/503 assumes), then rank, then fewest parts sent today.
Pure functions over :class:`modem.identity.Identity`; safe from any thread; an unparsable
number never raises (it ranks as "any other").
"""
from __future__ import annotations

from modem.identity import Identity
from modem.numbers import region_of

ANY = 3


def rank(identity: Identity, mcc: str | None, mnc: str | None, region: str | None) -> int:
    """How well a modem with ``identity`` suits a destination on ``mcc``/``mnc``/``region``."""
    home = identity.home_network or ""
    if mcc and mnc and home == f"{mcc}{mnc}":
        return 0
    if mcc and home.startswith(mcc):
        return 1
    number = identity.own_number
    if region and number and region_of(number) == region.upper():
        return 2
    return ANY


def preference(identity: Identity, mcc: str | None, mnc: str | None, region: str | None, *,
               sending: int, sent_today: int) -> tuple[int, int, int]:
    """The sort key of a suitable modem (lowest first): ``sending`` (sends in progress on
    it), then :func:`rank`, then ``sent_today`` (parts)."""
    return sending, rank(identity, mcc, mnc, region), sent_today

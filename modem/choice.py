"""Which modem sends a message: same home network as the destination first.

Ranks (lower is better): 0, the modem's SIM is of the destination's network (MCC+MNC);
1, of its country (MCC); 2, the modem's own number is of the destination's ISO region;
3, any other. Pure functions over :class:`modem.identity.Identity`; safe from any thread;
an unparsable number never raises (it ranks as "any other").
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

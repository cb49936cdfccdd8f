"""discover: which verification methods this gateway offers for a device's network,
derived from the modems that the workers (every box's) report healthy, and from the
destination policy and pumping guard (gateway.guard): nothing is offered for a number
they would refuse."""
from __future__ import annotations

import time
from typing import Sequence

from gateway.guard import admission
from gateway.guard.policy import network_allowed
from gateway.verification.capacity import no_modem_error
from gateway.deps import Deps
from gateway.verification.mt import METHOD_MOMT, METHOD_MT

__all__ = ["discover", "network_allowed", "RecentStatuses"]


class RecentStatuses:
    """The fresh modem statuses of every box as this process last read them
    (``uow.modems.fresh``), kept at most ``SECONDS``: discover, the API's busiest read,
    then needs no database statement at all for most requests (a read transaction and the
    rows cost about 70 µs, a sixth of a discover). A change the workers published, or a
    status going stale, shows within that second. One per app (per API process)."""

    SECONDS = 1.0

    def __init__(self, monotonic=time.monotonic) -> None:
        self._monotonic = monotonic
        self._read_at: float | None = None
        self._rows: list = []

    def fresh(self, uow, now, ttl_seconds: int) -> list:
        """``uow.modems.fresh(now, ttl_seconds)``, read at most once every SECONDS."""
        moment = self._monotonic()
        if self._read_at is None or not 0 <= moment - self._read_at < self.SECONDS:
            self._rows = uow.modems.fresh(now, ttl_seconds)
            self._read_at = moment
        return self._rows


def _closest(modems: Sequence, mcc: str, mnc: str | None) -> list:
    """Modems on the device's network first (when it said which), then in its country,
    then the others; by name (then worker: every box's modems count) within each."""
    return sorted(modems, key=lambda m: (mnc is None or not (m.mcc == mcc and m.mnc == mnc),
                                         m.mcc != mcc, m.name, m.worker))


def _refused(uow, deps: Deps, statuses, msisdn: str | None, mcc: str, roaming: bool) -> bool:
    """Whether every code SMS to this device would be refused: its claimed number is,
    or (without one) it is at home in a country the policy does not serve."""
    if msisdn is not None:
        return admission.would_refuse(uow, deps, msisdn, statuses)
    return not roaming and admission.country_refused(deps, mcc, statuses)


def discover(deps: Deps, *, msisdn: str | None, mcc: str, mnc: str | None, roaming: bool,
             mt_verify_url: str, recent: RecentStatuses | None = None) -> dict:
    """The methods in preferred order with their details (the spec's response body).

    sms/mt when a healthy modem may send to the network (``mt_networks``); sms/momt when
    the device is not roaming and a modem with a known number is in its country (or any,
    without ``momt_same_country``). Neither when the destination policy or the pumping
    guard would refuse the claimed MSISDN, or, without one, every number of the country
    of a device at home. A claimed MSISDN puts sms/mt first. ``mnc`` may be None (clients
    of the reference may send only ``mcc``): modems are then ranked by country. Raises
    ServiceUnavailable (503/201) when no modem is healthy. Reads only; with ``recent``,
    the statuses may be up to RecentStatuses.SECONDS old.
    """
    settings = deps.settings
    with deps.uow(read_only=True) as uow:
        if recent is None:
            statuses = uow.modems.fresh(deps.now(), settings.modem_status_ttl)
        else:
            statuses = recent.fresh(uow, deps.now(), settings.modem_status_ttl)
        modems = _closest([status for status in statuses if status.healthy], mcc, mnc)
        refused = bool(modems) and _refused(uow, deps, statuses, msisdn, mcc, roaming)
    if not modems:
        raise no_modem_error()
    details = {}
    if refused:
        return {"verificationMethods": [], "verificationDetails": details}
    if network_allowed(settings.mt_networks, mcc, mnc):
        details[METHOD_MT] = {"mtSender": settings.mt_sender or modems[0].number or "",
                              "url": mt_verify_url}
    reachable = [m for m in modems if m.number and
                 (not settings.momt_same_country or m.mcc == mcc)]
    if reachable and not roaming:
        modem = reachable[0]
        details[METHOD_MOMT] = {"mtSender": settings.mt_sender or modem.number,
                                "moVerifier": settings.mo_verifier or modem.number}
    order = [METHOD_MT, METHOD_MOMT] if msisdn else [METHOD_MOMT, METHOD_MT]
    return {"verificationMethods": [m for m in order if m in details],
            "verificationDetails": details}

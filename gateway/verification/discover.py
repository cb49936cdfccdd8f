"""discover: which verification methods this gateway offers for a device's network,
derived from the configured modems that the worker reports healthy."""
from __future__ import annotations

from typing import Sequence

from gateway.verification.capacity import healthy_modems, no_modem_error
from gateway.deps import Deps
from gateway.verification.mt import METHOD_MOMT, METHOD_MT


def network_allowed(patterns: tuple[str, ...], mcc: str, mnc: str | None) -> bool:
    """Whether MCC/MNC matches one of ``patterns`` ("MCC" or "MCCMNC"); empty allows all.
    Without ``mnc`` (a device that does not report its network) only a pattern naming
    the whole country matches: the network might be any of the country's."""
    return not patterns or any(p == mcc or (mnc is not None and p == mcc + mnc)
                               for p in patterns)


def _closest(modems: Sequence, mcc: str, mnc: str | None) -> list:
    """Modems on the device's network first (when it said which), then in its country,
    then the others; by name within each."""
    return sorted(modems, key=lambda m: (mnc is None or not (m.mcc == mcc and m.mnc == mnc),
                                         m.mcc != mcc, m.name))


def discover(deps: Deps, *, msisdn: str | None, mcc: str, mnc: str | None, roaming: bool,
             mt_verify_url: str) -> dict:
    """The methods in preferred order with their details (the spec's response body).

    sms/mt when a healthy modem may send to the network (``mt_networks``); sms/momt when
    the device is not roaming and a modem with a known number is in its country (or any,
    without ``momt_same_country``). A claimed MSISDN puts sms/mt first. ``mnc`` may be
    None (clients of the reference may send only ``mcc``): modems are then ranked by
    country. Raises ServiceUnavailable (503/201) when no modem is healthy. Reads only.
    """
    settings = deps.settings
    with deps.uow(read_only=True) as uow:
        modems = _closest(healthy_modems(uow, deps), mcc, mnc)
    if not modems:
        raise no_modem_error()
    details = {}
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

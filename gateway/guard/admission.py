"""What the use cases call: admit a code SMS (destination policy, then pumping block and
count), count a completed verification, and tell discover what would be refused.

``admit_code_sms`` runs in the unit of work that queues the SMS
(gateway.verification.mt.issue_code, the one place every code SMS goes through), so a
refusal there rolls back whatever the request did, and the counts commit with the SMS.
"""
from __future__ import annotations

import logging
from typing import Iterable

import phonenumbers

from gateway import metrics
from gateway.deps import Deps
from gateway.errors import InvalidParameter, ServiceUnavailable
from gateway.guard import policy, pumping
from gateway.guard.networks import countries_of_mcc
from gateway.guard.policy import Destination, Refusal
from gateway.storage.uow import UnitOfWork
from modem.numbers import mask_number

log = logging.getLogger(__name__)

# While no modem has told its country (none published a number or home network yet).
COUNTRIES_UNKNOWN_RETRY_SECONDS = 30


class DestinationRefused(InvalidParameter):
    """400/107: the destination policy or the pumping guard refuses this number;
    ``reason`` is the Refusal's (metrics, tests)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.reason = refusal.reason


def admit_code_sms(uow: UnitOfWork, deps: Deps, msisdn: str, *, mcc: str | None = None,
                   mnc: str | None = None) -> None:
    """Check the policy and the prefix's block for a code SMS to ``msisdn`` (E.164), and
    count it for pumping detection, in ``uow``. ``mcc``/``mnc``: the device's network,
    when the request gave it. Raises DestinationRefused (400/107), or ServiceUnavailable
    (503/201) while the default country policy has no modem country to go by."""
    settings = deps.settings
    destination = _destination(msisdn)
    found = policy.refusal(settings, destination, _countries(uow, deps), mcc=mcc, mnc=mnc)
    if found is None:
        found = pumping.admit_and_count(uow, settings, deps.now(), destination)
    if found is None:
        return
    if found.reason == "countries_unknown":
        log.warning("code SMS to %s held: no modem has told its country yet (set "
                    "destination_countries to send anyway)", mask_number(msisdn))
        raise ServiceUnavailable(found.message, retry_after=COUNTRIES_UNKNOWN_RETRY_SECONDS)
    metrics.destination_refused(found.reason)
    log.info("code SMS to %s refused (%s)", mask_number(msisdn), found.reason)
    raise DestinationRefused(found)


def count_verified(uow: UnitOfWork, deps: Deps, msisdn: str) -> None:
    """A verification of ``msisdn`` completed, in ``uow``: count it for its prefix."""
    pumping.count_verified(uow, deps.settings, deps.now(), msisdn)


def would_refuse(uow: UnitOfWork, deps: Deps, msisdn: str, statuses: Iterable) -> bool:
    """Whether a code SMS to ``msisdn`` would be refused now (for discover; reads only).
    ``statuses``: the fresh modem statuses the caller read. Unknown modem countries do
    not count as a refusal."""
    settings = deps.settings
    destination = _destination(msisdn)
    found = policy.refusal(settings, destination, policy.allowed_countries(settings, statuses))
    if found is not None:
        return found.reason != "countries_unknown"
    return pumping.is_blocked(uow, settings, deps.now(), destination)


def country_refused(deps: Deps, mcc: str, statuses: Iterable) -> bool:
    """Whether every number of the country of network ``mcc`` would be refused (for
    discover, when a device at home gave no number): no country of the MCC is served."""
    countries = policy.allowed_countries(deps.settings, statuses)
    regions = countries_of_mcc(mcc)
    return bool(regions) and not any(policy.country_may_be_served(deps.settings, region,
                                                                  countries)
                                     for region in regions)


def _countries(uow: UnitOfWork, deps: Deps) -> frozenset[str] | None:
    settings = deps.settings
    if settings.destination_countries:
        return policy.allowed_countries(settings)
    return policy.allowed_countries(settings, uow.modems.fresh(deps.now(),
                                                               settings.modem_status_ttl))


def _destination(msisdn: str) -> Destination:
    try:
        return Destination.of(msisdn)
    except phonenumbers.NumberParseException:  # callers pass parsed E.164: not expected
        raise InvalidParameter("the destination is not a phone number in E.164 "
                               "format") from None

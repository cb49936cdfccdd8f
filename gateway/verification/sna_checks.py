"""What a silent-authentication request must pass (gateway.verification.sna): the seed's
phone number, the network it names, and the budgets of initiations and of calls about one
request. Each raises the seed's error (gateway.verification.sna_errors)."""
from __future__ import annotations

import re

from gateway.errors import InvalidParameter
from gateway.guard import admission, policy
from gateway.guard.networks import countries_of_mcc
from gateway.verification import ratelimit
from gateway.verification.msisdn import parse_msisdn
from gateway.verification.sna_errors import (
    InvalidPhone, MccMncMismatch, MccMncUnsupported, NetworkUnsupported, TooManyApplication,
    TooManyAuthentication, TooManyIdentity, TooManyIp, TooManyOverall)
from modem.numbers import region_of

PHONE = re.compile(r"[1-9][0-9]{6,14}")


def is_token(value: object, limit: int = 100) -> bool:
    """Whether ``value`` can be a token, code or request id of ours: a string of 1 to
    ``limit`` printable ASCII characters (ours all are). Anything else is unknown without
    a look at the database, where a NUL would be an error on PostgreSQL."""
    return (isinstance(value, str) and 0 < len(value) <= limit and value.isascii()
            and value.isprintable())


def parse_phone(value: object) -> str:
    """E.164 of the seed's ``phoneNumber`` (country code and number, digits only)."""
    if not isinstance(value, str) or not PHONE.fullmatch(value):
        raise InvalidPhone("phoneNumber must be the country code and number, digits only")
    try:
        return parse_msisdn("+" + value, field="phoneNumber")
    except InvalidParameter as exc:
        raise InvalidPhone(exc.message) from None


def check_network(uow, deps, msisdn: str, mcc: object,
                  mnc: object) -> tuple[str | None, str | None]:
    """The (mcc, mnc) given, checked: both or neither, a network the gateway serves, in the
    number's country; and the number's country served. Raises 7125, 7126, 7127."""
    if (mcc is None) != (mnc is None):
        raise MccMncUnsupported("give both mcc and mnc, or neither")
    statuses = uow.modems.fresh(deps.now(), deps.settings.modem_status_ttl)
    if admission.would_refuse(uow, deps, msisdn, statuses):
        raise NetworkUnsupported()
    if mcc is None:
        return None, None
    if not (isinstance(mcc, str) and re.fullmatch(r"[0-9]{3}", mcc) and isinstance(mnc, str)
            and re.fullmatch(r"[0-9]{2,3}", mnc)) or not countries_of_mcc(mcc):
        raise MccMncUnsupported("mcc must be 3 digits and mnc 2 or 3, of a known network")
    if not policy.network_allowed(deps.settings.mt_networks, mcc, mnc):
        raise MccMncUnsupported()
    if region_of(msisdn) not in countries_of_mcc(mcc):
        raise MccMncMismatch()
    return mcc, mnc


def limit_initiation(uow, deps, client_id: str, msisdn: str, address: str | None) -> None:
    """Count one initiation against the budgets of its address, application, number and
    the box; 7022, 7023, 7021, 7024 beyond them."""
    settings, now = deps.settings, deps.now()
    if address is not None:
        ratelimit.enforce(uow, now, settings.rate_limit_sna_ip, "sna-ip", address, TooManyIp)
    ratelimit.enforce(uow, now, settings.rate_limit_sna_application, "sna-app", client_id,
                      TooManyApplication)
    ratelimit.enforce(uow, now, settings.rate_limit_sna_identity, "sna-identity",
                      deps.secret.digest("msisdn", msisdn), TooManyIdentity)
    ratelimit.enforce(uow, now, settings.rate_limit_sna_total, "sna-total", "box",
                      TooManyOverall)


def limit_authentication(uow, deps, request_id: str) -> None:
    """Count one call about ``request_id`` (status, verify); 7020 beyond the limit."""
    ratelimit.enforce(uow, deps.now(), deps.settings.rate_limit_sna_authentication,
                      "sna-auth", deps.secret.digest("sna-request", request_id)[:40],
                      TooManyAuthentication)

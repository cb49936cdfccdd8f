"""The destination policy: which numbers a code SMS may go to (issue 10).

Checked in this order, the first that decides wins:

1. ``destination_deny_prefixes``: a number starting with one is refused (``denied_prefix``);
2. ``destination_allow_prefixes``: a number starting with one is allowed, whatever its
   country and type (pumping detection still applies);
3. non-geographic numbers (phonenumbers region "001": Iridium/Inmarsat +881/+870,
   international premium +979, +800, +882/+883) are refused (``non_geographic``): only an
   allow prefix admits them;
4. the country (ISO 3166 region of the number) must be allowed (``country``):
   ``destination_countries``, or by default the countries of the modems' SIMs
   (:func:`modem_countries`); "*" allows any;
5. the number type (phonenumbers.number_type) must be in ``destination_types``
   (``number_type``); "mobile" also admits "fixed_line_or_mobile", the type of countries
   whose numbering does not tell them apart (the US, Canada, China's ...).

And for sms/mt/verify, which carries the device's network: ``mt_networks`` (``network``).

Pure functions over settings and values: no storage, no clock. The messages say why and
never hold the number (at most its country code).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import phonenumbers
from phonenumbers import PhoneNumberType

from gateway.guard.networks import countries_of_mcc
from modem.numbers import region_of

ANY_COUNTRY = "*"
NON_GEOGRAPHIC = "001"  # phonenumbers' region of the international service codes
# How a number type reads in messages; the settings use the lower-case enum names.
TYPE_NAMES = {value: name.lower() for name, value in vars(PhoneNumberType).items()
              if name.isupper()}
TYPE_LABELS = {"fixed_line": "fixed-line", "fixed_line_or_mobile": "fixed-line or mobile",
               "toll_free": "toll-free", "premium_rate": "premium-rate",
               "shared_cost": "shared-cost", "voip": "VoIP", "personal_number": "personal",
               "uan": "UAN (universal access)", "unknown": "unclassified"}
MAX_COUNTRIES_SHOWN = 12
REFUSED = "destination refused: "


@dataclass(frozen=True)
class Destination:
    """A valid E.164 number, parsed once for the policy and the guard."""

    msisdn: str
    country_code: int
    national: str  # national significant number
    region: str | None  # ISO 3166, "001" for non-geographic, None if unknown
    kind: str  # a TYPE_NAMES value

    @classmethod
    def of(cls, msisdn: str) -> Destination:
        """Raises phonenumbers.NumberParseException for what is not a number."""
        number = phonenumbers.parse(msisdn, None)
        return cls(msisdn, number.country_code,
                   phonenumbers.national_significant_number(number),
                   phonenumbers.region_code_for_number(number),
                   TYPE_NAMES.get(phonenumbers.number_type(number), "unknown"))

    def prefix(self, national_digits: int) -> str:
        """"+", the country code and the first ``national_digits`` of the number."""
        return f"+{self.country_code}{self.national[:national_digits]}"


@dataclass(frozen=True)
class Refusal:
    """Why a destination is refused: a reason for metrics and a message for the client."""

    reason: str  # denied_prefix, non_geographic, country, number_type, network, pumping,
    #              or countries_unknown (nothing tells the modems' countries yet)
    message: str


def network_allowed(patterns: tuple[str, ...], mcc: str, mnc: str | None) -> bool:
    """Whether MCC/MNC matches one of ``patterns`` ("MCC" or "MCCMNC"); empty allows all.
    Without ``mnc`` (a device that does not report its network) only a pattern naming
    the whole country matches: the network might be any of the country's."""
    return not patterns or any(p == mcc or (mnc is not None and p == mcc + mnc)
                               for p in patterns)


def modem_countries(settings, statuses: Iterable) -> frozenset[str]:
    """The countries of the modems' SIMs: the region of each modem's number and the
    country of its home network (MCC), from ``statuses`` (modem_status rows) and the
    configured ``modems``' ``own_number``; under ``--simulate`` also the country of
    ``simulated_network``."""
    countries: set[str] = set()
    for status in statuses:
        if status.region:
            countries.add(status.region.upper())
        countries.update(countries_of_mcc(status.mcc))
    for config in settings.modems:
        region = region_of(config.own_number) if config.own_number else None
        if region:
            countries.add(region)
    if settings.simulate:
        countries.update(countries_of_mcc(settings.simulated_network[:3]))
    countries.discard(NON_GEOGRAPHIC)
    return frozenset(countries)


def allowed_countries(settings, statuses: Iterable = ()) -> frozenset[str] | None:
    """The countries codes may go to: None for any, else a set (empty when nothing
    tells the modems' countries yet). ``statuses`` is read only for the default."""
    configured = settings.destination_countries
    if not configured:
        return modem_countries(settings, statuses)
    if ANY_COUNTRY in configured:
        return None
    return frozenset(code.upper() for code in configured)


def allowed_types(settings) -> frozenset[str]:
    types = set(settings.destination_types)
    if "mobile" in types:
        types.add("fixed_line_or_mobile")
    return frozenset(types)


def refusal(settings, destination: Destination, countries: frozenset[str] | None, *,
            mcc: str | None = None, mnc: str | None = None) -> Refusal | None:
    """Why the policy refuses ``destination`` (None: it may be sent to); ``countries``
    as :func:`allowed_countries` gives them; ``mcc``/``mnc`` the device's network."""
    msisdn = destination.msisdn
    if any(msisdn.startswith(p) for p in settings.destination_deny_prefixes):
        return Refusal("denied_prefix", REFUSED + "numbers in this range are not served")
    if mcc is not None and not network_allowed(settings.mt_networks, mcc, mnc):
        network = mcc + (f"-{mnc}" if mnc else "")
        return Refusal("network", REFUSED + f"codes are not sent to devices on network "
                                            f"{network}")
    if any(msisdn.startswith(p) for p in settings.destination_allow_prefixes):
        return None
    code = f"+{destination.country_code}"
    if destination.region == NON_GEOGRAPHIC:
        return Refusal("non_geographic", REFUSED + f"{code} numbers (satellite or "
                                                   "international services) are not served")
    if countries is not None and destination.region not in countries:
        if not countries:
            return Refusal("countries_unknown", "the country of the gateway's modems is "
                                                "not known yet, please try again shortly")
        shown = ", ".join(sorted(countries)[:MAX_COUNTRIES_SHOWN])
        more = ", ..." if len(countries) > MAX_COUNTRIES_SHOWN else ""
        return Refusal("country", REFUSED + f"numbers of {destination.region or 'this country'}"
                                            f" ({code}) are not served; codes go to numbers "
                                            f"of {shown}{more}")
    types = allowed_types(settings)
    if destination.kind not in types:
        wanted = " and ".join(sorted(_label(kind) for kind in types  # mobile says it all
                                     if kind != "fixed_line_or_mobile" or "mobile" not in types))
        return Refusal("number_type", REFUSED + f"{_label(destination.kind)} numbers are not "
                                                f"served; codes go to {wanted} numbers")
    return None


def country_may_be_served(settings, region: str, countries: frozenset[str] | None) -> bool:
    """Whether some number of ``region`` may pass the policy (discover, for a device that
    gave no number): its country is allowed, or an allow prefix is in its country code."""
    if countries is None or not countries or region in countries:
        return True
    code = phonenumbers.country_code_for_region(region)
    return bool(code) and any(p.startswith(f"+{code}")
                              for p in settings.destination_allow_prefixes)


def _label(kind: str) -> str:
    return TYPE_LABELS.get(kind, kind.replace("_", " "))

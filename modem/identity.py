"""Who a modem is and how its network looks: reading identity and status over AT.

The readers take ``optional(command)``, which runs one AT command and gives its lines, or
None when the modem rejected it (an unsupported command is not an error here). They raise
only what ``optional`` raises (ModemTimeout, ModemGone) and run on the caller's thread.
:class:`Identity` and :class:`NetworkStatus` are frozen: safe to share between threads.
Signal is in dBm; storage counts are messages.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from modem.at import commands as at

#: Runs one AT command: its information lines, or None if the modem rejected it.
OptionalCommand = Callable[[str], "list[str] | None"]
#: The registration URCs, one per domain: circuit-switched and LTE.
DOMAINS = ("+CREG", "+CEREG")


@dataclasses.dataclass(frozen=True)
class Identity:
    """What a modem and its SIM say about themselves (``None`` when not available).

    ``home_network`` is the SIM's MCC+MNC (from ``AT+COPS`` when registered at home, else
    from the IMSI); ``own_number`` is the configured number or the SIM's ``AT+CNUM``.
    """

    manufacturer: str | None = None
    model: str | None = None
    revision: str | None = None
    imei: str | None = None
    imsi: str | None = None
    iccid: str | None = None
    home_network: str | None = None
    own_number: str | None = None
    smsc: str | None = None


@dataclasses.dataclass(frozen=True)
class NetworkStatus:
    """``registration``: home, roaming, searching, denied, not_registered or unknown;
    ``signal_dbm``: from ``AT+CSQ`` (None when unknown); ``operator``: serving MCC+MNC."""

    registration: str = "unknown"
    signal_dbm: int | None = None
    operator: str | None = None
    storage_used: int | None = None
    storage_total: int | None = None

    @property
    def registered(self) -> bool:
        return self.registration in ("home", "roaming")

    @property
    def storage_full(self) -> bool:
        return self.storage_total is not None and (self.storage_used or 0) >= self.storage_total


def read_identity(optional: OptionalCommand, own_number: str | None = None) -> Identity:
    """Read IMEI, IMSI, ICCID, make, model, revision, own number and SMSC.

    A configured ``own_number`` wins over (and saves) ``AT+CNUM``.
    """
    imsi = at.digits_value(optional(at.IMSI) or [], 6)
    return Identity(
        manufacturer=at.plain_value(optional(at.MANUFACTURER) or []),
        model=at.plain_value(optional(at.MODEL) or []),
        revision=at.plain_value(optional(at.REVISION) or []),
        imei=at.digits_value(optional(at.IMEI) or [], 14),
        imsi=imsi, iccid=_read_iccid(optional), home_network=at.network_from_imsi(imsi),
        own_number=own_number or at.own_number(optional(at.OWN_NUMBER) or []),
        smsc=at.smsc_number(optional(at.SMSC) or []),
    )


def _read_iccid(optional: OptionalCommand) -> str | None:
    for command in at.ICCID:  # no standard command: try each vendor's
        found = at.iccid_value(optional(command) or [])
        if found:
            return found
    return None


def read_domains(optional: OptionalCommand) -> dict[str, str | None]:
    """Registration per domain (``+CREG`` circuit, ``+CEREG`` LTE; None if not answered)."""
    return {"+CREG": at.registration_answer(optional(at.REGISTRATION_CS) or [], "+CREG:"),
            "+CEREG": at.registration_answer(optional(at.REGISTRATION_EPS) or [], "+CEREG:")}


def read_status(optional: OptionalCommand, domains: dict[str, str | None]) -> NetworkStatus:
    """Operator (COPS, numeric), storage (CPMS) and signal (CSQ); registration from ``domains``."""
    optional(at.OPERATOR_FORMAT_NUMERIC)
    operator = at.operator_numeric(optional(at.OPERATOR) or [])
    usage = at.storage_usage(optional(at.STORAGE_STATUS) or [])
    return NetworkStatus(
        registration=combined(domains), signal_dbm=at.signal_dbm(optional(at.SIGNAL) or []),
        operator=operator, storage_used=usage[0] if usage else None,
        storage_total=usage[1] if usage else None)


def combined(domains: dict[str, str | None]) -> str:
    """One registration state from both domains: an LTE-only modem may be on one only."""
    return at.combined_registration(domains["+CREG"], domains["+CEREG"])


def confirmed_home(identity: Identity, status: NetworkStatus) -> Identity:
    """``identity`` with the serving operator as home network when registered at home on
    the network its IMSI starts with (COPS knows 2- from 3-digit MNCs; the IMSI does not)."""
    operator, imsi = status.operator, identity.imsi or ""
    if operator and status.registration == "home" and imsi.startswith(operator):
        return dataclasses.replace(identity, home_network=operator)
    return identity

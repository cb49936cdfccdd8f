"""Phone numbers and network codes from API requests: parsing and normalising (the
region and the masked form for logs are :mod:`modem.numbers`')."""
from __future__ import annotations

import re

import phonenumbers

from gateway.errors import InvalidParameter

MCC_PATTERN = re.compile(r"^[0-9]{3}$")
MNC_PATTERN = re.compile(r"^[0-9]{2,3}$")
MAX_MSISDN_LENGTH = 32


def parse_msisdn(raw: str, field: str = "msisdn") -> str:
    """Normalise a claimed number to E.164; raises InvalidParameter.

    Only numbers in international form (``+`` and country code) are accepted, as the API
    asks for E.164; spaces, dashes and dots are tolerated and removed.
    """
    if not isinstance(raw, str) or not raw.strip().startswith("+") or len(raw) > MAX_MSISDN_LENGTH:
        raise InvalidParameter(f"{field} must be a phone number in E.164 format, e.g. +442071838750")
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        raise InvalidParameter(f"{field} is not a phone number in E.164 format") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidParameter(f"{field} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def validate_mcc(value: object, field: str = "mcc") -> str:
    if not isinstance(value, str) or not MCC_PATTERN.match(value):
        raise InvalidParameter(f"{field} must be a string of 3 digits")
    return value


def validate_mnc(value: object, field: str = "mnc") -> str:
    if not isinstance(value, str) or not MNC_PATTERN.match(value):
        raise InvalidParameter(f"{field} must be a string of 2 or 3 digits")
    return value

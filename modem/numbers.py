"""Phone numbers as the modem side needs them, shared with the gateway (which imports
``modem``): the ISO region of a number, the digits tail that lets national and
international forms of one number compare equal, and a number masked for logs.

Pure functions, safe from any thread; an unparsable number never raises here.
"""
from __future__ import annotations

import phonenumbers

#: How many trailing digits identify a number across its national and international forms.
TAIL_DIGITS = 8


def region_of(number: str) -> str | None:
    """The ISO 3166 region (``"FR"``) of an E.164 number, or None if it cannot be told."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return None


def digits_tail(number: str) -> str:
    """The last TAIL_DIGITS digits: ``+33612345678`` and ``0612345678`` give the same."""
    return "".join(ch for ch in number if ch.isdigit())[-TAIL_DIGITS:]


def mask_number(number: str) -> str:
    """A number as it may appear in logs: country code and last two digits only."""
    if len(number) <= 5:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 5) + number[-2:]

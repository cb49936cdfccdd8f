"""Registration notices and answers (``+CREG``, ``+CGREG``, ``+CEREG``; 3GPP TS 27.007 7.2,
10.1.20, 10.1.22) in every form modems send, told apart by their fields.

The standard has two forms: the answer to ``AT+CREG?`` puts the mode first,
``+CREG: <n>,<stat>[,<lac>,<ci>[,<AcT>...]]``; the unsolicited notice does not,
``+CREG: <stat>[,<lac>,<ci>[,<AcT>...]]``. Some modems put ``<n>`` first in their notices
too (``+CREG: 2,5,"0502","0404736D"``: roaming; ``+CREG: 2,1,000B,2816, B, C2816``: home),
and a notice can slip into an answer. So the form is read from the fields, not assumed:

- one field is ``<stat>``;
- a location area or cell (``<lac>``, ``<tac>``, ``<ci>``) is quoted, empty, or hex of at
  least four digits (or with a hex letter), where ``<n>`` and ``<stat>`` are unquoted
  decimals of at most three digits (``001`` too) and at most 11;
- so when the second field is a location, ``<stat>`` comes first; when it is a small decimal
  and the first is a valid ``<n>``, ``<n>`` comes first (two fields are always ``<n>,<stat>``:
  no standard notice has a location area without its cell);
- when nothing tells (every field a small decimal), the answer is taken as ``<n>`` first
  and the notice as ``<stat>`` first, as the standard has them.

Pure functions over the text after the prefix; nothing raises.
"""
from __future__ import annotations

import re

#: <stat> -> state: 6/7 are "SMS only" (E-UTRAN), 9/10 "CSFB not preferred"; 8 is
#: emergency only, 11 access to RLOS only: neither carries SMS.
REGISTRATION_STATES = {
    0: "not_registered", 1: "home", 2: "searching", 3: "denied", 4: "unknown", 5: "roaming",
    6: "home", 7: "roaming", 8: "denied", 9: "home", 10: "roaming", 11: "denied",
}
_MAX_MODE = {"+CREG": 3, "+CGREG": 3, "+CEREG": 5}  # <n> 3 adds the reject cause (5 on LTE)
_SMALL_DECIMAL = re.compile(r"^[0-9]{1,3}$")
_COMMA_OUTSIDE_QUOTES = re.compile(r',(?=(?:[^"]*"[^"]*")*[^"]*$)')
_LOCATION = re.compile(r"^(?:[0-9A-Fa-f]{4,8}|[0-9A-Fa-f]*[A-Fa-f][0-9A-Fa-f]*)$")


def _fields(text: str) -> list[tuple[str, bool]]:
    """(value without quotes and blanks, was quoted) for each comma-separated field."""
    if not text.strip():
        return []
    fields = [raw.strip() for raw in _COMMA_OUTSIDE_QUOTES.split(text.strip())]
    return [(raw.strip('"').strip(), raw.startswith('"')) for raw in fields]


def _small_decimal(field: tuple[str, bool], maximum: int) -> int | None:
    value, quoted = field
    if quoted or not _SMALL_DECIMAL.match(value) or int(value) > maximum:
        return None
    return int(value)


def _location(field: tuple[str, bool]) -> bool:
    value, quoted = field
    return quoted or value == "" or bool(_LOCATION.match(value.replace(" ", "")))


def registration_stat(name: str, text: str, solicited: bool) -> int | None:
    """The ``<stat>`` of a ``name`` (``+CREG``, ``+CGREG``, ``+CEREG``) line whose text after
    the prefix is ``text``: an answer to the read command (``solicited``) or a notice.
    None when the fields make no sense."""
    fields = _fields(text)
    if not fields:
        return None
    if len(fields) == 1:
        return _small_decimal(fields[0], max(REGISTRATION_STATES))
    stat_first = _location(fields[1])
    mode_first = (not stat_first and _small_decimal(fields[0], _MAX_MODE.get(name, 3)) is not None
                  and _small_decimal(fields[1], max(REGISTRATION_STATES)) is not None)
    if mode_first and not solicited and len(fields) >= 4 and not _location(fields[3]):
        mode_first = False  # <stat>,<lac>,<ci>,<AcT> with short unquoted values: the standard
    if mode_first or (solicited and not stat_first):
        return _small_decimal(fields[1], max(REGISTRATION_STATES))
    return _small_decimal(fields[0], max(REGISTRATION_STATES))


def registration_state(stat: int | None) -> str:
    """home, roaming, searching, denied, not_registered or unknown for a ``<stat>``."""
    return REGISTRATION_STATES.get(stat, "unknown") if stat is not None else "unknown"

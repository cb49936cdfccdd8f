"""Recognising what a modem writes: final result codes and unsolicited result codes.

Pure functions and frozen values over decoded lines (``str`` without line terminators):
no I/O, no state, safe from any thread. References: 3GPP TS 27.007 (result codes, +CME
ERROR) and TS 27.005 (+CMS ERROR, SMS indications), plus the vendor notices we meet.
"""
from __future__ import annotations

import dataclasses

# ------------------------------------------------------------------ error codes
CME_SIM_NOT_INSERTED = 10
CME_SIM_PIN_REQUIRED = 11
CME_SIM_PUK_REQUIRED = 12
CME_SIM_BUSY = 14
CME_INCORRECT_PASSWORD = 16
CME_BUSY_515 = 515  # "please wait, init or command processing in progress" (SIMCom, Quectel)
CMS_SIM_BUSY = 314
CMS_MEMORY_FULL = 322
CMS_SMSC_UNKNOWN = 330
#: (kind, code) pairs that mean "busy, ask again shortly".
BUSY_CODES = frozenset({("CME", CME_SIM_BUSY), ("CME", CME_BUSY_515), ("CMS", CMS_SIM_BUSY)})


# ------------------------------------------------------------------ final result codes
@dataclasses.dataclass(frozen=True)
class Final:
    """A final result code. ``kind``: OK, ERROR, CME, CMS or NOT_SUPPORTED."""

    kind: str
    code: int | None = None
    text: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == "OK"

    @property
    def busy(self) -> bool:
        return (self.kind, self.code) in BUSY_CODES


_ERROR_PREFIXES = {"+CME ERROR:": "CME", "+CMS ERROR:": "CMS"}


def parse_final(line: str) -> Final | None:
    """The final result code on ``line``, or ``None`` for any other line."""
    text = line.strip()
    if text == "OK":
        return Final("OK")
    if text == "ERROR":
        return Final("ERROR")
    if text == "COMMAND NOT SUPPORT":
        return Final("NOT_SUPPORTED")
    for prefix, kind in _ERROR_PREFIXES.items():
        if text.startswith(prefix):
            detail = text[len(prefix):].strip()
            # isdecimal, not isdigit: "²" is a digit that int() refuses
            return Final(kind, int(detail), "") if detail.isdecimal() else Final(kind, None, detail)
    return None


# ------------------------------------------------------------------ unsolicited result codes
@dataclasses.dataclass(frozen=True)
class Urc:
    """An unsolicited result code: ``name`` (``"+CMTI"``), the raw ``line``, the text after
    the prefix in ``args``, and for ``+CMT``/``+CDS``/``+CBM`` the ``pdu`` line that followed."""

    name: str
    line: str
    args: str
    pdu: str | None = None


@dataclasses.dataclass(frozen=True)
class UrcKind:
    """An unsolicited line: its prefix, whether a PDU line follows, and the command whose
    own response starts with the same prefix (so such lines are URCs only outside it)."""

    prefix: str
    has_pdu: bool = False
    answers: str = ""

    def urc(self, line: str) -> Urc:
        """The URC that ``line`` (which starts with this prefix) stands for."""
        return Urc(self.prefix.rstrip(":"), line, line[len(self.prefix):].strip())


URC_KINDS = (
    UrcKind("+CMTI:"), UrcKind("+CMT:", has_pdu=True), UrcKind("+CDSI:"),
    UrcKind("+CDS:", has_pdu=True), UrcKind("+CBM:", has_pdu=True),
    UrcKind("+CREG:", answers="AT+CREG"), UrcKind("+CEREG:", answers="AT+CEREG"),
    UrcKind("+CGREG:", answers="AT+CGREG"), UrcKind("+CPIN:", answers="AT+CPIN"),
    UrcKind("+CFUN:", answers="AT+CFUN"), UrcKind("^HCSQ:", answers="AT^HCSQ"),
    UrcKind("^RSSI:"), UrcKind("^BOOT:"), UrcKind("^MODE:"), UrcKind("^SRVST:"),
    UrcKind("^SIMST:"), UrcKind("^SYSSTART"), UrcKind("^SMMEMFULL"), UrcKind("^CEND:"),
    UrcKind("+CIEV:"), UrcKind("+QIND:"), UrcKind("+CUSD:"), UrcKind("+CLIP:"),
    UrcKind("+CRING:"), UrcKind("RING"), UrcKind("UNDER-VOLTAGE"), UrcKind("OVER-VOLTAGE"),
    UrcKind("NORMAL POWER DOWN"), UrcKind("POWERED DOWN"), UrcKind("RDY"),
    UrcKind("Call Ready"), UrcKind("SMS Ready"), UrcKind("PB DONE"),
)


#: URC names that warn of a power problem or announce a power-down (logged and kept in health).
POWER_NOTICES = frozenset({"UNDER-VOLTAGE", "OVER-VOLTAGE", "NORMAL POWER DOWN", "POWERED DOWN"})


def urc_kind(line: str, command: str | None) -> UrcKind | None:
    """The URC kind of ``line`` given the command in flight (``None`` if none), else ``None``."""
    for kind in URC_KINDS:
        if line.startswith(kind.prefix):
            if command and kind.answers and command.upper().startswith(kind.answers):
                return None
            return kind
    return None

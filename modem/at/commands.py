"""AT command strings and the parsers of their answers.

Pure functions over decoded lines (``str`` without line terminators); no I/O, no state, safe
from any thread; a malformed answer gives ``None``, never an exception. Final and unsolicited
result codes are recognised in :mod:`modem.at.results`.
References: 3GPP TS 27.005 (SMS commands) and TS 27.007 (general commands).
"""
from __future__ import annotations

import re

from modem.at.registration import registration_stat, registration_state

# ------------------------------------------------------------------ commands
ATTENTION = "AT"
ECHO_OFF = "ATE0"
NUMERIC_ERRORS = "AT+CMEE=1"
PIN_STATUS = "AT+CPIN?"
PIN_ENTER = 'AT+CPIN="{pin}"'
PDU_MODE = "AT+CMGF=0"
STORAGE_SELECT = 'AT+CPMS="{mem}","{mem}","{mem}"'
STORAGE_STATUS = "AT+CPMS?"
#: AT+CSMS, AT+CNMI and AT+CNMA (what arrives, and its acknowledgement): modem.routing.
REGISTRATION_URCS = ("AT+CREG=1", "AT+CEREG=1")
MANUFACTURER = "AT+CGMI"
MODEL = "AT+CGMM"
REVISION = "AT+CGMR"
IMEI = "AT+CGSN"
IMSI = "AT+CIMI"
#: ICCID has no standard command: SIMCom/generic, Quectel, Huawei, others.
ICCID = ("AT+CCID", "AT+QCCID", "AT^ICCID?", "AT+ICCID")
OPERATOR_FORMAT_NUMERIC = "AT+COPS=3,2"
OPERATOR = "AT+COPS?"
OWN_NUMBER = "AT+CNUM"
SIGNAL = "AT+CSQ"
REGISTRATION_CS = "AT+CREG?"
REGISTRATION_EPS = "AT+CEREG?"
SMSC = "AT+CSCA?"
SUBMIT = "AT+CMGS={length}"
READ = "AT+CMGR={index}"
DELETE = "AT+CMGD={index}"
LIST_ALL = "AT+CMGL=4"
CTRL_Z = b"\x1a"
ESCAPE = b"\x1b"
#: The resynchronisation probe after a timeout (modem.at.engine), and the start of the first
#: line of its answer. 3GPP TS 27.007 makes the read form of +CMEE mandatory with its set
#: form, which every modem we drive accepts (initialisation sends AT+CMEE=1); it needs no
#: SIM or PIN, changes nothing, and no other command we send answers "+CMEE:", so that line
#: tells where the probe's answer starts. Some modems put a space before the colon.
SYNC_PROBE = "AT+CMEE?"
SYNC_ANSWER = re.compile(r"\+CMEE\s*:")

# ------------------------------------------------------------------ argument parsing
_FIELD = re.compile(r'\s*("(?:[^"]*)"|[^,]*)\s*(?:,|$)')


def split_args(text: str) -> list[str]:
    """Split ``a,"b,c",d`` into ``['a', 'b,c', 'd']`` (quotes removed, blanks stripped)."""
    fields, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _FIELD.match(text, pos)
        if match is None or match.end() == pos:
            break
        fields.append(match.group(1).strip().strip('"'))
        pos = match.end()
    if text.endswith(","):
        fields.append("")
    return fields


def args_of(line: str, prefix: str) -> list[str] | None:
    """The arguments of ``line`` if it starts with ``prefix`` (e.g. ``"+CSQ:"``), else None."""
    if not line.startswith(prefix):
        return None
    return split_args(line[len(prefix):])


def first_args(lines: list[str], prefix: str) -> list[str] | None:
    """The arguments of the first of ``lines`` starting with ``prefix``, or None."""
    for line in lines:
        found = args_of(line, prefix)
        if found is not None:
            return found
    return None


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.lstrip("-").isdecimal() else None  # int() refuses "²"


# ------------------------------------------------------------------ response parsers
_PREFIX = re.compile(r"^(?:[+^][A-Z]+:|Revision:)\s*")
#: MCCs whose operators use three-digit MNCs (North America, most of Latin America, India's
#: 405 block and a few others); used only when AT+COPS cannot give the MCC/MNC.
THREE_DIGIT_MNC_MCCS = frozenset({
    "302", "310", "311", "312", "313", "314", "315", "316", "334", "338", "342", "344", "346",
    "348", "352", "354", "356", "358", "360", "365", "366", "376", "405", "708", "710", "722",
    "732", "750",
})


def plain_value(lines: list[str]) -> str | None:
    """The first non-empty line without a ``+XXX:`` prefix and quotes (CGMI, CGMM...)."""
    for line in lines:
        value = _PREFIX.sub("", line.strip()).strip().strip('"').strip()
        if re.search(r"[A-Za-z0-9]", value):  # skips a line of noise
            return value
    return None


def digits_value(lines: list[str], minimum: int = 6) -> str | None:
    """The first run of at least ``minimum`` decimal digits (IMEI, IMSI) in ``lines``."""
    for line in lines:
        match = re.search(r"\d{%d,}" % minimum, _PREFIX.sub("", line))
        if match:
            return match.group(0)
    return None


def iccid_value(lines: list[str]) -> str | None:
    """The ICCID (digits, trailing filler ``F`` removed) from any vendor's answer."""
    for line in lines:
        match = re.search(r"[0-9]{18,20}[Ff]?", _PREFIX.sub("", line))
        if match:
            return match.group(0).rstrip("Ff")
    return None


def pin_state(lines: list[str]) -> str | None:
    """``READY``, ``SIM PIN``, ``SIM PUK``, ... from the ``+CPIN:`` answer."""
    found = first_args(lines, "+CPIN:")
    return found[0].upper() if found else None


def signal_dbm(lines: list[str]) -> int | None:
    """Signal strength in dBm from ``+CSQ: <rssi>,<ber>`` (None when 99, unknown)."""
    found = first_args(lines, "+CSQ:")
    rssi = _int(found[0]) if found else None
    if rssi is None or not 0 <= rssi <= 31:
        return None
    return -113 + 2 * rssi


def registration_answer(lines: list[str], prefix: str) -> str | None:
    """The state from the answer to ``AT+CREG?`` (``prefix`` ``"+CREG:"``, or CGREG, CEREG),
    in any of the forms :mod:`modem.at.registration` tells apart (None when the command
    failed)."""
    for line in lines:
        if line.startswith(prefix):
            return registration_state(registration_stat(prefix.rstrip(":"), line[len(prefix):],
                                                        solicited=True))
    return None


def registration_urc(args: str, name: str = "+CREG") -> str:
    """The state from an unsolicited ``+CREG``/``+CGREG``/``+CEREG`` notice (its text after
    the prefix), in any of the forms :mod:`modem.at.registration` tells apart."""
    return registration_state(registration_stat(name, args, solicited=False))


def combined_registration(cs: str | None, eps: str | None) -> str:
    """One state from the circuit (CREG) and LTE (CEREG) answers: registered wins."""
    for state in ("home", "roaming"):
        if state in (cs, eps):
            return state
    for state in ("denied", "searching", "not_registered"):
        if state in (cs, eps):
            return state
    return "unknown"


def operator_numeric(lines: list[str]) -> str | None:
    """MCC+MNC (e.g. ``"20810"``) from ``+COPS: <mode>,2,"<oper>"[,<act>]``."""
    found = first_args(lines, "+COPS:")
    if found and len(found) >= 3 and found[2].isdigit() and len(found[2]) in (5, 6):
        return found[2]
    return None


def network_from_imsi(imsi: str | None) -> str | None:
    """MCC+MNC of the SIM's home network, read from its IMSI."""
    if not imsi or len(imsi) < 6 or not imsi.isdigit():
        return None
    return imsi[:6] if imsi[:3] in THREE_DIGIT_MNC_MCCS else imsi[:5]


def _number(fields: list[str], index: int) -> str | None:
    if len(fields) <= index or not fields[index]:
        return None
    number = fields[index]
    toa = _int(fields[index + 1]) if len(fields) > index + 1 else None
    if toa == 145 and not number.startswith("+"):
        number = "+" + number
    return number


def own_number(lines: list[str]) -> str | None:
    """The subscriber number from ``+CNUM: "<alpha>","<number>",<type>`` (None if unset)."""
    found = first_args(lines, "+CNUM:")
    return _number(found, 1) if found else None


def smsc_number(lines: list[str]) -> str | None:
    """The SMSC address from ``+CSCA: "<number>",<type>``."""
    found = first_args(lines, "+CSCA:")
    return _number(found, 0) if found else None


def message_reference(lines: list[str]) -> int | None:
    """The TP-MR from ``+CMGS: <mr>``."""
    found = first_args(lines, "+CMGS:")
    return _int(found[0]) if found else None


def stored_notice(args: str) -> tuple[str, int] | None:
    """(memory, index) from the arguments of ``+CMTI:``/``+CDSI:`` (``"SM",3``)."""
    fields = split_args(args)
    index = _int(fields[1]) if len(fields) >= 2 else None
    return (fields[0], index) if index is not None else None


def read_pdu(lines: list[str]) -> str | None:
    """The PDU of a ``+CMGR: <stat>,[<alpha>],<length>`` answer (the line after the header)."""
    for position, line in enumerate(lines[:-1]):
        if line.startswith("+CMGR:"):
            return lines[position + 1].strip()
    return None


def listed_pdus(lines: list[str]) -> list[tuple[int, str]]:
    """(index, PDU) pairs of a ``+CMGL: <index>,<stat>,[<alpha>],<length>`` listing."""
    found = []
    for position, line in enumerate(lines[:-1]):
        fields = args_of(line, "+CMGL:")
        index = _int(fields[0]) if fields else None
        if index is not None:
            found.append((index, lines[position + 1].strip()))
    return found


def storage_usage(lines: list[str]) -> tuple[int, int] | None:
    """(used, total) of the first memory of a ``+CPMS`` answer (query or set form)."""
    found = first_args(lines, "+CPMS:")
    numbers = [n for n in (_int(f) for f in found or []) if n is not None]
    return (numbers[0], numbers[1]) if len(numbers) >= 2 else None


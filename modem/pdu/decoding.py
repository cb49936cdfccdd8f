"""Decoding received PDUs (3GPP TS 23.040): SMS-DELIVER, SMS-STATUS-REPORT, and SMS-SUBMIT
for the simulator.

What counts as undecodable is precise: :class:`PduError` is raised for a PDU that is not
hex; whose bytes run out before a field its own lengths announce (a user-data length
longer than the data, a truncated header or address); whose lengths are more than their
field can hold (an SMSC length over 11 octets, an address over 20 digits, user data over
140 octets or 160 septets, a user-data header longer than the user data); whose TP-MTI is
reserved; or whose user data is compressed (TP-DCS 0x20 set in the general coding groups,
e.g. 0x39: TS 23.042 compression is not implemented). Reserved TP-DCS codings are read
as GSM-7, as TS 23.038 tells a receiver to. A timestamp that is no valid date is not a
reason to lose the message: it is read as None; nor is a concatenation header that TS
23.040 9.2.3.24.1 says to ignore (part number 0 or above the count, count 0): the message
is then read as a single SMS, its text whole. An SMS-SUBMIT given to :func:`decode_pdu`
(found on the SIM, written there by someone) raises :class:`NotReceived`, a PduError.

Any other exception (KeyError, TypeError, IndexError...) is a bug of this module and is
not disguised as a PduError: it propagates with its traceback. Pure functions, no state.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from modem.pdu.charset import decode_gsm7
from modem.pdu.concat import applicable
from modem.pdu.types import DeliveredSms, NotReceived, PduError, StatusReport, SubmittedSms
from modem.pdu.user_data import decode_user_data, unpack_septets, user_data_octets

MAX_SMSC_OCTETS = 11  # type of address and 10 octets of digits (TS 24.011 RP address)
MAX_ADDRESS_DIGITS = 20  # TP-OA/TP-DA/TP-RA: 2 to 12 octets (TS 23.040 9.1.2.5)
_SEMI_OCTETS = "0123456789*#abc"  # TS 23.040 9.1.2.3; 0xF is the filler
_VALIDITY_OCTETS = {0: 0, 1: 7, 2: 1, 3: 7}  # TP-VPF: none, enhanced, relative, absolute

__all__ = ["decode_pdu", "decode_submit", "sender_of"]


class _Reader:
    """A cursor over PDU octets that raises PduError instead of running off the end."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise PduError(f"PDU ends early: {what} needs {n} octet(s) at offset {self.pos}, "
                           f"{len(self.data) - self.pos} left")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def octet(self, what: str) -> int:
        return self.take(1, what)[0]


def _from_hex(pdu_hex: str) -> bytes:
    if not isinstance(pdu_hex, str):
        raise PduError(f"PDU must be a hex string, not {type(pdu_hex).__name__}")
    try:
        data = bytes.fromhex(pdu_hex.strip())
    except ValueError:
        raise PduError(f"PDU is not valid hex ({len(pdu_hex)} characters)") from None
    if not data:
        raise PduError("PDU is empty")
    return data


def _semi_octets(raw: bytes, count: int | None = None) -> str:
    """Swapped-nibble BCD digits up to the filler (or ``count`` digits)."""
    digits = []
    for octet in raw:
        for nibble in (octet & 0x0F, octet >> 4):
            if nibble == 0x0F or (count is not None and len(digits) == count):
                return "".join(digits)
            digits.append(_SEMI_OCTETS[nibble])
    return "".join(digits)


def _read_smsc(reader: _Reader) -> str | None:
    length = reader.octet("SMSC length")
    if length == 0:
        return None
    if length > MAX_SMSC_OCTETS:
        raise PduError(f"SMSC length {length} octets is more than an address holds "
                       f"({MAX_SMSC_OCTETS})")
    toa, digits = reader.octet("SMSC type"), reader.take(length - 1, "SMSC")
    number = _semi_octets(digits)
    if not number:
        return None
    return "+" + number if toa & 0x70 == 0x10 else number


def _read_address(reader: _Reader, what: str) -> str:
    digits = reader.octet(f"{what} length")
    if digits > MAX_ADDRESS_DIGITS:
        raise PduError(f"{what} length {digits} digits is more than an address holds "
                       f"({MAX_ADDRESS_DIGITS})")
    toa = reader.octet(f"{what} type")
    raw = reader.take((digits + 1) // 2, what)
    if toa & 0x70 == 0x50:  # alphanumeric, GSM-7 packed
        return decode_gsm7(unpack_septets(raw, digits * 4 // 7))
    number = _semi_octets(raw, digits)
    return "+" + number if toa & 0x70 == 0x10 else number


def _bcd(octet: int) -> int | None:
    low, high = octet & 0x0F, octet >> 4
    return low * 10 + high if low <= 9 and high <= 9 else None


def _read_timestamp(reader: _Reader, what: str) -> datetime | None:
    """An aware datetime (the SMSC's offset), or None when the 7 octets are no valid date."""
    raw = reader.take(7, what)
    fields = [_bcd(octet) for octet in raw[:6]]
    zone_tens, zone_units = raw[6] & 0x07, raw[6] >> 4
    if None in fields or zone_units > 9:
        return None
    year, month, day, hour, minute, second = fields
    quarters = (zone_tens * 10 + zone_units) * (-1 if raw[6] & 0x08 else 1)
    try:
        return datetime(year + (1900 if year >= 69 else 2000), month, day, hour, minute, second,
                        tzinfo=timezone(timedelta(minutes=15 * quarters)))
    except ValueError:  # month 13, 30 February, an offset of a day or more: no date
        return None


def _read_user_data(reader: _Reader, dcs: int,
                    has_udh: bool) -> tuple[str, tuple[int, int, int] | None]:
    udl = reader.octet("user data length")
    data = reader.take(user_data_octets(udl, dcs), "user data")
    return decode_user_data(data, udl, dcs, has_udh)


def _classified(reference: int, recipient: str, status: int,
                discharge: datetime | None) -> StatusReport:
    return StatusReport(
        reference=reference, recipient=recipient, status=status,
        delivered=status < 0x20, temporary=0x20 <= status < 0x40, permanent=status >= 0x40,
        discharge_time=discharge,
    )


def _read_deliver(reader: _Reader, smsc: str | None, first: int) -> DeliveredSms:
    sender = _read_address(reader, "sender")
    reader.octet("protocol identifier")
    dcs = reader.octet("data coding scheme")
    stamp = _read_timestamp(reader, "SMSC timestamp")
    text, concat = _read_user_data(reader, dcs, bool(first & 0x40))
    return DeliveredSms(sender, text, stamp, smsc, applicable(concat))


def _read_status_report(reader: _Reader) -> StatusReport:
    reference = reader.octet("message reference")
    recipient = _read_address(reader, "recipient")
    _read_timestamp(reader, "SMSC timestamp")
    discharge = _read_timestamp(reader, "discharge time")
    return _classified(reference, recipient, reader.octet("status"), discharge)


def _read_submit(reader: _Reader, smsc: str | None, first: int) -> SubmittedSms:
    reference = reader.octet("message reference")
    destination = _read_address(reader, "destination")
    reader.octet("protocol identifier")
    dcs = reader.octet("data coding scheme")
    reader.take(_VALIDITY_OCTETS[(first >> 3) & 0x03], "validity period")
    text, concat = _read_user_data(reader, dcs, bool(first & 0x40))
    return SubmittedSms(destination, text, bool(first & 0x20), concat, reference, smsc)


def _decode(data: bytes) -> DeliveredSms | StatusReport | SubmittedSms:
    reader = _Reader(data)
    smsc = _read_smsc(reader)
    first = reader.octet("first octet")
    kind = first & 0x03
    if kind == 0x00:
        return _read_deliver(reader, smsc, first)
    if kind == 0x02:
        return _read_status_report(reader)
    if kind == 0x01:
        return _read_submit(reader, smsc, first)
    raise PduError(f"reserved TP-MTI 3 (first octet {first:#04x})")


def decode_pdu(pdu_hex: str) -> DeliveredSms | StatusReport:
    """Decode a received SMS-DELIVER or SMS-STATUS-REPORT (SMSC field first).

    Raises PduError for an undecodable PDU (see the module docstring), NotReceived for an
    SMS-SUBMIT. Any other exception is a bug.
    """
    result = _decode(_from_hex(pdu_hex))
    if isinstance(result, SubmittedSms):
        raise NotReceived("PDU is an SMS-SUBMIT, not a received message")
    return result


def sender_of(pdu_hex: str) -> str | None:
    """The sender of an SMS-DELIVER as far as its first fields can be read (for an
    undecodable one), else None. Never raises PduError."""
    try:
        reader = _Reader(_from_hex(pdu_hex))
        _read_smsc(reader)
        if reader.octet("first octet") & 0x03 != 0x00:
            return None
        return _read_address(reader, "sender")
    except PduError:
        return None


def decode_submit(pdu_hex: str, tpdu_length: int | None = None) -> SubmittedSms:
    """Decode an SMS-SUBMIT as given to AT+CMGS, with or without the leading SMSC field.

    ``tpdu_length`` (the <n> of AT+CMGS) settles whether an SMSC field is present;
    without it, the SMSC-first reading is tried before the bare TPDU. Raises PduError.
    """
    data = _from_hex(pdu_hex)
    if tpdu_length is not None and tpdu_length == len(data):
        candidates = [b"\x00" + data]
    elif tpdu_length is not None:
        candidates = [data]
    else:
        candidates = [data, b"\x00" + data]
    error: PduError | None = None
    for candidate in candidates:
        try:
            result = _decode(candidate)
        except PduError as exc:
            error = error or exc
            continue
        if isinstance(result, SubmittedSms):
            return result
        error = error or PduError("PDU is not an SMS-SUBMIT")
    assert error is not None
    raise error

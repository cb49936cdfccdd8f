"""SMS PDU codec (3GPP TS 23.040 / 23.038) built on ``gsmmodem.pdu``.

We reuse python-gsmmodem's GSM-7 tables, septet packing, address and timestamp
codecs, and add what it lacks: UTF-16 surrogate pairs (emoji) in UCS-2, splitting
that never cuts a surrogate pair or a GSM-7 escape (:mod:`modem.pdu.user_data`), a strict
decoder that raises only :class:`PduError`, status-report classes, and reassembly of
concatenated parts (:mod:`modem.pdu.concat`).

Hex strings in and out are upper-case; every SMS-DELIVER / status report handled
here carries the SMSC field first, as a modem returns it (AT+CMGR, +CMT, +CDS).
Pure functions, no I/O, no clock: safe from any thread (a Reassembler is not
thread-safe; its owner serialises calls).
"""
from __future__ import annotations

import random
import re
from datetime import datetime, timedelta, timezone

from modem.pdu.concat import GAP_MARKER, Reassembler, concat_udh
from modem.pdu.charset import gsm_pdu as _gsm
from modem.pdu.types import DeliveredSms, PduError, StatusReport, SubmitPart, SubmittedSms
from modem.pdu.user_data import (DCS_8BIT, DCS_GSM7, DCS_UCS2, GSM7_PART_SEPTETS, GSM7_SINGLE_SEPTETS,
                            UCS2_PART_OCTETS, UCS2_SINGLE_OCTETS, decode_gsm7, decode_user_data,
                            encode_text, pack_user_data, unpack_septets, user_data_octets)

_NUMBER = re.compile(r"^\+?[0-9]{1,20}$")
__all__ = [
    "DCS_8BIT", "DCS_GSM7", "DCS_UCS2", "GAP_MARKER", "GSM7_PART_SEPTETS", "GSM7_SINGLE_SEPTETS",
    "UCS2_PART_OCTETS", "UCS2_SINGLE_OCTETS", "DeliveredSms", "PduError", "Reassembler",
    "StatusReport", "SubmitPart", "SubmittedSms", "decode_pdu", "decode_submit", "encode_deliver",
    "encode_status_report", "encode_submit",
]

# ---------------------------------------------------------------- encoding


def _check_number(number: str, what: str) -> str:
    if not isinstance(number, str) or not number.strip():
        raise ValueError(f"{what} is empty")
    cleaned = number.strip()
    if not _NUMBER.match(cleaned):
        raise ValueError(f"{what} {number!r} is not a phone number (digits, optional leading +)")
    return cleaned


def _smsc_field(smsc: str | None) -> bytes:
    if not smsc:
        return b"\x00"
    return bytes(_gsm._encodeAddressField(_check_number(smsc, "SMSC"), smscField=True))


def _address(number: str) -> bytes:
    return bytes(_gsm._encodeAddressField(number))


def _pick_reference(concat_reference: int | None) -> int:
    if concat_reference is None:
        return random.randrange(256)  # callers that care pass their own counter
    if not 0 <= concat_reference <= 255:
        raise ValueError(f"concat_reference {concat_reference} is not an 8-bit value")
    return concat_reference


def _parts(text: str, concat_reference: int | None) -> tuple[int, int | None, list[tuple[bytes, bytes]]]:
    """(DCS, concatenation reference, [(payload, UDH)]); no reference and no UDH for one part."""
    dcs, payloads = encode_text(text)
    count = len(payloads)
    if count == 1:
        return dcs, None, [(payloads[0], b"")]
    reference = _pick_reference(concat_reference)
    return dcs, reference, [(payload, concat_udh(reference, count, number))
                            for number, payload in enumerate(payloads, start=1)]


def encode_submit(
    destination: str,
    text: str,
    *,
    request_status_report: bool = True,
    concat_reference: int | None = None,
    smsc: str | None = None,
) -> list[SubmitPart]:
    """SMS-SUBMIT PDUs for ``text`` to ``destination``, one per part (TP-MR 0: the modem sets it).

    Raises ValueError for an empty or invalid destination (or SMSC).
    """
    destination = _check_number(destination, "destination")
    dcs, reference, parts = _parts(text, concat_reference)
    count = len(parts)
    smsc_field = _smsc_field(smsc)
    first = 0x01 | (0x20 if request_status_report else 0) | (0x40 if count > 1 else 0)
    submits = []
    for number, (payload, udh) in enumerate(parts, start=1):
        tpdu = bytes([first, 0x00]) + _address(destination) + bytes([0x00, dcs])
        tpdu += pack_user_data(payload, dcs, udh)
        submits.append(SubmitPart((smsc_field + tpdu).hex().upper(), len(tpdu), reference, number, count))
    return submits


def _timestamp(when: datetime) -> bytes:
    if when.tzinfo is None:
        raise ValueError("timestamp needs a time zone (e.g. timezone.utc)")
    return bytes(_gsm._encodeTimestamp(when))


def encode_deliver(
    sender: str,
    text: str,
    *,
    smsc: str = "+10000000000",
    timestamp: datetime,
    concat_reference: int | None = None,
) -> list[str]:
    """SMS-DELIVER PDUs (SMSC field first, as AT+CMGR shows them), one per part."""
    sender = _check_number(sender, "sender")
    dcs, _, parts = _parts(text, concat_reference)
    first = 0x04 | (0x40 if len(parts) > 1 else 0)  # SMS-DELIVER, TP-MMS (no more messages)
    pdus = []
    for payload, udh in parts:
        tpdu = bytes([first]) + _address(sender) + bytes([0x00, dcs]) + _timestamp(timestamp)
        tpdu += pack_user_data(payload, dcs, udh)
        pdus.append((_smsc_field(smsc) + tpdu).hex().upper())
    return pdus


def encode_status_report(
    reference: int, recipient: str, status: int, *, timestamp: datetime, smsc: str = "+10000000000"
) -> str:
    """An SMS-STATUS-REPORT PDU (SMSC field first) for the submit with TP-MR ``reference``."""
    recipient = _check_number(recipient, "recipient")
    stamp = _timestamp(timestamp)
    tpdu = bytes([0x06, reference & 0xFF]) + _address(recipient) + stamp + stamp + bytes([status & 0xFF])
    return (_smsc_field(smsc) + tpdu).hex().upper()


# ---------------------------------------------------------------- decoding


class _Reader:
    """A cursor over PDU octets that raises PduError instead of running off the end."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise PduError(f"PDU ends early: {what} needs {n} octet(s) at offset {self.pos}")
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
        raise PduError(f"PDU is not valid hex: {pdu_hex[:40]!r}") from None
    if not data:
        raise PduError("PDU is empty")
    return data


def _read_smsc(reader: _Reader) -> str | None:
    length = reader.octet("SMSC length")
    if length == 0:
        return None
    toa, digits = reader.octet("SMSC type"), reader.take(length - 1, "SMSC")
    number = _gsm.decodeSemiOctets(bytearray(digits))
    return "+" + number if toa & 0x70 == 0x10 else number


def _read_address(reader: _Reader, what: str) -> str:
    digits = reader.octet(f"{what} length")
    toa = reader.octet(f"{what} type")
    raw = reader.take((digits + 1) // 2, what)
    if toa & 0x70 == 0x50:  # alphanumeric, GSM-7 packed
        return decode_gsm7(unpack_septets(raw, digits * 4 // 7))
    number = _gsm.decodeSemiOctets(bytearray(raw))[:digits]
    return "+" + number if toa & 0x70 == 0x10 else number


def _read_timestamp(reader: _Reader, what: str) -> datetime:
    stamp = _gsm._decodeTimestamp(iter(bytearray(reader.take(7, what))))
    return stamp.replace(tzinfo=timezone(stamp.utcoffset() or timedelta(0)))


def _read_user_data(reader: _Reader, dcs: int, has_udh: bool) -> tuple[str, tuple[int, int, int] | None]:
    udl = reader.octet("user data length")
    data = reader.take(user_data_octets(udl, dcs), "user data")
    return decode_user_data(data, udl, dcs, has_udh)


def _classified(reference: int, recipient: str, status: int, discharge: datetime) -> StatusReport:
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
    concat = concat if concat and concat[1] > 1 else None
    return DeliveredSms(sender, text, stamp, smsc, concat)


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
    reader.take({0: 0, 1: 7, 2: 1, 3: 7}[(first >> 3) & 0x03], "validity period")
    text, concat = _read_user_data(reader, dcs, bool(first & 0x40))
    return SubmittedSms(destination, text, bool(first & 0x20), concat, reference, smsc)


def _decode(reader: _Reader) -> DeliveredSms | StatusReport | SubmittedSms:
    smsc = _read_smsc(reader)
    first = reader.octet("first octet")
    kind = first & 0x03
    if kind == 0x00:
        return _read_deliver(reader, smsc, first)
    if kind == 0x02:
        return _read_status_report(reader)
    if kind == 0x01:
        return _read_submit(reader, smsc, first)
    raise PduError(f"unknown TPDU type {kind} (first octet {first:#04x})")


def _guarded(data: bytes) -> DeliveredSms | StatusReport | SubmittedSms:
    try:
        return _decode(_Reader(data))
    except PduError:
        raise
    except (ValueError, IndexError, KeyError, TypeError, OverflowError, StopIteration) as exc:
        raise PduError(f"PDU cannot be decoded: {exc}") from exc


def decode_pdu(pdu_hex: str) -> DeliveredSms | StatusReport:
    """Decode a received SMS-DELIVER or SMS-STATUS-REPORT (SMSC field first).

    Raises PduError (a ValueError) for anything else, never another exception type.
    """
    result = _guarded(_from_hex(pdu_hex))
    if isinstance(result, SubmittedSms):
        raise PduError("PDU is an SMS-SUBMIT, not a received message")
    return result


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
            result = _guarded(candidate)
        except PduError as exc:
            error = error or exc
            continue
        if isinstance(result, SubmittedSms):
            return result
        error = error or PduError("PDU is not an SMS-SUBMIT")
    assert error is not None
    raise error

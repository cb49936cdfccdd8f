"""SMS PDU codec (3GPP TS 23.040 / 23.038) built on ``gsmmodem.pdu``.

We reuse python-gsmmodem's GSM-7 tables, septet packing, address and timestamp
codecs, and add what it lacks: UTF-16 surrogate pairs (emoji) in UCS-2, splitting
that never cuts a surrogate pair or a GSM-7 escape, a strict decoder that raises
only :class:`PduError`, status-report classes, and reassembly of concatenated parts.

Hex strings in and out are upper-case; every SMS-DELIVER / status report handled
here carries the SMSC field first, as a modem returns it (AT+CMGR, +CMT, +CDS).
Pure functions, no I/O, no clock: safe from any thread (a Reassembler is not
thread-safe; its owner serialises calls).
"""
from __future__ import annotations

import random
import re
import warnings
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

with warnings.catch_warnings():
    # gsmmodem 0.13.0 has invalid escape sequences: compile-time warnings only.
    warnings.simplefilter("ignore")
    from gsmmodem import pdu as _gsm

GSM7_SINGLE_SEPTETS = 160
GSM7_PART_SEPTETS = 153  # 160 minus the 7 septets of an 8-bit concatenation UDH
UCS2_SINGLE_OCTETS = 140
UCS2_PART_OCTETS = 134  # 140 minus the 6-octet UDH
DCS_GSM7, DCS_8BIT, DCS_UCS2 = 0x00, 0x04, 0x08
GAP_MARKER = "…"
_NUMBER = re.compile(r"^\+?[0-9]{1,20}$")


class PduError(ValueError):
    """A PDU that cannot be decoded (bad hex, truncated, unknown type...)."""


@dataclass(frozen=True)
class SubmitPart:
    pdu_hex: str
    tpdu_length: int  # the <n> of AT+CMGS=<n>: octets excluding the SMSC field
    reference: int | None  # concatenation reference, None for a single-part message
    part_number: int
    part_count: int


@dataclass(frozen=True)
class DeliveredSms:
    sender: str
    text: str
    smsc_timestamp: datetime | None
    smsc: str | None
    concat: tuple[int, int, int] | None  # (reference, part_count, part_number)


@dataclass(frozen=True)
class StatusReport:
    reference: int  # TP-MR of the submit it reports (the +CMGS: <mr>)
    recipient: str
    status: int  # TP-Status
    delivered: bool  # 0x00-0x1F
    temporary: bool  # 0x20-0x3F: the SMSC is still trying
    permanent: bool  # 0x40-0x7F (and reserved values): failed for good
    discharge_time: datetime | None


@dataclass(frozen=True)
class SubmittedSms:
    """What :func:`decode_submit` reads from an SMS-SUBMIT (used by the simulator)."""

    destination: str
    text: str
    status_report_requested: bool
    concat: tuple[int, int, int] | None  # (reference, part_count, part_number)
    message_reference: int
    smsc: str | None


# ---------------------------------------------------------------- encoding


def _check_number(number: str, what: str) -> str:
    if not isinstance(number, str) or not number.strip():
        raise ValueError(f"{what} is empty")
    cleaned = number.strip()
    if not _NUMBER.match(cleaned):
        raise ValueError(f"{what} {number!r} is not a phone number (digits, optional leading +)")
    return cleaned


def _gsm7_chunks(text: str) -> list[bytes] | None:
    """Per-character GSM-7 septet codes (1 or 2 with the escape), or None if not GSM-7."""
    try:
        return [bytes(_gsm.encodeGsm7(ch)) for ch in text]
    except ValueError:
        return None


def _ucs2_chunks(text: str) -> list[bytes]:
    """Per-character UTF-16-BE code units: 4 octets (a surrogate pair) outside the BMP."""
    return [ch.encode("utf-16-be") for ch in text]


def _split(chunks: list[bytes], single: int, per_part: int) -> list[bytes]:
    """Join chunks into parts of at most ``per_part`` units, never splitting a chunk."""
    if sum(len(c) for c in chunks) <= single:
        return [b"".join(chunks)]
    parts, current = [], b""
    for chunk in chunks:
        if len(current) + len(chunk) > per_part:
            parts.append(current)
            current = b""
        current += chunk
    parts.append(current)
    return parts


def _user_data(payload: bytes, dcs: int, udh: bytes) -> bytes:
    """TP-UDL followed by TP-UD (with UDH and GSM-7 fill bits when a header is present)."""
    header = bytes([len(udh)]) + udh if udh else b""
    if dcs == DCS_UCS2:
        return bytes([len(header) + len(payload)]) + header + payload
    header_septets = (len(header) * 8 + 6) // 7
    fill = header_septets * 7 - len(header) * 8
    # gsmmodem's padBits counts the other way round: padBits=7-fill (0 means no fill).
    packed = _gsm.packSeptets(bytearray(payload), padBits=(7 - fill) % 7 if header else 0)
    return bytes([header_septets + len(payload)]) + header + bytes(packed)


def _smsc_field(smsc: str | None) -> bytes:
    if not smsc:
        return b"\x00"
    return bytes(_gsm._encodeAddressField(_check_number(smsc, "SMSC"), smscField=True))


def _address(number: str) -> bytes:
    return bytes(_gsm._encodeAddressField(number))


def _concat_udh(reference: int, count: int, number: int) -> bytes:
    return bytes([0x00, 0x03, reference & 0xFF, count, number])


def _encode_text(text: str) -> tuple[int, list[bytes]]:
    chunks = _gsm7_chunks(text)
    if chunks is not None:
        return DCS_GSM7, _split(chunks, GSM7_SINGLE_SEPTETS, GSM7_PART_SEPTETS)
    return DCS_UCS2, _split(_ucs2_chunks(text), UCS2_SINGLE_OCTETS, UCS2_PART_OCTETS)


def _pick_reference(concat_reference: int | None) -> int:
    if concat_reference is None:
        return random.randrange(256)  # callers that care pass their own counter
    if not 0 <= concat_reference <= 255:
        raise ValueError(f"concat_reference {concat_reference} is not an 8-bit value")
    return concat_reference


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
    dcs, payloads = _encode_text(text)
    count = len(payloads)
    reference = _pick_reference(concat_reference) if count > 1 else None
    smsc_field = _smsc_field(smsc)
    first = 0x01 | (0x20 if request_status_report else 0) | (0x40 if count > 1 else 0)
    parts = []
    for number, payload in enumerate(payloads, start=1):
        udh = _concat_udh(reference, count, number) if reference is not None else b""
        tpdu = bytes([first, 0x00]) + _address(destination) + bytes([0x00, dcs])
        tpdu += _user_data(payload, dcs, udh)
        parts.append(SubmitPart((smsc_field + tpdu).hex().upper(), len(tpdu), reference, number, count))
    return parts


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
    dcs, payloads = _encode_text(text)
    count = len(payloads)
    reference = _pick_reference(concat_reference) if count > 1 else None
    first = 0x04 | (0x40 if count > 1 else 0)  # SMS-DELIVER, TP-MMS (no more messages)
    pdus = []
    for number, payload in enumerate(payloads, start=1):
        udh = _concat_udh(reference, count, number) if reference is not None else b""
        tpdu = bytes([first]) + _address(sender) + bytes([0x00, dcs]) + _timestamp(timestamp)
        tpdu += _user_data(payload, dcs, udh)
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


def _unpack_septets(data: bytes, count: int) -> bytes:
    # Our own: gsmmodem's unpackSeptets drops a trailing '@' (septet 0).
    value = int.from_bytes(data, "little")
    return bytes((value >> (7 * i)) & 0x7F for i in range(count))


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
        return _gsm.decodeGsm7(bytearray(_unpack_septets(raw, digits * 4 // 7)))
    number = _gsm.decodeSemiOctets(bytearray(raw))[:digits]
    return "+" + number if toa & 0x70 == 0x10 else number


def _read_timestamp(reader: _Reader, what: str) -> datetime:
    stamp = _gsm._decodeTimestamp(iter(bytearray(reader.take(7, what))))
    return stamp.replace(tzinfo=timezone(stamp.utcoffset() or timedelta(0)))


def _alphabet(dcs: int) -> int:
    if dcs & 0xC0 == 0x00 or dcs & 0xF0 == 0x40:  # general data coding (maybe auto-deleting)
        return dcs & 0x0C
    if dcs & 0xF0 == 0xE0:
        return DCS_UCS2
    if dcs & 0xF0 == 0xF0:
        return dcs & 0x04
    return DCS_GSM7  # message-waiting groups are GSM-7


def _parse_udh(udh: bytes) -> tuple[int, int, int] | None:
    pos, concat = 0, None
    while pos + 2 <= len(udh):
        iei, length = udh[pos], udh[pos + 1]
        data = udh[pos + 2:pos + 2 + length]
        if len(data) != length:
            raise PduError("user data header is truncated")
        if iei == 0x00 and length == 3:
            concat = (data[0], data[1], data[2])
        elif iei == 0x08 and length == 4:
            concat = (data[0] << 8 | data[1], data[2], data[3])
        pos += 2 + length
    return concat


def _read_user_data(reader: _Reader, dcs: int, has_udh: bool) -> tuple[str, tuple[int, int, int] | None]:
    udl = reader.octet("user data length")
    alphabet = _alphabet(dcs)
    octets = (udl * 7 + 7) // 8 if alphabet == DCS_GSM7 else udl
    data = reader.take(octets, "user data")
    concat, skip = None, 0
    if has_udh:
        if not data or data[0] + 1 > len(data):
            raise PduError("user data header is longer than the user data")
        concat = _parse_udh(data[1:1 + data[0]])
        skip = data[0] + 1
    if alphabet == DCS_GSM7:
        septets = _unpack_septets(data, udl)[(skip * 8 + 6) // 7:]
        return _gsm.decodeGsm7(bytearray(septets)), concat
    payload = data[skip:]
    if alphabet == DCS_UCS2:
        return payload.decode("utf-16-be", errors="replace"), concat  # pairs -> real character
    return payload.decode("latin-1"), concat


def _classified(reference: int, recipient: str, status: int, discharge: datetime) -> StatusReport:
    return StatusReport(
        reference=reference, recipient=recipient, status=status,
        delivered=status < 0x20, temporary=0x20 <= status < 0x40, permanent=status >= 0x40,
        discharge_time=discharge,
    )


def _decode(reader: _Reader) -> DeliveredSms | StatusReport | SubmittedSms:
    smsc = _read_smsc(reader)
    first = reader.octet("first octet")
    kind = first & 0x03
    if kind == 0x00:
        sender = _read_address(reader, "sender")
        reader.octet("protocol identifier")
        dcs = reader.octet("data coding scheme")
        stamp = _read_timestamp(reader, "SMSC timestamp")
        text, concat = _read_user_data(reader, dcs, bool(first & 0x40))
        concat = concat if concat and concat[1] > 1 else None
        return DeliveredSms(sender, text, stamp, smsc, None if not concat else (concat[0], concat[1], concat[2]))
    if kind == 0x02:
        reference = reader.octet("message reference")
        recipient = _read_address(reader, "recipient")
        _read_timestamp(reader, "SMSC timestamp")
        discharge = _read_timestamp(reader, "discharge time")
        return _classified(reference, recipient, reader.octet("status"), discharge)
    if kind == 0x01:
        reference = reader.octet("message reference")
        destination = _read_address(reader, "destination")
        reader.octet("protocol identifier")
        dcs = reader.octet("data coding scheme")
        reader.take({0: 0, 1: 7, 2: 1, 3: 7}[(first >> 3) & 0x03], "validity period")
        text, concat = _read_user_data(reader, dcs, bool(first & 0x40))
        return SubmittedSms(destination, text, bool(first & 0x20), concat, reference, smsc)
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


# ---------------------------------------------------------------- reassembly


class Reassembler:
    """Joins concatenated parts keyed by (sender, reference, part_count).

    ``now`` is the caller's monotonic seconds; nothing here reads a clock.
    """

    def __init__(self, timeout: float = 300.0) -> None:
        self.timeout = timeout
        self._pending: dict[tuple[str, int, int], tuple[float, dict[int, DeliveredSms]]] = {}

    def add(self, part: DeliveredSms, now: float) -> DeliveredSms | None:
        """The whole message once its last part arrives; single-part messages pass straight through."""
        if part.concat is None or part.concat[1] <= 1:
            return part
        reference, count, number = part.concat
        key = (part.sender, reference, count)
        first_seen, parts = self._pending.setdefault(key, (now, {}))
        parts.setdefault(number, part)  # a duplicate part keeps the first copy
        if len(parts) < count or any(n not in parts for n in range(1, count + 1)):
            return None
        del self._pending[key]
        return self._join(parts, count)

    def expire(self, now: float) -> list[DeliveredSms]:
        """Incomplete messages older than the timeout, their parts joined with a gap marker."""
        due = [k for k, (seen, _) in self._pending.items() if now - seen >= self.timeout]
        return [self._join(self._pending.pop(key)[1], key[2]) for key in due]

    @property
    def pending(self) -> int:
        return len(self._pending)

    @staticmethod
    def _join(parts: dict[int, DeliveredSms], count: int) -> DeliveredSms:
        numbers = range(1, max(count, max(parts)) + 1)
        text = "".join(parts[n].text if n in parts else GAP_MARKER for n in numbers)
        head = parts[min(parts)]
        return replace(head, text=text, concat=None)

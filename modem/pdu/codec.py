"""SMS PDU codec (3GPP TS 23.040 / 23.038) built on ``gsmmodem.pdu``.

We reuse python-gsmmodem's septet packing, address and timestamp encoders, and add what
it lacks or gets wrong: the GSM-7 alphabet as the standard has it (:mod:`modem.pdu.charset`),
UTF-16 surrogate pairs (emoji) in UCS-2, splitting that never cuts a surrogate pair or a
GSM-7 escape (:mod:`modem.pdu.user_data`), a strict decoder that raises PduError for an
undecodable PDU and lets its own bugs surface (:mod:`modem.pdu.decoding`), status-report
classes, and reassembly of concatenated parts (:mod:`modem.pdu.concat`).

Hex strings in and out are upper-case; every SMS-DELIVER / status report handled
here carries the SMSC field first, as a modem returns it (AT+CMGR, +CMT, +CDS).
Pure functions, no I/O, no clock: safe from any thread (a Reassembler is not
thread-safe; its owner serialises calls).
"""
from __future__ import annotations

import random
import re
from datetime import datetime

from modem.pdu.concat import GAP_MARKER, Reassembler, concat_udh
from modem.pdu.charset import gsm_pdu as _gsm
from modem.pdu.decoding import decode_pdu, decode_submit, sender_of
from modem.pdu.types import (DeliveredSms, NotReceived, PduError, StatusReport, SubmitPart,
                             SubmittedSms)
from modem.pdu.user_data import (DCS_8BIT, DCS_GSM7, DCS_UCS2, GSM7_PART_SEPTETS, GSM7_SINGLE_SEPTETS,
                            UCS2_PART_OCTETS, UCS2_SINGLE_OCTETS, encode_text, pack_user_data)

_NUMBER = re.compile(r"^\+?[0-9]{1,20}$")
__all__ = [
    "DCS_8BIT", "DCS_GSM7", "DCS_UCS2", "GAP_MARKER", "GSM7_PART_SEPTETS", "GSM7_SINGLE_SEPTETS",
    "UCS2_PART_OCTETS", "UCS2_SINGLE_OCTETS", "DeliveredSms", "NotReceived", "PduError",
    "Reassembler", "StatusReport", "SubmitPart", "SubmittedSms", "decode_pdu", "decode_submit",
    "encode_deliver", "encode_status_report", "encode_submit", "sender_of",
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

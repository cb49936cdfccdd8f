"""The values the PDU codec reads and writes, and its one error.

Plain frozen dataclasses, safe to share between threads. Times are aware datetimes (the
SMSC's own offset); ``concat`` is ``(reference, part_count, part_number)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class PduError(ValueError):
    """A PDU that cannot be decoded: its bytes contradict its own lengths or fields, or its
    user data is compressed (the precise list: :mod:`modem.pdu.decoding`)."""


class NotReceived(PduError):
    """A well-formed PDU that is not a received message (an SMS-SUBMIT found on the SIM)."""


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
    """What :func:`modem.pdu.codec.decode_submit` reads from an SMS-SUBMIT (used by the simulator)."""

    destination: str
    text: str
    status_report_requested: bool
    concat: tuple[int, int, int] | None  # (reference, part_count, part_number)
    message_reference: int
    smsc: str | None

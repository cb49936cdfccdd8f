"""Delivery: the receipt of an accepted part, a status report as the modem hands it over,
and the classification of its TP-Status.

Nothing here matches a report to its part: the modem hands each decoded status report
straight to its ``on_report``, and the receiver matches it (the gateway does so in its
database, by modem, TP-MR and recipient, so that a report that overtook the record of its
send, or that arrives after a restart, still finds its part). ``submitted_at`` and
``discharge_time`` are aware datetimes. Plain values, safe from any thread; nothing raises
but :meth:`DeliveryReport.ack`, which gives the modem the word that the report is applied.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from modem.pdu.codec import StatusReport


@dataclasses.dataclass(frozen=True)
class PartReceipt:
    """One accepted SMS-SUBMIT: ``reference`` is the ``+CMGS`` TP-MR (0-255, None if the
    modem gave none); ``submitted_at`` is aware UTC from the modem's clock."""

    modem: str
    reference: int | None
    destination: str
    part_number: int
    part_count: int
    concat_reference: int | None
    submitted_at: datetime


@dataclasses.dataclass(frozen=True)
class DeliveryReport:
    """A status report from ``modem``: ``reference`` is the TP-MR of the part it reports
    (0-255), ``recipient`` the number as the SMSC wrote it (possibly in national form:
    compare numbers with :func:`modem.numbers.digits_tail`). ``outcome``: ``delivered``,
    ``temporary_failure`` (the SMSC is still trying; a final report may follow) or
    ``permanent_failure``; ``status`` the TP-Status byte; ``discharge_time`` when the SMSC
    delivered or gave up (aware, the SMSC's offset), or None."""

    modem: str
    reference: int
    recipient: str
    outcome: str
    status: int
    discharge_time: datetime | None
    # What the modem still holds of it (modem.message_store.Claim), None when nothing.
    _claim: Any = dataclasses.field(default=None, repr=False, compare=False)

    def ack(self) -> None:
        """The report is safely applied: delete it from the SIM, or acknowledge its direct
        delivery (AT+CNMA). Idempotent, any thread; raises ModemError."""
        if self._claim is not None:
            self._claim.ack()

    def release(self) -> None:
        """Not applied: leave it on the SIM for the next sweep, or refuse its direct
        delivery so that the network delivers it again. Idempotent, any thread."""
        if self._claim is not None:
            self._claim.release()

    def defer(self) -> None:
        """Kept to be applied later (its send is not recorded yet): the handler returns
        without it being acknowledged, and whoever deferred it calls ``ack()`` once it is
        applied or given up, or ``release()``. Until then a crash leaves it on the SIM or
        unacknowledged, so it comes again."""
        object.__setattr__(self, "_deferred", True)  # a flag of the delivery, not data

    @property
    def deferred(self) -> bool:
        return getattr(self, "_deferred", False)


def outcome_of(report: StatusReport) -> str:
    """``delivered``, ``temporary_failure`` or ``permanent_failure``."""
    if report.delivered:
        return "delivered"
    return "temporary_failure" if report.temporary else "permanent_failure"

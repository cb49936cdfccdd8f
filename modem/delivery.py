"""Delivery reports: matching a status report to the part it reports, and classifying it.

A report is matched by (TP-MR, recipient's last 8 digits) to a :class:`PartReceipt` of this
modem session. A report that overtakes its ``+CMGS`` answer waits up to ``ORPHAN_WAIT``
seconds for the receipt, then goes out unmatched (``receipt=None``).

Threads: :meth:`ReportMatcher.expect` may be called from any thread (the sending one);
:meth:`ReportMatcher.report` and :meth:`ReportMatcher.expire_orphans` run on the modem's
events thread, which is where ``on_report`` runs. Times are monotonic seconds of the clock;
``submitted_at`` and ``discharge_time`` are aware datetimes. Nothing here raises (a failing
``on_report`` propagates to the events thread, which logs it).
"""
from __future__ import annotations

import collections
import dataclasses
import logging
import threading
from datetime import datetime
from typing import Callable

from modem.pdu.codec import StatusReport
from modem.clock import Clock

log = logging.getLogger(__name__)


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
    """A status report. ``outcome``: ``delivered``, ``temporary_failure`` (the SMSC is still
    trying; a final report may follow) or ``permanent_failure``. ``receipt`` is the part it
    reports, or None when no receipt of this modem session matches."""

    modem: str
    reference: int
    recipient: str
    outcome: str
    status: int
    discharge_time: datetime | None
    receipt: PartReceipt | None


def _tail(number: str) -> str:
    """The last 8 digits: national and international forms of a number compare equal."""
    return "".join(ch for ch in number if ch.isdigit())[-8:]


def outcome_of(report: StatusReport) -> str:
    """``delivered``, ``temporary_failure`` or ``permanent_failure``."""
    if report.delivered:
        return "delivered"
    return "temporary_failure" if report.temporary else "permanent_failure"


class ReportMatcher:
    """The receipts of one modem awaiting their report, and reports awaiting their receipt.

    ``post(task)`` runs ``task`` on the events thread (False if it could not be queued).
    """

    ORPHAN_WAIT = 30.0  # seconds a report waits for the receipt of a send still returning
    RECEIPTS_KEPT = 4096

    def __init__(self, name: str, *, on_report: Callable[[DeliveryReport], None] | None,
                 clock: Clock, post: Callable[[Callable[[], None]], bool]):
        self._name, self._on_report, self._clock, self._post = name, on_report, clock, post
        self._lock = threading.Lock()  # guards the two fields below
        self._receipts: collections.OrderedDict = collections.OrderedDict()
        self._orphans: dict[tuple, tuple[float, StatusReport]] = {}

    def expect(self, receipt: PartReceipt) -> None:
        """Remember a sent part so that its status report can be matched (any thread)."""
        if receipt.reference is None:
            return
        key = (receipt.reference, _tail(receipt.destination))
        with self._lock:
            self._receipts[key] = receipt
            while len(self._receipts) > self.RECEIPTS_KEPT:
                self._receipts.popitem(last=False)
            orphan = self._orphans.pop(key, None)
        if orphan is not None:  # the report overtook the +CMGS answer
            self._post(lambda: self._deliver(orphan[1], receipt))

    def report(self, report: StatusReport) -> None:
        """A status report arrived: hand it over matched, or keep it for ORPHAN_WAIT."""
        key = (report.reference, _tail(report.recipient))
        with self._lock:
            receipt = self._receipts.get(key)
            if receipt is None:
                self._orphans[key] = (self._clock.monotonic(), report)
                return
        self._deliver(report, receipt)

    def expire_orphans(self) -> None:
        """Hand over, unmatched, the reports that waited ORPHAN_WAIT for their receipt."""
        now = self._clock.monotonic()
        with self._lock:
            stale = [k for k, (seen, _) in self._orphans.items() if now - seen >= self.ORPHAN_WAIT]
            reports = [self._orphans.pop(key)[1] for key in stale]
        for report in reports:
            self._deliver(report, None)

    def _deliver(self, report: StatusReport, receipt: PartReceipt | None) -> None:
        if not report.temporary and receipt is not None:  # final: no other report follows
            with self._lock:
                self._receipts.pop((report.reference, _tail(report.recipient)), None)
        delivery = DeliveryReport(self._name, report.reference, report.recipient,
                                  outcome_of(report), report.status, report.discharge_time,
                                  receipt)
        if self._on_report is not None:
            self._on_report(delivery)
        else:
            log.info("%s: delivery report %s", self._name, delivery)

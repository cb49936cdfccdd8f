"""Delivery reports: matched to the part they report in the database, by modem, TP-MR and
recipient (a keyed hash of its last digits: a report in national form finds an
international number, and the outbox keeps no number in clear), also after a restart; a
report that overtook the commit of its send waits in the :class:`ReportBacklog`. The
outbox row follows its parts: delivered when every part is, failed when one part failed
for good."""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

from gateway import metrics
from gateway.crypto.tokens import ServerSecret
from gateway.deps import Deps
from modem.driver import DeliveryReport
from modem.exceptions import ModemError
from modem.numbers import digits_tail

log = logging.getLogger(__name__)

# TP-MR is one byte: a report older than this cannot be matched with confidence.
REPORT_WINDOW = timedelta(days=3)
PART_STATUS = {"delivered": "delivered", "temporary_failure": "temporary_failure",
               "permanent_failure": "failed"}
RECIPIENT_DIGEST = "report-recipient"


def recipient_digest(secret: ServerSecret, number: str) -> str | None:
    """The keyed hash by which a report finds the SMS it reports: of the number's last
    digits, the same for +33612345678 and 0612345678; None for a number without digits."""
    tail = digits_tail(number)
    return secret.digest(RECIPIENT_DIGEST, tail) if tail else None


def record_report(deps: Deps, report: DeliveryReport, quiet: bool = False,
                  worker: str | None = None) -> bool:
    """Apply ``report`` in one transaction; False when no part sent by its modem (of
    ``worker``, when given: modem names repeat across boxes) in the last REPORT_WINDOW
    has its TP-MR and recipient (nothing changed)."""
    now = deps.now()
    with deps.uow() as uow:
        part = uow.outbox.part_for_report(report.modem, report.reference,
                                          recipient_digest(deps.secret, report.recipient),
                                          now - REPORT_WINDOW, worker)
        if part is None:
            if not quiet:
                log.info("delivery report from %s (TP-MR %s) matches no sent SMS yet",
                         report.modem, report.reference)
            return False
        before, parts = uow.outbox.report_part(part.id, part.outbox_id,
                                               PART_STATUS[report.outcome], now)
        statuses = set(parts)
        values = {"updated_at": now}
        if "failed" in statuses:
            values.update(status="failed",
                          last_error=f"not delivered (TP-Status 0x{report.status:02x})")
        elif len(parts) == part.part_count and statuses == {"delivered"}:
            values.update(status="delivered", delivered_at=now)
        elif report.outcome == "temporary_failure":
            values["last_error"] = f"the SMSC is still trying (TP-Status 0x{report.status:02x})"
        uow.outbox.update_row(part.outbox_id, **values)
        uow.commit()
    metrics.report_applied(before, values.get("status", before), part.modem)
    return True


class ReportBacklog:
    """Delivery reports that arrived before the send they report was recorded: the
    network's report can overtake the dispatcher's commit of the parts. They are applied
    again after every recorded send (``retry``, from the send threads) and by the status
    job, and dropped with a warning after ``KEEP_SECONDS``. Thread-safe.

    A report waiting here is deferred, not acknowledged (``DeliveryReport.defer``): it is
    acknowledged (deleted from the SIM, or ``AT+CNMA``) only once applied or given up, so
    a crash meanwhile leaves it on the SIM (or unacknowledged, so the network delivers it
    again) and it is matched after the restart. ``release_all`` at stop gives back those
    still waiting."""

    KEEP_SECONDS = 600.0

    def __init__(self, deps: Deps, worker: str | None = None) -> None:
        """``worker``: the identity whose modems' reports these are."""
        self._deps, self._worker = deps, worker
        self._waiting: list[tuple[float, DeliveryReport]] = []
        self._retries = 0  # how many retries began: see handle
        self._lock = threading.Lock()

    def handle(self, report: DeliveryReport) -> None:
        """Apply ``report`` now, or keep it for later. A retry that began between our
        lookup and our keeping the report (its send recorded meanwhile, whose retry found
        nothing waiting) would leave it waiting for the next one: then retry at once."""
        with self._lock:
            retries = self._retries
        if not record_report(self._deps, report, worker=self._worker):
            report.defer()
            with self._lock:
                self._waiting.append((self._deps.clock.monotonic(), report))
                missed = self._retries != retries
            if missed:
                self.retry()

    def retry(self) -> None:
        with self._lock:
            self._retries += 1
            waiting, self._waiting = self._waiting, []
        now, keep = self._deps.clock.monotonic(), []
        for since, report in waiting:
            if record_report(self._deps, report, quiet=True, worker=self._worker):
                _acknowledge(report)
                continue
            if now - since < self.KEEP_SECONDS:
                keep.append((since, report))
            else:
                log.warning("delivery report from %s (TP-MR %s) never matched a sent SMS; "
                            "dropped", report.modem, report.reference)
                _acknowledge(report)
        with self._lock:
            self._waiting.extend(keep)

    def release_all(self) -> None:
        """At stop: give back the reports still waiting (they come again after the
        restart: left on the SIM, or delivered again by the network)."""
        with self._lock:
            waiting, self._waiting = self._waiting, []
        for _since, report in waiting:
            report.release()

    def __len__(self) -> int:
        with self._lock:
            return len(self._waiting)


def _acknowledge(report: DeliveryReport) -> None:
    """Acknowledge a report applied or given up; a modem gone meanwhile is not an error
    (the report comes again and is then matched, or dropped again)."""
    try:
        report.ack()
    except ModemError as exc:
        log.warning("delivery report from %s (TP-MR %s) applied, but not acknowledged: %s",
                    report.modem, report.reference, exc)

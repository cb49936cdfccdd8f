"""Delivery reports: matched to the part they report (in memory by the driver, else by
modem, TP-MR and recipient from the database, also after a restart), and the outbox row
follows its parts: delivered when every part is, failed when one part failed for good."""
from __future__ import annotations

import logging
from datetime import timedelta

from gateway import metrics
from gateway.verification.deps import Deps
from modem.driver import DeliveryReport

log = logging.getLogger(__name__)

# TP-MR is one byte: a report older than this cannot be matched with confidence.
REPORT_WINDOW = timedelta(days=3)
PART_STATUS = {"delivered": "delivered", "temporary_failure": "temporary_failure",
               "permanent_failure": "failed"}


def record_report(deps: Deps, report: DeliveryReport) -> bool:
    """Apply ``report``; False when no sent part matches it (logged, nothing changed)."""
    now = deps.now()
    recipient = report.receipt.destination if report.receipt else report.recipient
    with deps.uow() as uow:
        part = uow.queue.part_for_report(report.modem, report.reference, recipient,
                                         now - REPORT_WINDOW)
        if part is None:
            log.info("delivery report from %s (TP-MR %s) matches no sent SMS",
                     report.modem, report.reference)
            return False
        part.status, part.reported_at = PART_STATUS[report.outcome], now
        row = uow.queue.get(part.outbox_id)
        before = row.status
        parts = uow.queue.parts_of(row.id)
        statuses = {p.status for p in parts}
        if "failed" in statuses:
            row.status = "failed"
            row.last_error = f"not delivered (TP-Status 0x{report.status:02x})"
        elif len(parts) == part.part_count and statuses == {"delivered"}:
            row.status, row.delivered_at = "delivered", now
        elif report.outcome == "temporary_failure":
            row.last_error = f"the SMSC is still trying (TP-Status 0x{report.status:02x})"
        row.updated_at = now
        uow.commit()
    metrics.report_applied(before, row.status, part.modem)
    return True


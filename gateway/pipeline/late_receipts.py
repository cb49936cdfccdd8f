"""Late send receipts: a modem that answers ``+CMGS: <mr>`` after its send was given up.

A send with no answer within the modem's limit is recorded ``unknown`` (it may have gone
out). The modem's AT engine keeps that exchange open, and if the ``+CMGS: <mr>`` still comes
the pool calls the send's ``on_late(PartReceipt)`` on the modem's events thread
(modem.at.engine). :class:`LateReceipts` makes that callback for each send
(:meth:`LateReceipts.expect`); once the send thread has recorded its outcome
(:meth:`LateReceipts.settled`), the part is added to the row with its TP-MR, so that its
delivery report matches (gateway.pipeline.reports), and the row becomes ``sent`` once each
of its parts was accepted.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

from gateway import metrics
from gateway.deps import Deps
from gateway.pipeline.reports import recipient_digest
from gateway.storage.models import OutboundPart
from modem.delivery import PartReceipt

log = logging.getLogger(__name__)
SETTLE_WAIT = 60.0  # seconds a late receipt waits for its send's outcome to be committed


class LateReceipts:
    """Thread-safe. ``on_recorded()`` runs after each late receipt is committed (reports
    that came before it can match now)."""

    def __init__(self, deps: Deps, on_recorded: Callable[[], None] = lambda: None) -> None:
        self._deps, self._on_recorded = deps, on_recorded
        self._unsettled: dict[int, threading.Event] = {}
        self._lock = threading.Lock()

    def expect(self, outbox_id: int, recipient: str) -> Callable[[PartReceipt], None]:
        """The ``on_late`` of the send of row ``outbox_id`` (call before sending)."""
        settled = threading.Event()
        with self._lock:
            self._unsettled[outbox_id] = settled

        def late(receipt: PartReceipt) -> None:
            # The receipt can overtake the send thread's commit of "unknown": wait for it.
            if not settled.wait(SETTLE_WAIT):
                log.error("outbox %s: a late receipt (TP-MR %s) came, but the send's outcome "
                          "was not recorded within %g s; it stays as recorded", outbox_id,
                          receipt.reference, SETTLE_WAIT)
                return
            if record_late_receipt(self._deps, outbox_id, recipient, receipt):
                self._on_recorded()

        return late

    def settled(self, outbox_id: int) -> None:
        """The send of row ``outbox_id`` has recorded its outcome (whatever it was)."""
        with self._lock:
            settled = self._unsettled.pop(outbox_id, None)
        if settled is not None:
            settled.set()


def record_late_receipt(deps: Deps, outbox_id: int, recipient: str,
                        receipt: PartReceipt) -> bool:
    """Add the part of ``receipt`` to row ``outbox_id``, recorded ``unknown``, in one
    transaction; the row becomes ``sent`` when it then has all its parts. False (nothing
    changed, logged) when the row is not ``unknown``."""
    now = deps.now()
    with deps.uow() as uow:
        row = uow.outbox.get(outbox_id)
        if row is None or row.status != "unknown":
            log.warning("outbox %s: %s accepted part %d late (TP-MR %s), but the row is %s: "
                        "left as it is", outbox_id, receipt.modem, receipt.part_number,
                        receipt.reference, row.status if row else "gone")
            return False
        uow.outbox.add_part(OutboundPart(
            outbox_id=outbox_id, part_number=receipt.part_number,
            part_count=receipt.part_count, modem=receipt.modem, reference=receipt.reference,
            status="sent", submitted_at=receipt.submitted_at))
        row.modem = row.modem or receipt.modem
        row.recipient_digest = row.recipient_digest or recipient_digest(deps.secret, recipient)
        row.sent_at, row.updated_at = row.sent_at or now, now
        accepted = len(uow.outbox.parts_of(outbox_id))
        if accepted >= receipt.part_count:
            row.status, row.last_error = "sent", None
        else:
            row.last_error = (f"part {receipt.part_number} of {receipt.part_count} accepted "
                              f"late; {receipt.part_count - accepted} part(s) not sent")
        status = row.status
        uow.commit()
    if status == "sent":
        metrics.outbox_finished("sent", receipt.modem)  # its "unknown" stays counted: it was
    log.warning("outbox %s: %s accepted part %d of %d late (TP-MR %s); the row is %s",
                outbox_id, receipt.modem, receipt.part_number, receipt.part_count,
                receipt.reference, status)
    return True

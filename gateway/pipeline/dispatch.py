"""The outbox dispatcher: claims due rows and sends them through the modem pool.

Threads: ``dispatch_due`` runs on the scheduler's executor; each claimed row is sent on
one of ``slots`` threads named ``outbox-send-N`` (one per modem), so the dispatcher never
claims more rows than it can send at once and no claimed row waits.

A row's outcome: ``sent`` (with one outbox_parts row per accepted part), back to
``queued`` with a backoff (rejected before any part went out, no modem available),
``failed`` (out of attempts or time, bad number, rejected after some parts went out, or
sealed under a session that is gone) or ``unknown`` (no answer in time, or the worker
stopped mid-send: it may have been sent, so it is never resent blindly).

Claims: a row is claimed under the worker's identity (``claimed_by``) and a lease of
``worker_lease`` seconds, which the worker's heartbeat renews while it lives; when a
worker dies, another one marks its rows ``unknown`` once the lease ended
(gateway.pipeline.leases); a restarted worker does so at once with its own.

The number and text of a row are sealed (gateway.crypto.sealing): opened at the claim,
they live in memory (``Outgoing``) only while the row is sent, and a row that becomes
final is scrubbed in the same write (``sealed`` set to NULL). A sent row keeps only the
keyed hash by which delivery reports find it (gateway.pipeline.reports).
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from gateway import metrics
from gateway.crypto.sealing import open_sms
from gateway.crypto.tokens import SealError
from gateway.deps import Deps
from gateway.pipeline.late_receipts import LateReceipts
from gateway.pipeline.reports import recipient_digest
from gateway.storage.models import OutboundSms
from modem.numbers import mask_number
from modem.exceptions import ModemError, NoModemAvailable, SendOutcomeUnknown, SendRejected
from modem.pool import ModemPool

log = logging.getLogger(__name__)
SPEED_SMOOTHING = 0.3  # weight of the newest measurement in the moving average
UNREADABLE = ("cannot be opened: its session is gone (unregistered or expired) or the "
              "server secret changed")


def make_final(row: OutboundSms, status: str, error: str | None, now) -> None:
    """Give ``row`` a final status, scrubbing its sealed number and text in the same write."""
    row.status, row.last_error, row.updated_at, row.sealed = status, error, now, None


@dataclass(frozen=True)
class Outgoing:
    """What a send thread needs of a claimed row (no ORM object crosses threads)."""

    id: int
    recipient: str
    text: str
    mcc: str | None
    mnc: str | None
    region: str | None
    attempts: int


class Dispatcher:
    def __init__(self, deps: Deps, pool: ModemPool, worker_id: str, slots: int,
                 on_recorded: Callable[[], None] = lambda: None,
                 on_free: Callable[[], None] = lambda: None) -> None:
        """``on_recorded`` runs on the send thread after each accepted send is committed
        (and on a modem's events thread after a late receipt, gateway.pipeline.late_receipts).
        ``on_free`` runs on the send thread each time a send slot becomes free (the worker
        then claims the next due row at once, not at its next poll)."""
        self._on_recorded = on_recorded
        self._on_free = on_free
        self._late = LateReceipts(deps, on_recorded)
        self._deps, self._pool, self._worker = deps, pool, worker_id
        self._slots = max(1, slots)
        self._busy = 0
        self._lock = threading.Lock()  # guards _busy and _seconds_per_part
        self._executor = ThreadPoolExecutor(self._slots, thread_name_prefix="outbox-send")
        self._seconds_per_part: dict[str, float] = {}

    def recover_interrupted(self) -> int:
        """At start: rows this worker (this identity) was sending when it stopped are
        ``unknown``, whatever their lease; other workers' rows are left to their leases."""
        with self._deps.uow() as uow:
            rows = uow.outbox.interrupted(self._worker)
            for row in rows:
                make_final(row, "unknown",
                           "the worker stopped while sending: it may have been sent",
                           self._deps.now())
            uow.commit()
        metrics.outbox_finished("unknown", None, count=len(rows))
        if rows:
            log.warning("%d SMS were being sent when the worker stopped: marked unknown",
                        len(rows))
        return len(rows)

    def dispatch_due(self) -> list[Future]:
        """Claim as many due rows as there are free send slots and start sending them on
        the send threads; returns one future per send started, done once the send's
        outcome is recorded (the scheduler ignores them; tests wait on them)."""
        with self._lock:
            free = self._slots - self._busy
            if free <= 0:
                return []
            with self._deps.uow(read_only=True) as uow:  # no write lock when nothing is due
                if not uow.outbox.any_due(self._deps.now()):
                    return []
            with self._deps.uow() as uow:
                rows = uow.outbox.claim_due(self._deps.now(), free, self._worker,
                                            self._deps.settings.worker_lease)
                batch, unreadable = self._open(rows, uow.outbox.session_bindings(rows))
                uow.commit()
            self._busy += len(batch)
        if unreadable:
            metrics.outbox_finished("failed", None, count=len(unreadable))
            log.warning("outbox %s: %s", ", ".join(map(str, unreadable)), UNREADABLE)
        return [self._executor.submit(self._send_guarded, sms) for sms in batch]

    def _open(self, rows: list[OutboundSms],
              bindings: dict[int, str | None]) -> tuple[list[Outgoing], list[int]]:
        """Open the claimed rows' sealed numbers and texts; a row that cannot be opened
        (its session is gone) fails at once, in the claim's transaction. Returns what to
        send and the ids of the rows that failed."""
        batch, unreadable = [], []
        for row in rows:
            try:
                recipient, text = open_sms(self._deps.secret, bindings[row.id], row.sealed)
            except SealError:
                make_final(row, "failed", UNREADABLE, self._deps.now())
                unreadable.append(row.id)
                continue
            batch.append(Outgoing(row.id, recipient, text, row.mcc, row.mnc, row.region,
                                  row.attempts))
        return batch, unreadable

    def speeds(self) -> dict[str, float]:
        """Measured seconds per SMS part, per modem."""
        with self._lock:
            return dict(self._seconds_per_part)

    def close(self) -> None:
        """Wait for the sends in progress (they finish or time out), then stop."""
        self._executor.shutdown(wait=True)

    def _send_guarded(self, sms: Outgoing) -> None:
        try:
            self._send(sms)
        except Exception:  # top of a thread: the row stays "sending" -> unknown at restart
            log.exception("sending outbox row %s failed unexpectedly", sms.id)
        finally:
            self._late.settled(sms.id)  # a late receipt may apply now
            with self._lock:
                self._busy -= 1
            self._on_free()

    def _send(self, sms: Outgoing) -> None:
        started = self._deps.clock.monotonic()
        try:
            result = self._pool.send(sms.recipient, sms.text, mcc=sms.mcc, mnc=sms.mnc,
                                     region=sms.region,
                                     on_late=self._late.expect(sms.id, sms.recipient))
        except SendOutcomeUnknown as exc:
            self._finish(sms, "unknown", f"no answer from the modem in time: {exc}",
                         receipts=exc.accepted)
        except SendRejected as exc:
            if exc.accepted:  # some parts went out: resending would duplicate them
                self._finish(sms, "failed", f"rejected after some parts: {exc}",
                             receipts=exc.accepted)
            else:
                self._retry(sms, f"rejected by every modem: {exc}")
        except NoModemAvailable as exc:
            self._retry(sms, f"no modem available: {exc}", after=exc.retry_after,
                        counts=False)
        except ValueError as exc:
            self._finish(sms, "failed", f"cannot be sent: {exc}")
        except ModemError as exc:
            self._retry(sms, f"modem error: {exc}")
        else:
            elapsed = self._deps.clock.monotonic() - started
            self._measure(result.modem, elapsed, len(result.receipts))
            self._finish(sms, "sent", None, receipts=result.receipts, modem=result.modem)
            metrics.sms_accepted(result.modem, elapsed)  # after the commit: reports follow fast
            log.info("outbox %s sent to %s by %s (%d part(s))", sms.id,
                     mask_number(sms.recipient), result.modem, len(result.receipts))

    def _measure(self, modem: str, seconds: float, parts: int) -> None:
        sample = seconds / max(1, parts)
        with self._lock:
            old = self._seconds_per_part.get(modem)
            self._seconds_per_part[modem] = sample if old is None else (
                SPEED_SMOOTHING * sample + (1 - SPEED_SMOOTHING) * old)

    def _finish(self, sms: Outgoing, status: str, error: str | None, *, receipts=(),
                modem: str | None = None) -> None:
        now = self._deps.now()
        parts = [dict(outbox_id=sms.id, part_number=receipt.part_number,
                      part_count=receipt.part_count, modem=receipt.modem,
                      reference=receipt.reference, status="sent",
                      submitted_at=receipt.submitted_at) for receipt in receipts]
        digest = recipient_digest(self._deps.secret, sms.recipient) if receipts else None
        with self._deps.uow() as uow:
            row_modem = uow.outbox.finish(
                sms.id, status, error, now, parts=parts, recipient_digest=digest,
                modem=modem or (receipts[0].modem if receipts else None))
            uow.commit()
        metrics.outbox_finished(status, row_modem)
        if receipts:
            self._on_recorded()  # reports that overtook this commit can match now
        if status != "sent":
            log.warning("outbox %s to %s: %s (%s)", sms.id, mask_number(sms.recipient),
                        status, error)

    def _retry(self, sms: Outgoing, error: str, *, after: float | None = None,
               counts: bool = True) -> None:
        """Back to the queue with a doubling backoff, unless out of attempts or time."""
        settings, now = self._deps.settings, self._deps.now()
        attempts = sms.attempts if counts else sms.attempts - 1
        delay = after or settings.retry_backoff * 2 ** max(0, attempts - 1)
        with self._deps.uow() as uow:
            row = uow.outbox.get(sms.id)
            row.attempts, row.last_error, row.updated_at = attempts, error, now
            next_at = now + timedelta(seconds=delay)
            if attempts >= settings.max_send_attempts or next_at >= row.expires_at:
                make_final(row, "failed", error, now)
            else:
                row.status, row.next_attempt_at = "queued", next_at
            uow.commit()
            status = row.status
        metrics.outbox_finished(status, None)  # counts only a row that gave up
        log.warning("outbox %s to %s: %s; %s", sms.id, mask_number(sms.recipient), error,
                    "gave up" if status == "failed" else f"retry in {delay:.0f} s")

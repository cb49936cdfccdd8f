"""The ``webhook_events`` table (issue 14): webhooks waiting for their delivery. Every
method runs in the caller's transaction."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, delete, func, or_, select, update

from gateway.storage.models import WebhookEvent
from gateway.storage.transaction import WEBHOOK_WORK, Repository


EVENTS = WebhookEvent.__table__
# Pending, due, and not claimed (or its claim lapsed: a worker died mid-delivery).
_CLAIMABLE = (select(EVENTS.c.id)
              .where(EVENTS.c.status == "pending", EVENTS.c.next_attempt_at <= bindparam("now"),
                     or_(EVENTS.c.claimed_until.is_(None),
                         EVENTS.c.claimed_until <= bindparam("now")))
              .order_by(EVENTS.c.next_attempt_at, EVENTS.c.id).limit(bindparam("limit")))
_CLAIMABLE_SKIP_LOCKED = _CLAIMABLE.with_for_update(skip_locked=True)  # PostgreSQL
# When a pending event may next be claimed: when it is due, or when its claim lapses.
_NEXT_CLAIMABLE = select(func.min(case(
    (EVENTS.c.claimed_until > EVENTS.c.next_attempt_at, EVENTS.c.claimed_until),
    else_=EVENTS.c.next_attempt_at))).where(EVENTS.c.status == "pending")


class WebhooksRepository(Repository):
    """Pending, delivered and failed webhook events."""

    def add(self, row: WebhookEvent) -> None:
        self._tx.before_write()
        self._db.add(row)
        self._db.flush()
        self._tx.wake_worker(WEBHOOK_WORK)

    def claim_due(self, now: datetime, limit: int, lease_seconds: float) -> list[WebhookEvent]:
        """Claim up to ``limit`` pending events that are due and not claimed (or whose
        claim lapsed: a worker died mid-delivery) until ``now + lease_seconds``; one
        attempt more each. On PostgreSQL concurrent workers skip each other's rows."""
        connection = self._tx.before_write()
        query = _CLAIMABLE_SKIP_LOCKED if connection.dialect.name == "postgresql" else _CLAIMABLE
        ids = list(connection.execute(query, {"now": now, "limit": limit}).scalars())
        if not ids:
            return []
        self._db.execute(update(WebhookEvent).where(WebhookEvent.id.in_(ids)).values(
            claimed_until=now + timedelta(seconds=lease_seconds),
            attempts=WebhookEvent.attempts + 1))
        return list(self._db.scalars(select(WebhookEvent).where(WebhookEvent.id.in_(ids))
                                     .order_by(WebhookEvent.id)
                                     .execution_options(populate_existing=True)))

    def any_due(self, now: datetime) -> bool:
        """Whether an event can be claimed now (a read: the sender asks before it claims,
        so that a pass with nothing to deliver takes no write lock)."""
        return self._tx.connection().execute(_CLAIMABLE, {"now": now, "limit": 1}).first() \
            is not None

    def next_due(self) -> datetime | None:
        """When a pending event may next be claimed: when it is due, or, when another
        worker holds its claim, when that claim lapses (None: nothing pending)."""
        return self._tx.connection().execute(_NEXT_CLAIMABLE).scalar()

    def update(self, row_id: int, **values) -> None:
        self._tx.before_write()
        self._db.execute(update(WebhookEvent).where(WebhookEvent.id == row_id).values(**values))

    def all(self) -> list[WebhookEvent]:
        return list(self._db.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))

    def delete_expired(self, now: datetime, keep_seconds: int = 7 * 86400) -> dict:
        """Delivered or failed events older than ``keep_seconds``."""
        self._tx.before_write()
        result = self._db.execute(delete(WebhookEvent).where(
            WebhookEvent.status != "pending",
            WebhookEvent.created_at < now - timedelta(seconds=keep_seconds)))
        return {"webhook_events": result.rowcount}

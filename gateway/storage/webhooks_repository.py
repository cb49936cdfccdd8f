"""The ``webhook_events`` table (issue 14): webhooks waiting for their delivery. Every
method runs in the caller's transaction."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update

from gateway.storage.models import WebhookEvent
from gateway.storage.transaction import Repository


class WebhooksRepository(Repository):
    """Pending, delivered and failed webhook events."""

    def add(self, row: WebhookEvent) -> None:
        self._tx.before_write()
        self._db.add(row)
        self._db.flush()

    def claim_due(self, now: datetime, limit: int, lease_seconds: float) -> list[WebhookEvent]:
        """Claim up to ``limit`` pending events that are due and not claimed (or whose
        claim lapsed: a worker died mid-delivery) until ``now + lease_seconds``; one
        attempt more each. On PostgreSQL concurrent workers skip each other's rows."""
        self._tx.before_write()
        query = (select(WebhookEvent.id).where(
            WebhookEvent.status == "pending", WebhookEvent.next_attempt_at <= now,
            or_(WebhookEvent.claimed_until.is_(None), WebhookEvent.claimed_until <= now))
            .order_by(WebhookEvent.next_attempt_at, WebhookEvent.id).limit(limit))
        if self._db.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = list(self._db.scalars(query))
        if not ids:
            return []
        self._db.execute(update(WebhookEvent).where(WebhookEvent.id.in_(ids)).values(
            claimed_until=now + timedelta(seconds=lease_seconds),
            attempts=WebhookEvent.attempts + 1))
        return list(self._db.scalars(select(WebhookEvent).where(WebhookEvent.id.in_(ids))
                                     .order_by(WebhookEvent.id)
                                     .execution_options(populate_existing=True)))

    def next_due(self) -> datetime | None:
        return self._db.scalar(select(WebhookEvent.next_attempt_at).where(
            WebhookEvent.status == "pending").order_by(WebhookEvent.next_attempt_at).limit(1))

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

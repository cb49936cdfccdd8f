"""The ``sna_requests`` table (issue 14). Every method runs in the caller's transaction;
rows are changed through these methods only."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from gateway.storage.models import SnaRequest
from gateway.storage.transaction import Repository


class SnaRepository(Repository):
    """Silent-authentication requests by request id, proof and code."""

    def add(self, row: SnaRequest) -> SnaRequest:
        self._tx.before_write()
        self._db.add(row)
        self._db.flush()
        return row

    def by_request_id(self, request_id: str) -> SnaRequest | None:
        return self._db.scalars(
            select(SnaRequest).where(SnaRequest.request_id == request_id)).first()

    def by_link(self, link_digest: str) -> SnaRequest | None:
        return self._db.scalars(
            select(SnaRequest).where(SnaRequest.link_digest == link_digest)).first()

    def by_proof(self, proof_id: int) -> SnaRequest | None:
        return self._db.scalars(
            select(SnaRequest).where(SnaRequest.proof_id == proof_id)).first()

    def by_code(self, code_digest: str) -> SnaRequest | None:
        return self._db.scalars(
            select(SnaRequest).where(SnaRequest.code_digest == code_digest)).first()

    def update(self, row_id: int, **values) -> None:
        self._tx.before_write()
        self._db.execute(update(SnaRequest).where(SnaRequest.id == row_id).values(**values))
        self._db.expire_all()

    def use_code(self, code_digest: str, now: datetime) -> bool:
        """Mark the unexpired, unused code used; False if there is none (single use)."""
        self._tx.before_write()
        result = self._db.execute(update(SnaRequest).where(
            SnaRequest.code_digest == code_digest, SnaRequest.code_used_at.is_(None),
            SnaRequest.code_expires_at > now).values(code_used_at=now))
        self._db.expire_all()
        return result.rowcount == 1

    def pending_expired(self, now: datetime, limit: int = 500) -> list[SnaRequest]:
        """Requests still pending whose time is up (the cleanup ends them)."""
        return list(self._db.scalars(select(SnaRequest).where(
            SnaRequest.status == "pending", SnaRequest.expires_at <= now)
            .order_by(SnaRequest.id).limit(limit)))

    def delete_expired(self, now: datetime, keep_seconds: int = 3600) -> dict:
        """Requests past their expiry, kept ``keep_seconds`` more for a status."""
        self._tx.before_write()
        cutoff = now - timedelta(seconds=keep_seconds)
        result = self._db.execute(delete(SnaRequest).where(SnaRequest.expires_at < cutoff))
        return {"sna_requests": result.rowcount}

"""The workers table: each worker's identity and heartbeat (gateway.pipeline.leases).
Every method runs in the caller's transaction, in Core."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Row, delete, func, select, update

from gateway.storage.modem_status_repository import upsert_row
from gateway.storage.models import WorkerStatus
from gateway.storage.transaction import Repository

WORKERS = WorkerStatus.__table__


class WorkerRepository(Repository):
    """Who works on this database and when each was last heard of."""

    def get(self, worker: str) -> Row | None:
        return self._tx.connection().execute(
            select(WORKERS).where(WORKERS.c.id == worker)).first()

    def register(self, values: dict) -> None:
        """Write a worker's row (all of WorkerStatus's columns), replacing its old one."""
        upsert_row(self._tx.before_write(), WORKERS, values)

    def touch(self, worker: str, instance: str, now: datetime) -> bool:
        """Renew the heartbeat of ``worker`` if ``instance`` still owns its row; False
        when another instance took it (two workers share one identity) or it is gone."""
        result = self._tx.before_write().execute(
            update(WORKERS).where(WORKERS.c.id == worker, WORKERS.c.instance == instance)
            .values(last_seen=now, stopped_at=None))
        return bool(result.rowcount)

    def stopped(self, worker: str, instance: str, now: datetime) -> None:
        """A clean stop: nothing of it is in flight any more."""
        self._tx.before_write().execute(
            update(WORKERS).where(WORKERS.c.id == worker, WORKERS.c.instance == instance)
            .values(last_seen=now, stopped_at=now))

    def forget_silent(self, before: datetime) -> int:
        """Remove the workers last heard of before ``before`` (a box retired or renamed
        long ago); returns how many."""
        return self._tx.before_write().execute(
            delete(WORKERS).where(WORKERS.c.last_seen < before)).rowcount

    def all(self) -> list[Row]:
        return self._tx.connection().execute(select(WORKERS).order_by(WORKERS.c.id)).all()

    def database_time(self) -> datetime | None:
        """The database server's clock (PostgreSQL), to compare with this box's; None
        where the database is a file on this box (SQLite) or the dialect is not known."""
        connection = self._tx.connection()
        if connection.dialect.name != "postgresql":
            return None
        return connection.execute(select(func.now())).scalar()

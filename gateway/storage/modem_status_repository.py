"""The modem_status table: the worker publishes, the API and the admin commands read.
Every method runs in the caller's transaction."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.storage.models import ModemStatus


class ModemStatusRepository:
    """What each worker last published about its modems (the API reads it)."""

    def __init__(self, session: Session) -> None:
        self._db = session

    def upsert(self, values: dict) -> None:
        row = self._db.get(ModemStatus, values["name"])
        if row is None:
            self._db.add(ModemStatus(**values))
        else:
            for key, value in values.items():
                setattr(row, key, value)

    def remove_except(self, names: list[str]) -> None:
        for row in self._db.scalars(select(ModemStatus)):
            if row.name not in names:
                self._db.delete(row)

    def fresh(self, now: datetime, ttl_seconds: int) -> list[ModemStatus]:
        """Statuses written within ``ttl_seconds``, by name."""
        since = now - timedelta(seconds=ttl_seconds)
        return list(self._db.scalars(select(ModemStatus).where(ModemStatus.updated_at >= since)
                                     .order_by(ModemStatus.name)))

    def all(self) -> list[ModemStatus]:
        """Every published status, by name, however old."""
        return list(self._db.scalars(select(ModemStatus).order_by(ModemStatus.name)))

"""The modem_status table: the worker publishes, the API and the admin commands read.
Every method runs in the caller's transaction."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Row, bindparam, select

from gateway.storage.models import ModemStatus
from gateway.storage.transaction import Repository

STATUSES = ModemStatus.__table__
_FRESH = (select(STATUSES).where(STATUSES.c.updated_at >= bindparam("since"))
          .order_by(STATUSES.c.name))


class ModemStatusRepository(Repository):
    """What each worker last published about its modems (the API reads it)."""

    def upsert(self, values: dict) -> None:
        self._tx.before_write()
        row = self._db.get(ModemStatus, values["name"])
        if row is None:
            self._db.add(ModemStatus(**values))
        else:
            for key, value in values.items():
                setattr(row, key, value)

    def remove_except(self, names: list[str]) -> None:
        self._tx.before_write()
        for row in self._db.scalars(select(ModemStatus)):
            if row.name not in names:
                self._db.delete(row)

    def fresh(self, now: datetime, ttl_seconds: int) -> list[Row]:
        """Statuses written within ``ttl_seconds``, by name: read-only rows (Core) with
        the columns of ModemStatus as attributes."""
        since = now - timedelta(seconds=ttl_seconds)
        return self._tx.connection().execute(_FRESH, {"since": since}).all()

    def all(self) -> list[ModemStatus]:
        """Every published status, by name, however old."""
        return list(self._db.scalars(select(ModemStatus).order_by(ModemStatus.name)))

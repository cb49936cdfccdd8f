"""The modem_status table: each worker publishes its own modems' rows, the API and the
admin commands read every box's. Rows are keyed by (worker, name): modem names are a
box's own, and two boxes may both have a ``modem0``. Every method runs in the caller's
transaction, in Core (no ORM object: a row another worker deletes cannot go stale under
us)."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, Row, Table, bindparam, delete, insert, select, update

from gateway.storage.models import ModemStatus
from gateway.storage.repositories import on_conflict_insert
from gateway.storage.transaction import Repository

STATUSES = ModemStatus.__table__
_ORDER = (STATUSES.c.name, STATUSES.c.worker)
_FRESH = (select(STATUSES).where(STATUSES.c.updated_at >= bindparam("since"))
          .order_by(*_ORDER))


def upsert_row(connection: Connection, table: Table, values: dict) -> None:
    """Insert ``values`` into ``table``, or update the row with their primary key: one
    INSERT ... ON CONFLICT DO UPDATE where the dialect has it, else UPDATE then INSERT
    (enough for rows that only one writer inserts)."""
    key = [column.name for column in table.primary_key.columns]
    changes = {name: value for name, value in values.items() if name not in key}
    upsert = on_conflict_insert(connection.dialect.name)
    if upsert is not None:
        connection.execute(upsert(table).values(values)
                           .on_conflict_do_update(index_elements=key, set_=changes))
        return
    where = [table.c[name] == values[name] for name in key]
    if not connection.execute(update(table).where(*where).values(changes)).rowcount:
        connection.execute(insert(table).values(values))


_FRESH_KEY = ("modems.fresh",)  # in the transaction's cache: (cut-off, rows read)


class ModemStatusRepository(Repository):
    """What each worker last published about its modems (the API reads it)."""

    def upsert(self, values: dict) -> None:
        """Write one modem's status; ``values`` has ModemStatus's columns, ``worker`` and
        ``name`` included."""
        upsert_row(self._tx.before_write(), STATUSES, values)
        self._forget()

    def remove_except(self, worker: str, names: list[str]) -> int:
        """Remove ``worker``'s rows of modems not in ``names`` (no longer configured);
        another worker's rows are never touched. Returns how many went."""
        condition = [STATUSES.c.worker == worker]
        if names:
            condition.append(STATUSES.c.name.not_in(names))
        self._forget()
        return self._tx.before_write().execute(delete(STATUSES).where(*condition)).rowcount

    def remove_stale(self, now: datetime, ttl_seconds: int) -> int:
        """Remove every worker's rows older than ``ttl_seconds`` (a worker that stopped
        reporting: nobody trusts them any more); returns how many went."""
        since = now - timedelta(seconds=ttl_seconds)
        self._forget()
        return self._tx.before_write().execute(
            delete(STATUSES).where(STATUSES.c.updated_at < since)).rowcount

    def fresh(self, now: datetime, ttl_seconds: int) -> list[Row]:
        """Every worker's statuses written within ``ttl_seconds``, by name then worker:
        read-only rows (Core) with the columns of ModemStatus as attributes. Read once per
        transaction (an SMS's admission asks twice: the capacity, the destination
        countries): a later ask with a later or equal cut-off filters what was read; a
        write of statuses in the transaction makes the next ask read again."""
        since = now - timedelta(seconds=ttl_seconds)
        read = self._tx.cache.get(_FRESH_KEY)
        if read is not None and since >= read[0]:
            return [row for row in read[1] if row.updated_at >= since]
        rows = self._tx.connection().execute(_FRESH, {"since": since}).all()
        self._tx.cache[_FRESH_KEY] = (since, rows)
        return rows

    def _forget(self) -> None:
        self._tx.cache.pop(_FRESH_KEY, None)

    def all(self) -> list[Row]:
        """Every published status, however old, by worker then name (read-only rows)."""
        return self._tx.connection().execute(
            select(STATUSES).order_by(STATUSES.c.worker, STATUSES.c.name)).all()

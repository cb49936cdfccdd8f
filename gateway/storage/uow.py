"""The unit of work: one transaction, the repositories that run inside it.

Usage::

    with uow_factory() as uow:
        ...
        uow.commit()

Leaving the block without ``commit()`` (or by an exception) rolls everything back.
Use cases see the abstract :class:`UnitOfWork`: its repositories and three methods, never
the SQLAlchemy session. :class:`SqlUnitOfWork` is the real one; the fast tests run the use
cases against an in-memory one with the same surface (tests/fake_storage.py).
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from typing import ContextManager, Iterator, Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from gateway.storage.inbox_repository import InboxRepository
from gateway.storage.modem_status_repository import ModemStatusRepository
from gateway.storage.outbox_repository import OutboxRepository
from gateway.storage.repositories import (CodeRepository, CounterRepository,
                                          NonceRepository, SessionRepository,
                                          delete_expired)
from gateway.storage.sim_repository import SimMailboxRepository


class UnitOfWork(Protocol):
    """One transaction and the repositories that run inside it."""

    sessions: SessionRepository
    codes: CodeRepository
    nonces: NonceRepository
    counters: CounterRepository
    outbox: OutboxRepository
    inbox: InboxRepository
    modems: ModemStatusRepository
    sim: SimMailboxRepository

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(self, *exc_info) -> None:
        """Roll back whatever was not committed."""

    def commit(self) -> None: ...

    def savepoint(self) -> ContextManager[None]:
        """A nested transaction: an exception leaving it undoes only what it did."""

    def delete_expired(self, now: datetime, outbox_retention_seconds: int) -> dict:
        """Housekeeping; rows removed or expired per table."""


class SqlUnitOfWork:
    """The unit of work over one SQLAlchemy session."""

    def __init__(self, factory: sessionmaker) -> None:
        self._factory = factory

    def __enter__(self) -> SqlUnitOfWork:
        self.db = self._factory()
        self.sessions = SessionRepository(self.db)
        self.codes = CodeRepository(self.db)
        self.nonces = NonceRepository(self.db)
        self.counters = CounterRepository(self.db)
        self.outbox = OutboxRepository(self.db)
        self.inbox = InboxRepository(self.db)
        self.modems = ModemStatusRepository(self.db)
        self.sim = SimMailboxRepository(self.db)
        return self

    def __exit__(self, *exc_info) -> None:
        # close() rolls back what was not committed and detaches the objects without
        # expiring them, so callers may read what they loaded after the block.
        self.db.close()

    def commit(self) -> None:
        self.db.commit()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: an exception leaving the block undoes only what was done
        inside it (and propagates); the rest of the unit of work stays usable."""
        with self.db.begin_nested():
            yield

    def delete_expired(self, now: datetime, outbox_retention_seconds: int) -> dict:
        """Housekeeping (see gateway.storage.repositories.delete_expired): rows per table."""
        return delete_expired(self.db, now, outbox_retention_seconds)


def uow_factory(engine: Engine):
    """A callable returning a fresh SqlUnitOfWork bound to ``engine``."""
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    return lambda: SqlUnitOfWork(factory)

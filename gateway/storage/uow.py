"""The unit of work: one transaction, the repositories that run inside it.

Usage::

    with uow_factory() as uow:
        ...
        uow.commit()

Leaving the block without ``commit()`` (or by an exception) rolls everything back.
"""
from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from gateway.storage.pipeline import Inbox, ModemStatusTable, OutboxQueue, SimMailboxes
from gateway.storage.repositories import (CodeRepository, CounterRepository,
                                          NonceRepository, OutboxRepository,
                                          SessionRepository)


class UnitOfWork:
    def __init__(self, factory: sessionmaker) -> None:
        self._factory = factory

    def __enter__(self) -> "UnitOfWork":
        self.db = self._factory()
        self.sessions = SessionRepository(self.db)
        self.codes = CodeRepository(self.db)
        self.nonces = NonceRepository(self.db)
        self.counters = CounterRepository(self.db)
        self.outbox = OutboxRepository(self.db)
        self.queue = OutboxQueue(self.db)
        self.inbox = Inbox(self.db)
        self.modems = ModemStatusTable(self.db)
        self.sim = SimMailboxes(self.db)
        return self

    def __exit__(self, *exc_info) -> None:
        # close() rolls back what was not committed and detaches the objects without
        # expiring them, so callers may read what they loaded after the block.
        self.db.close()

    def commit(self) -> None:
        self.db.commit()


def uow_factory(engine: Engine):
    """A callable returning a fresh UnitOfWork bound to ``engine``."""
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    return lambda: UnitOfWork(factory)

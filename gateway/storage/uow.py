"""The unit of work: one transaction, the repositories that run inside it.

Usage::

    with deps.uow() as uow:
        ...
        uow.commit()

Leaving the block without ``commit()`` (or by an exception) rolls back what the block did.
Use cases see the abstract :class:`UnitOfWork`: its repositories and a few methods, never
the SQLAlchemy session. :class:`SqlUnitOfWork` is the real one; the fast tests run the use
cases against an in-memory one with the same surface (tests/fake_storage.py).

``deps.uow`` is a :class:`UnitOfWorkFactory`. Normally each call opens a transaction of
its own. While an *ambient* unit of work is open in the calling context (the HTTP layer
opens one per request: gateway.http.transaction), each call instead opens a unit of work
**nested** in it: a savepoint of the ambient transaction, taken just before its first
write. Its ``commit()`` releases the savepoint (the work becomes part of the ambient
transaction, committed with it); leaving it without commit rolls back its own work only.
So a use case is the same code alone (tests, the worker) and inside a request, and a
request costs one transaction: the per-client counter, the Hawk nonce and the use case's
work are committed together, once.

``read_only=True`` declares a unit of work that only reads: a write in it raises
ReadOnlyViolation, and when it is the one that begins the transaction, SQLite begins a
read transaction (see gateway.storage.transaction) that takes no write lock.
"""
from __future__ import annotations

import functools
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Callable, ContextManager, Iterator, Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gateway.storage.admin_figures_repository import AdminFiguresRepository
from gateway.storage.accounts_repository import AccountRepository
from gateway.storage.inbox_repository import InboxRepository
from gateway.storage.clients_repository import ClientsRepository
from gateway.storage.proofs_repository import ProofsRepository
from gateway.storage.modem_status_repository import ModemStatusRepository
from gateway.storage.outbox_repository import OutboxRepository
from gateway.storage.repositories import (DEFAULT_INBOX_RETENTION, CodeRepository,
                                          CounterRepository, NonceRepository,
                                          SessionRepository, delete_expired)
from gateway.storage.sim_repository import SimMailboxRepository
from gateway.storage.sna_repository import SnaRepository
from gateway.storage.webhooks_repository import WebhooksRepository
from gateway.storage.guard_repository import GuardRepository
from gateway.storage.worker_repository import WorkerRepository
from gateway.storage.transaction import (Connections, KeptConnections, ReadOnlyViolation,
                                         Transaction)

__all__ = ["UnitOfWork", "UnitOfWorkFactory", "SqlUnitOfWork", "NestedUnitOfWork",
           "SqlUnitOfWorkFactory", "AmbientScope", "ReadOnlyViolation", "uow_factory"]


class UnitOfWork(Protocol):
    """One transaction (or a savepoint of one) and the repositories that run inside it."""

    sessions: SessionRepository
    codes: CodeRepository
    nonces: NonceRepository
    counters: CounterRepository
    outbox: OutboxRepository
    inbox: InboxRepository
    modems: ModemStatusRepository
    sim: SimMailboxRepository
    guard: GuardRepository
    workers: WorkerRepository
    accounts: AccountRepository  # the TextSecure face's
    admin_figures: AdminFiguresRepository
    clients: ClientsRepository
    proofs: ProofsRepository
    sna: SnaRepository  # the SNA face's requests (issue 14)
    webhooks: WebhooksRepository  # webhooks to deliver (issue 14)

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(self, *exc_info) -> None:
        """Roll back whatever was not committed."""

    def commit(self) -> None: ...

    def rollback(self) -> None:
        """Undo what was not committed; the unit of work stays usable."""

    def savepoint(self) -> ContextManager[None]:
        """A nested transaction: an exception leaving it undoes only what it did."""

    def delete_expired(self, now: datetime, outbox_retention_seconds: int,
                       inbox_retention_seconds: int = DEFAULT_INBOX_RETENTION) -> dict:
        """Housekeeping; rows removed or expired per table."""


class UnitOfWorkFactory(Protocol):
    """What ``Deps.uow`` is (see the module docstring)."""

    def __call__(self, *, read_only: bool = False) -> UnitOfWork: ...

    def ambient(self) -> ContextManager[UnitOfWork]:
        """A unit of work that every unit of work opened in this context (thread) joins
        as a nested one, until the block ends. Its transaction begins at its first
        statement; the caller commits it."""


def _repository(kind: type) -> functools.cached_property:
    @functools.cached_property
    def repository(self):
        return kind(self._tx)
    return repository


class SqlUnitOfWork:
    """The unit of work over one connection (see the module docstring and
    gateway.storage.transaction)."""

    def __init__(self, connections: Connections, sessions: sessionmaker,
                 read_only: bool | None = False,
                 wake_worker: Callable[[bytes], None] | None = None) -> None:
        self._connections, self._sessions = connections, sessions
        self._read_only, self._wake_worker = read_only, wake_worker

    def __enter__(self) -> SqlUnitOfWork:
        self._tx = Transaction(self._connections, self._sessions, self._read_only,
                               self._wake_worker)
        return self

    # The repositories, each made at its first use (a request uses two or three).
    sessions = _repository(SessionRepository)
    codes = _repository(CodeRepository)
    nonces = _repository(NonceRepository)
    counters = _repository(CounterRepository)
    outbox = _repository(OutboxRepository)
    inbox = _repository(InboxRepository)
    modems = _repository(ModemStatusRepository)
    sim = _repository(SimMailboxRepository)
    guard = _repository(GuardRepository)
    workers = _repository(WorkerRepository)
    accounts = _repository(AccountRepository)
    admin_figures = _repository(AdminFiguresRepository)  # read-only (the admin page)
    clients = _repository(ClientsRepository)
    proofs = _repository(ProofsRepository)
    sna = _repository(SnaRepository)
    webhooks = _repository(WebhooksRepository)

    def __exit__(self, *exc_info) -> None:
        # close() rolls back what was not committed and detaches the objects without
        # expiring them, so callers may read what they loaded after the block.
        self._tx.close()

    @property
    def db(self) -> Session:
        """The ORM session (tests and the ORM repositories), transaction begun."""
        return self._tx.session()

    def commit(self) -> None:
        self._tx.commit()

    def rollback(self) -> None:
        self._tx.rollback()

    def nested(self, read_only: bool = False) -> NestedUnitOfWork:
        return NestedUnitOfWork(self, self._tx, read_only)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: an exception leaving the block undoes only what was done
        inside it (and propagates); the rest of the unit of work stays usable."""
        savepoint = self._tx.savepoint()
        try:
            yield
        except BaseException:
            self._tx.cache.clear()
            savepoint.rollback()
            raise
        savepoint.commit()

    def delete_expired(self, now: datetime, outbox_retention_seconds: int,
                       inbox_retention_seconds: int = DEFAULT_INBOX_RETENTION) -> dict:
        """Housekeeping (see gateway.storage.repositories.delete_expired): rows per table."""
        self._tx.before_write()
        counts = delete_expired(self._tx.session(), now, outbox_retention_seconds,
                                inbox_retention_seconds)
        counts.update(self.guard.delete_expired(now))
        counts.update(self.sna.delete_expired(now))  # before the proofs they point to
        counts.update(self.webhooks.delete_expired(now))
        counts.update(self.proofs.delete_expired(now))  # one-time proofs and their grants
        return counts


class NestedUnitOfWork:
    """A unit of work inside another's transaction, with the same repositories.

    Its savepoint is taken lazily, just before its first write, and only when the
    transaction already holds other work; when it holds none, a rollback of the whole
    transaction undoes exactly this unit's work, and no SAVEPOINT is needed.
    ``commit()`` releases the savepoint; a write after it takes a new one. Changes go
    through repository methods (which call the write hook first), never by setting
    attributes of loaded ORM rows.
    """

    def __init__(self, parent: SqlUnitOfWork, transaction: Transaction, read_only: bool) -> None:
        self._parent, self._tx, self.read_only = parent, transaction, read_only
        self._savepoint = None
        self._unguarded = False  # wrote with no savepoint: the transaction holds only that

    def __enter__(self) -> NestedUnitOfWork:
        self._outer, self._tx.innermost = self._tx.innermost, self
        return self

    sessions = property(lambda self: self._parent.sessions)
    codes = property(lambda self: self._parent.codes)
    nonces = property(lambda self: self._parent.nonces)
    counters = property(lambda self: self._parent.counters)
    outbox = property(lambda self: self._parent.outbox)
    inbox = property(lambda self: self._parent.inbox)
    modems = property(lambda self: self._parent.modems)
    sim = property(lambda self: self._parent.sim)
    guard = property(lambda self: self._parent.guard)
    workers = property(lambda self: self._parent.workers)
    admin_figures = property(lambda self: self._parent.admin_figures)
    accounts = property(lambda self: self._parent.accounts)
    clients = property(lambda self: self._parent.clients)
    proofs = property(lambda self: self._parent.proofs)
    sna = property(lambda self: self._parent.sna)
    webhooks = property(lambda self: self._parent.webhooks)

    def __exit__(self, *exc_info) -> None:
        try:
            self.rollback()
        finally:
            self._tx.innermost = self._outer

    @property
    def db(self) -> Session:
        return self._parent.db

    def before_write(self, transaction_begun: bool) -> None:
        """The write hook (gateway.storage.transaction): take the savepoint if needed."""
        if self.read_only:
            raise ReadOnlyViolation("a write in a read-only unit of work")
        if self._savepoint is None and not self._unguarded:
            if transaction_begun:
                self._savepoint = self._tx.savepoint()
            else:
                self._unguarded = True

    def commit(self) -> None:
        if self._savepoint is not None:
            savepoint, self._savepoint = self._savepoint, None
            savepoint.commit()
        elif self._unguarded:
            self._tx.flush()
        self._unguarded = False

    def rollback(self) -> None:
        if self._savepoint is not None:
            savepoint, self._savepoint = self._savepoint, None
            self._tx.cache.clear()
            savepoint.rollback()
        elif self._unguarded:
            self._unguarded = False
            self._tx.rollback()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        self.before_write(self._tx.begun)  # ours first, so that the two nest
        with self._parent.savepoint():
            yield

    def delete_expired(self, now: datetime, outbox_retention_seconds: int,
                       inbox_retention_seconds: int = DEFAULT_INBOX_RETENTION) -> dict:
        return self._parent.delete_expired(now, outbox_retention_seconds,
                                           inbox_retention_seconds)


class SqlUnitOfWorkFactory:
    """``Deps.uow`` over an engine (see the module docstring)."""

    def __init__(self, engine: Engine, wake_worker: Callable[[bytes], None] | None = None,
                 keep_connections: bool = False) -> None:
        self._engine, self._wake_worker = engine, wake_worker
        self._connections = (KeptConnections if keep_connections else Connections)(engine)
        # ORM sessions are bound to a unit of work's connection and own its transaction.
        self._sessionmaker = sessionmaker(expire_on_commit=False,
                                          join_transaction_mode="control_fully")
        self._ambient: ContextVar[SqlUnitOfWork | None] = ContextVar(
            "ambient_unit_of_work", default=None)

    def __call__(self, *, read_only: bool = False) -> SqlUnitOfWork | NestedUnitOfWork:
        ambient = self._ambient.get()
        if ambient is not None:
            return ambient.nested(read_only)
        return SqlUnitOfWork(self._connections, self._sessionmaker, read_only,
                             self._wake_worker)

    def ambient(self) -> AmbientScope:
        return AmbientScope(self._ambient,
                            SqlUnitOfWork(self._connections, self._sessionmaker,
                                          read_only=None, wake_worker=self._wake_worker))


class AmbientScope:
    """``with factory.ambient() as uow``: ``uow`` is the ambient unit of work of this
    context until the block ends (a class, not a generator: it runs on every request)."""

    __slots__ = ("_variable", "_uow", "_token")

    def __init__(self, variable: ContextVar, uow: SqlUnitOfWork) -> None:
        self._variable, self._uow = variable, uow

    def __enter__(self) -> SqlUnitOfWork:
        if self._variable.get() is not None:
            raise RuntimeError("an ambient unit of work is already open in this context")
        self._uow.__enter__()
        self._token = self._variable.set(self._uow)
        return self._uow

    def __exit__(self, *exc_info) -> None:
        try:
            self._uow.__exit__(*exc_info)
        finally:
            self._variable.reset(self._token)


def uow_factory(engine: Engine, wake_worker: Callable[[bytes], None] | None = None,
                keep_connections: bool = False) -> SqlUnitOfWorkFactory:
    """The unit-of-work factory (``Deps.uow``) bound to ``engine``. ``wake_worker`` runs
    after each commit that gave the worker something to do, with the kinds of that work
    (gateway.storage.transaction.WORK_KINDS).
    ``keep_connections``: each thread keeps its connection between transactions
    (gateway.storage.transaction.KeptConnections)."""
    return SqlUnitOfWorkFactory(engine, wake_worker, keep_connections)

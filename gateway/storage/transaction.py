"""What the repositories of one transaction share: a connection for Core statements, an
ORM session created only when an ORM repository needs one, the hook run before every
write, savepoints, and a cache of rows read.

A unit of work (gateway.storage.uow) owns one ``Transaction``; the units of work nested in
it share it. Repositories never begin, commit or roll back: they ask for ``connection()``
to read, ``before_write()`` to write, and ``session()`` for the ORM.

The API's hot path (sessions, codes, nonces, counters, the outbox insert, modem status)
is Core only, so a request builds no ORM session at all: that is most of what SQLAlchemy
costs per request. The worker's repositories use the ORM; their session is bound to the
same connection and takes control of its transaction (``join_transaction_mode=
"control_fully"``), so a commit commits both.

The transaction begins at its first statement, in one of two modes: a write transaction
(on SQLite ``BEGIN IMMEDIATE``: it takes the write lock at once, so that a read-then-write
never fails with SQLITE_BUSY), or, when the unit of work that issues the first statement
is read-only, a read transaction (plain ``BEGIN``: it waits for no writer and blocks none).
A read transaction refuses writes.

A repository that gives the worker something to do calls ``wake_worker(kind)``, the kind
being one of :data:`WORK_KINDS` (an outbox row to send, a simulator request, a webhook to
deliver); once the transaction commits, the ``wake_worker`` hook the unit-of-work factory
was given runs once with the kinds given (gateway.pipeline.doorbell rings the worker of
this box with them, so that the SMS leaves now rather than at the next poll, and only
the worker's pumps with that kind of work wake).
"""
from __future__ import annotations

import itertools
import os
import threading
from typing import TYPE_CHECKING, Callable

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.storage.db import READ_ONLY, execute_on_driver

if TYPE_CHECKING:
    from gateway.storage.uow import NestedUnitOfWork


#: The kinds of work a commit gives the worker (``Transaction.wake_worker``), one byte
#: each: they are the doorbell's message.
OUTBOX_WORK, SIMULATOR_WORK, WEBHOOK_WORK = b"o", b"s", b"w"
WORK_KINDS = OUTBOX_WORK + SIMULATOR_WORK + WEBHOOK_WORK


class ReadOnlyViolation(RuntimeError):
    """A write in a unit of work declared read-only (a programming error)."""


_savepoint_names = itertools.count(1)


class CoreSavepoint:
    """A SAVEPOINT run as plain SQL on the driver's connection: a few µs, where
    SQLAlchemy's ``begin_nested()`` compiles its clause anew each time (over 100 µs).
    SQLAlchemy does not track it, which is harmless: it sees one root transaction either
    way. Used when no ORM session exists, so no ORM state can go stale; if one is created
    inside (an ORM write in a nested unit of work), a rollback detaches every ORM object,
    all made inside."""

    __slots__ = ("_tx", "_name")

    def __init__(self, transaction: Transaction) -> None:
        self._tx = transaction
        self._name = f"gw_sp_{next(_savepoint_names)}"
        self._run(f"SAVEPOINT {self._name}")

    def _run(self, sql: str) -> None:
        execute_on_driver(self._tx.connection(), sql)

    def commit(self) -> None:
        """Release: the work stays in the enclosing transaction."""
        self._tx.flush()
        self._run(f"RELEASE SAVEPOINT {self._name}")

    def rollback(self) -> None:
        self._run(f"ROLLBACK TO SAVEPOINT {self._name}")
        self._run(f"RELEASE SAVEPOINT {self._name}")
        self._tx.forget_orm_objects()
        self._tx.cache.clear()


class Connections:
    """Where transactions get a connection and give it back: the engine's pool."""

    __slots__ = ("engine",)

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def connect(self) -> Connection:
        return self.engine.connect()

    def release(self, connection: Connection) -> None:
        connection.close()


class KeptConnections(Connections):
    """The main thread's connection kept from one transaction to the next, instead of a
    checkout from the pool and a checkin (with its reset) around each: about 35 µs of CPU
    per request. For the API processes on a SQLite file (gateway.process.wiring), whose
    app runs on the main thread (the event loop's); other threads use the pool as before,
    so a thread that ends leaves no connection behind and the pool is never held by
    threads that come and go. Not on a database server, where a connection unused for a
    while must be pinged at checkout (gateway.storage.db.PING_AFTER_IDLE).

    A connection that SQLAlchemy invalidated is closed, not kept; one still in a
    transaction is rolled back first. A forked child never uses its parent's."""

    __slots__ = ("_kept", "_pid", "_inherited")

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._kept: Connection | None = None
        self._pid = 0
        self._inherited: list = []  # a parent's kept connection, never touched in a child

    def connect(self) -> Connection:
        kept = self._kept
        if kept is not None and threading.current_thread() is threading.main_thread():
            self._kept = None
            if self._pid == os.getpid():
                if not kept.invalidated and not kept.closed:
                    return kept
            else:
                self._inherited.append(kept)
        return self.engine.connect()

    def release(self, connection: Connection) -> None:
        if (self._kept is not None or connection.closed or connection.invalidated
                or threading.current_thread() is not threading.main_thread()):
            connection.close()
            return
        if connection.in_transaction():
            connection.rollback()
        self._kept, self._pid = connection, os.getpid()


class Transaction:
    """One database transaction at a time over one connection (see the module docstring).

    ``read_only``: True or False for the whole life of the unit of work, or None for a
    unit of work that others join (gateway.storage.uow's ambient one): then the first
    statement decides, by the unit of work that issues it.
    """

    __slots__ = ("cache", "innermost", "_connections", "_sessions", "_read_only", "_mode",
                 "_connection", "_option", "_session", "_wake_hook", "_wake")

    def __init__(self, connections: Connections, sessions: sessionmaker,
                 read_only: bool | None,
                 wake_worker: Callable[[bytes], None] | None = None) -> None:
        self._wake_hook, self._wake = wake_worker, b""
        self.cache: dict = {}  # rows read in this transaction, by the repositories' keys
        self.innermost: NestedUnitOfWork | None = None  # the nested unit of work in use
        self._connections, self._sessions = connections, sessions
        self._read_only = read_only
        self._mode: bool | None = None  # None until begun, then whether read-only
        self._connection: Connection | None = None
        self._option = False  # the READ_ONLY execution option set on the connection
        self._session: Session | None = None

    @property
    def begun(self) -> bool:
        return self._mode is not None

    def connection(self) -> Connection:
        """The connection, its transaction begun (in its mode) if needed."""
        connection = self._connection
        if self._mode is None:
            read_only = self._read_only
            if read_only is None:
                inner = self.innermost
                read_only = inner is not None and inner.read_only
            if connection is None:
                connection = self._connection = self._connections.connect()
                self._option = connection.get_execution_options().get(READ_ONLY, False)
            if read_only != self._option:
                connection.execution_options(**{READ_ONLY: read_only})
                self._option = read_only
            if not connection.in_transaction():
                connection.begin()
            self._mode = read_only
        return connection

    def session(self) -> Session:
        """The ORM session on this connection (created at the first need), transaction
        begun."""
        connection = self.connection()
        if self._session is None:
            self._session = self._sessions(bind=connection)
        return self._session

    @property
    def db(self) -> Session:
        return self.session()

    def before_write(self) -> Connection:
        """Called by every repository method before it writes: refuses a write in a
        read-only unit of work or transaction, and lets the nested unit of work in use
        take its savepoint first. Returns the connection."""
        inner = self.innermost
        if inner is None:
            if self._read_only:
                raise ReadOnlyViolation("a write in a read-only unit of work")
        else:
            inner.before_write(self._mode is not None)
        connection = self.connection()
        if self._mode:
            raise ReadOnlyViolation("a write in a transaction that began read-only")
        return connection

    def savepoint(self):
        """Begin a SAVEPOINT now; returns an object whose ``commit()`` releases it and
        ``rollback()`` undoes what was done since. Through the ORM session when one exists
        (so that its objects follow), else as plain SQL (CoreSavepoint)."""
        if self._session is None:
            return CoreSavepoint(self)
        savepoint = self._session.begin_nested()
        self._session.connection()  # emit it now: Core statements bypass the session
        return savepoint

    def flush(self) -> None:
        if self._session is not None:
            self._session.flush()

    def forget_orm_objects(self) -> None:
        if self._session is not None:
            self._session.expunge_all()

    def commit(self) -> None:
        """Commit (flushing ORM changes); the next statement begins a new transaction."""
        try:
            if self._session is not None:
                if self._mode and (self._session.new or self._session.dirty
                                   or self._session.deleted):
                    raise ReadOnlyViolation("ORM changes in a transaction that began "
                                            "read-only")
                self._session.commit()
            # Also after the session's commit: a session that never began (made, then
            # given nothing to do) commits nothing, and Core writes before it would be
            # lost with the connection.
            if self._connection is not None and self._connection.in_transaction():
                self._connection.commit()
            if self._wake and self._wake_hook is not None:
                self._wake_hook(self._wake)  # never raises (a ring nobody hears is fine)
        finally:
            self._ended()

    def wake_worker(self, kind: bytes) -> None:
        """Wake the worker's pumps of ``kind`` (one of WORK_KINDS) once this transaction
        commits (see the module docstring)."""
        if kind not in self._wake:
            self._wake += kind

    def rollback(self) -> None:
        """Undo everything not committed; the next statement begins a new transaction."""
        try:
            if self._session is not None:
                self._session.rollback()
            if self._connection is not None and self._connection.in_transaction():
                self._connection.rollback()
        finally:
            self._ended()

    def close(self) -> None:
        """Roll back what was not committed and give the connection back to the pool.
        ORM objects stay readable (detached, not expired)."""
        try:
            if self._session is not None:
                self._session.close()
        finally:
            try:
                if self._connection is not None:
                    self._connections.release(self._connection)
            finally:
                self._connection = self._session = None
                self._ended()

    def _ended(self) -> None:
        self._mode = None
        self._wake = b""
        self.cache.clear()


class Repository:
    """Base of the repositories: ``_tx`` for Core, ``_db`` for the ORM session."""

    def __init__(self, transaction: Transaction) -> None:
        self._tx = transaction

    @property
    def _db(self) -> Session:
        return self._tx.session()

    def _add_unless_there(self, row, key) -> bool:
        """Insert the ORM object ``row`` in a savepoint; False (nothing inserted, the
        transaction goes on) when a row with its value of the unique column ``key`` is
        there already. Raises IntegrityError when the database refuses the row for
        another reason: taken for "there already", it would pass for stored (an inbox
        SMS deleted from the SIM) or be tried again for ever (a new client id)."""
        self._tx.before_write()
        try:
            with self._db.begin_nested():
                self._db.add(row)
                self._db.flush()
        except IntegrityError:
            there = select(key).where(key == getattr(row, key.key)).limit(1)
            if self._db.scalar(there) is not None:
                return False
            raise
        return True

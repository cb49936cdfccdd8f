"""The engine: one ``make_engine()`` for every process, with SQLite made safe for
several processes (WAL, foreign keys, busy timeout, BEGIN IMMEDIATE with a short-step
wait for the write lock) and deleted data zeroed (secure_delete); on a database server,
a pooled connection is checked before use only when it sat unused for a while
(``PING_AFTER_IDLE``). A SQLite file made here is private to its owner (0600, in a
0700 directory when that is made too), whatever the umask."""
from __future__ import annotations

import os
import time
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError

# The steps of a wait for the write lock (writer_lock.lock_wait) are shared with the API
# processes' queue for it.
from gateway.storage.writer_lock import QueuedConnection, lock_wait

SQLITE_BUSY_TIMEOUT_MS = 10_000
#: How long a writer waits for SQLite's write lock before "database is locked" (a 503).
WRITE_LOCK_TIMEOUT = SQLITE_BUSY_TIMEOUT_MS / 1000
SQLITE_BUSY = 5  # the primary result code (extended codes keep it in their low byte)
# Execution option of a connection whose transaction only reads: on SQLite it begins with a
# plain (deferred) BEGIN, which waits for no writer; elsewhere it changes nothing.
READ_ONLY = "gateway_read_only"
READ_ONLY_OPTIONS = {READ_ONLY: True}
# A pooled connection to a database server that sat unused in the pool this many seconds
# is pinged before use (and replaced, transparently, if the server dropped it); one used
# more recently is not: a ping on every checkout (SQLAlchemy's pool_pre_ping) costs a round
# trip on every request (README, "Serving the API": register about 700 -> 1,100 a second
# with 1 ms to the server).
# The price: a connection the server dropped within this time fails the one request that
# uses it (503, errno 201), and that failure makes the pool replace all its connections.
PING_AFTER_IDLE = 1.0
_IDLE_SINCE = "gateway_idle_since"


class DatabaseUrlError(ValueError):
    """The database URL cannot be used."""


def make_engine(url: str, queue_writers: bool = False) -> Engine:
    """Create the engine for ``url``; raises DatabaseUrlError for a malformed URL.

    ``queue_writers`` (the API processes): on a SQLite file, write transactions first
    queue on a lock file beside the database (gateway.storage.writer_lock).

    For a SQLite file the parent directory is created. Every SQLite transaction starts
    with BEGIN IMMEDIATE so that a read-then-write transaction never fails with
    SQLITE_BUSY when another process (an API worker, the modem worker) wrote meanwhile;
    but one on a connection with the READ_ONLY execution option (a transaction that
    only reads, see gateway.storage.transaction) starts with a deferred BEGIN.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseUrlError(f"{url!r} is not a database URL: {exc}") from None
    if parsed.get_backend_name() != "sqlite":
        options = {}
        if parsed.get_backend_name() in ("mysql", "mariadb"):
            # InnoDB's default REPEATABLE READ takes gap locks on the counter upserts, so
            # two racing first hits could deadlock instead of retrying.
            options["isolation_level"] = "READ COMMITTED"
        try:
            engine = create_engine(parsed, **options)
        except Exception as exc:  # missing driver and the like: report, don't crash
            raise DatabaseUrlError(f"cannot use {parsed.render_as_string()}: {exc}") from None
        event.listen(engine, "checkin", _idle_from_now)
        event.listen(engine, "checkout", _pinger(engine.dialect))
        return engine
    try:
        if parsed.database and parsed.database != ":memory:":
            _create_private(Path(parsed.database))
        connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        if queue_writers and parsed.database and parsed.database != ":memory:":
            connect_args["factory"] = QueuedConnection
        engine = create_engine(parsed, connect_args=connect_args)
    except OSError as exc:
        raise DatabaseUrlError(f"cannot create {parsed.database} or its directory: "
                               f"{exc.strerror}") from None
    except Exception as exc:  # unknown driver and the like
        raise DatabaseUrlError(f"cannot use {parsed.render_as_string()}: {exc}") from None
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _create_private(path: Path) -> None:
    """The SQLite file's directory (0700 when made here) and the file itself (0600 when
    made here, empty: SQLite takes it as a new database), whatever the umask: the
    database holds what the README says must not be read by others (received SMS,
    sealed numbers), and SQLite makes its -wal and -shm files with the database file's
    mode. An existing file is left as it is. Raises OSError."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    except FileExistsError:
        pass


def _idle_from_now(dbapi_connection, connection_record) -> None:
    connection_record.info[_IDLE_SINCE] = time.monotonic()


def _pinger(dialect):
    """The pool checkout listener (see PING_AFTER_IDLE): a connection idle too long is
    pinged, and one that fails the ping is reported as disconnected, so that the pool
    replaces it and checks out another (SQLAlchemy's pessimistic disconnect handling)."""

    def ping_if_idle(dbapi_connection, connection_record, connection_proxy) -> None:
        since = connection_record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE:
            return  # new, or used a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(f"the database dropped an idle connection: "
                                     f"{exc}") from exc

    return ping_if_idle


def _sqlite_on_connect(dbapi_connection, connection_record) -> None:
    # Take over transaction control from the sqlite3 module (see _sqlite_on_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Deleted and overwritten rows are zeroed in the file, not left in free space: an
    # inbox row past its retention, a scrubbed outbox row, an unregistered session.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    if connection.get_execution_options().get(READ_ONLY):
        execute_on_driver(connection, "BEGIN")
    else:
        begin_immediate(connection)


def begin_immediate(connection: Connection, timeout: float | None = None,
                    sleep=None, monotonic=time.monotonic) -> None:
    """BEGIN IMMEDIATE on ``connection``'s driver connection. When another connection
    holds the write lock, try again after 0.1, 0.2, then every 0.5 ms, for up to
    ``timeout`` seconds (WRITE_LOCK_TIMEOUT when None); then raise the driver's
    "database is locked" as SQLAlchemy's OperationalError, as the busy timeout did.

    Why not SQLite's busy handler: it sleeps 1, 2, 5, 10, 15 ms... between tries, while a
    write transaction of ours holds the lock for about 0.2 ms. Under load a writer that
    found the lock taken slept 1 ms or more for a lock free again 0.1 ms later: with two
    API processes, register waited 0.4 ms per request on average and its processes were
    idle a third of the time; with these steps 0.07 ms, and about 30 % more requests per
    second (README, "Speed, memory and storage").

    The wait blocks the thread (an API process answers its other connections once this
    request is done): letting them run meanwhile, as an earlier gevent worker did, made
    them queue for the lock behind this one, and the p99 worse. Nothing is held while
    waiting. The connection's busy timeout, off only for this BEGIN, stays the backstop
    of every other statement (a reader during WAL recovery)."""
    timeout = WRITE_LOCK_TIMEOUT if timeout is None else timeout
    deadline, waited = monotonic() + timeout, 0
    queue = getattr(connection.connection.driver_connection, "writer_lock", None)
    if queue is not None:
        try:
            queue.acquire(timeout)
        except TimeoutError as exc:
            error = connection.dialect.loaded_dbapi.OperationalError(
                f"database is locked ({exc})")
            raise DBAPIError.instance("BEGIN IMMEDIATE", None, error,
                                      connection.dialect.loaded_dbapi.Error) from None
    begun = False
    execute_on_driver(connection, "PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                execute_on_driver(connection, "BEGIN IMMEDIATE")
                begun = True
                return
            except DBAPIError as error:
                if not is_busy(error.orig) or monotonic() >= deadline:
                    raise
            sleep = sleep or sleep_between_tries
            sleep(lock_wait(waited))
            waited += 1
    finally:
        if queue is not None and not begun:
            queue.release()
        execute_on_driver(connection, f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


#: How a writer waits between two tries of BEGIN IMMEDIATE (blocking the thread).
sleep_between_tries = time.sleep


def is_busy(error: Exception) -> bool:
    """Whether a driver error is SQLITE_BUSY (another connection holds the lock)."""
    code = getattr(error, "sqlite_errorcode", None)  # Python 3.11 and later
    if code is not None:
        return code & 0xFF == SQLITE_BUSY
    return "database is locked" in str(error)


def execute_on_driver(connection: Connection, sql: str) -> None:
    """Run ``sql`` (no parameters, no rows) on the driver's connection under
    ``connection``: transaction control (BEGIN, SAVEPOINT) on the hot path, where a
    statement through SQLAlchemy costs ten times more. A driver error is raised as
    SQLAlchemy's (OperationalError: "database is locked"), as if SQLAlchemy had run it."""
    error_type = connection.dialect.loaded_dbapi.Error
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(sql)
    except error_type as error:
        raise DBAPIError.instance(sql, None, error, error_type) from error
    finally:
        cursor.close()

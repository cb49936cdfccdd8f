"""The engine: one ``make_engine()`` for every process, with SQLite made safe for
several processes (WAL, foreign keys, busy timeout, BEGIN IMMEDIATE)."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

SQLITE_BUSY_TIMEOUT_MS = 10_000


class DatabaseUrlError(ValueError):
    """The database URL cannot be used."""


def make_engine(url: str) -> Engine:
    """Create the engine for ``url``; raises DatabaseUrlError for a malformed URL.

    For a SQLite file the parent directory is created. Every SQLite transaction starts
    with BEGIN IMMEDIATE so that a read-then-write transaction never fails with
    SQLITE_BUSY when another process (an API worker, the modem worker) wrote meanwhile.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseUrlError(f"{url!r} is not a database URL: {exc}") from None
    if parsed.get_backend_name() != "sqlite":
        options = {"pool_pre_ping": True}
        if parsed.get_backend_name() in ("mysql", "mariadb"):
            # InnoDB's default REPEATABLE READ takes gap locks on the counter upserts, so
            # two racing first hits could deadlock instead of retrying.
            options["isolation_level"] = "READ COMMITTED"
        try:
            return create_engine(parsed, **options)
        except Exception as exc:  # missing driver and the like: report, don't crash
            raise DatabaseUrlError(f"cannot use {parsed.render_as_string()}: {exc}") from None
    try:
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    except OSError as exc:
        raise DatabaseUrlError(f"cannot create the directory of {parsed.database}: "
                               f"{exc.strerror}") from None
    except Exception as exc:  # unknown driver and the like
        raise DatabaseUrlError(f"cannot use {parsed.render_as_string()}: {exc}") from None
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection, connection_record) -> None:
    # Take over transaction control from the sqlite3 module (see _sqlite_on_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_on_begin(connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")

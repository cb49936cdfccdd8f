"""Data access for the use cases: the repositories of the API's hot path (sessions, codes,
nonces, counters), with SQLAlchemy Core statements built once.

Use cases call these methods and never build queries themselves. Every method runs inside
the caller's transaction (see gateway.storage.uow and gateway.storage.transaction).
"""
from __future__ import annotations

import functools
import importlib
from datetime import datetime, timedelta
from typing import Callable, Sequence

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.storage import rate_windows
from gateway.storage.models import (OUTBOX_FINAL, HawkNonce, InboxMessage, OutboundSms,
                                    RateCounter, RateEvent, VerificationCode,
                                    VerificationSession)
from gateway.storage.rate_windows import Window
from gateway.storage.records import CodeRecord, SessionRecord, field_names, values_of
from gateway.storage.transaction import Repository


# The modules of the dialects whose INSERT has ON CONFLICT; elsewhere (MySQL, MariaDB, ...)
# the portable fallbacks below are used.
_ON_CONFLICT_DIALECTS = {"sqlite": "sqlalchemy.dialects.sqlite",
                         "postgresql": "sqlalchemy.dialects.postgresql"}


@functools.cache
def on_conflict_insert(dialect: str):
    """The dialect's ``insert`` supporting ON CONFLICT, or None. Its module is imported
    on the first call: PostgreSQL's weighs 2 MB, which a box on SQLite does not carry."""
    module = _ON_CONFLICT_DIALECTS.get(dialect)
    return None if module is None else importlib.import_module(module).insert


# The default of the inbox_retention setting (gateway.config.settings): 30 days.
DEFAULT_INBOX_RETENTION = 30 * 86400

def remember_nonce_portably(session: Session, digest: str, expires_at: datetime) -> bool:
    """NonceRepository.remember for any dialect: a plain INSERT inside a SAVEPOINT; the
    primary key refusing it (IntegrityError) means the nonce was seen. Only the savepoint
    is rolled back, the caller's transaction goes on."""
    try:
        with session.begin_nested():
            session.execute(insert(HawkNonce).values(digest=digest, expires_at=expires_at))
    except IntegrityError:
        return False
    return True


def _columns(table, record_type) -> list:
    return [table.c[name] for name in field_names(record_type)]


SESSIONS = VerificationSession.__table__
CODES = VerificationCode.__table__
NONCES = HawkNonce.__table__

# Statements built once (building one costs more than running it); parameters are given
# at execution, so each compiles once per dialect and is then taken from the cache.
_SESSION_BY_DIGEST = (select(*_columns(SESSIONS, SessionRecord))
                      .where(SESSIONS.c.hawk_id_digest == bindparam("digest")))
_INSERT_SESSION = insert(SESSIONS)
_UPDATE_SESSION = update(SESSIONS).where(SESSIONS.c.id == bindparam("session_key"))
_DELETE_SESSION = delete(SESSIONS).where(SESSIONS.c.id == bindparam("session_key"))
_CODE_OF_SESSION = (select(*_columns(CODES, CodeRecord))
                    .where(CODES.c.session_id == bindparam("session_key")).with_for_update())
_DELETE_CODES_OF_SESSION = delete(CODES).where(CODES.c.session_id == bindparam("session_key"))
_INSERT_CODE = insert(CODES)
_DELETE_CODE = delete(CODES).where(CODES.c.id == bindparam("code_key"))
_COUNT_FAILURE = (update(CODES).where(CODES.c.id == bindparam("code_key"))
                  .values(failed_attempts=CODES.c.failed_attempts + 1))
_COUNT_FAILURE_RETURNING = _COUNT_FAILURE.returning(CODES.c.failed_attempts)
_FAILURES = select(CODES.c.failed_attempts).where(CODES.c.id == bindparam("code_key"))


@functools.cache
def _remember_nonce(dialect: str):
    """INSERT .. ON CONFLICT DO NOTHING RETURNING digest, or None without ON CONFLICT.
    RETURNING, not rowcount: psycopg 3 reports rowcount -1 for an INSERT once SQLAlchemy
    has closed the cursor (sqlalchemy/sqlalchemy#10696)."""
    upsert = on_conflict_insert(dialect)
    if upsert is None:
        return None
    return (upsert(NONCES).on_conflict_do_nothing(index_elements=["digest"])
            .returning(NONCES.c.digest))


class SessionRepository(Repository):
    """Sessions as SessionRecords, read with Core and cached for the transaction."""

    def add(self, record: SessionRecord) -> int:
        """Insert ``record`` (its ``id`` None); returns the new session's id."""
        result = self._tx.before_write().execute(_INSERT_SESSION, values_of(record))
        return result.inserted_primary_key[0]

    def by_digest(self, hawk_id_digest: str) -> SessionRecord | None:
        row = self._tx.connection().execute(_SESSION_BY_DIGEST,
                                            {"digest": hawk_id_digest}).first()
        return None if row is None else SessionRecord(*row)

    def by_hawk_id(self, hawk_id: str, digest: Callable[[str], str]) -> SessionRecord | None:
        """The session whose stored digest is ``digest(hawk_id)``. Read, and its digest
        computed, once per transaction: a request's Hawk check and its use case share it.
        The hawk id is kept in memory for the transaction only."""
        key = ("session", hawk_id)
        record = self._tx.cache.get(key)
        if record is None:
            record = self.by_digest(digest(hawk_id))
            if record is not None:
                self._tx.cache[key] = record
        return record

    def update(self, session_id: int, **values) -> None:
        """Set the given columns of the session."""
        self._tx.before_write().execute(_UPDATE_SESSION, {"session_key": session_id, **values})
        self._forget(session_id)

    def delete(self, record: SessionRecord) -> None:
        """The session and its code."""
        connection = self._tx.before_write()
        connection.execute(_DELETE_CODES_OF_SESSION, {"session_key": record.id})
        connection.execute(_DELETE_SESSION, {"session_key": record.id})
        self._forget(record.id)

    def _forget(self, session_id: int) -> None:
        cache = self._tx.cache
        for key in [key for key, value in cache.items()
                    if key[0] == "session" and value.id == session_id]:
            del cache[key]


class CodeRepository(Repository):
    """The current code of each session, as CodeRecords."""

    def for_session(self, session_id: int) -> CodeRecord | None:
        """The session's code, locked for update (PostgreSQL; SQLite locks the database)."""
        row = self._tx.connection().execute(_CODE_OF_SESSION,
                                            {"session_key": session_id}).first()
        return None if row is None else CodeRecord(*row)

    def replace(self, record: CodeRecord) -> int:
        """Make ``record`` the session's only code (any previous code is deleted); returns
        the new code's id."""
        connection = self._tx.before_write()
        connection.execute(_DELETE_CODES_OF_SESSION, {"session_key": record.session_id})
        return connection.execute(_INSERT_CODE, values_of(record)).inserted_primary_key[0]

    def delete(self, record: CodeRecord) -> None:
        self._tx.before_write().execute(_DELETE_CODE, {"code_key": record.id})

    def record_failure(self, record: CodeRecord) -> int:
        """Count one wrong try atomically (concurrent workers); returns the new total."""
        connection = self._tx.before_write()
        key = {"code_key": record.id}
        if connection.dialect.update_returning:
            return connection.execute(_COUNT_FAILURE_RETURNING, key).scalar_one()
        connection.execute(_COUNT_FAILURE, key)
        return connection.execute(_FAILURES, key).scalar_one()


class NonceRepository(Repository):
    def remember(self, digest: str, expires_at: datetime) -> bool:
        """Record a nonce; False when it was already seen (a replay)."""
        connection = self._tx.before_write()
        statement = _remember_nonce(connection.dialect.name)
        if statement is None:
            return remember_nonce_portably(self._tx.db, digest, expires_at)
        return connection.execute(statement, {"digest": digest,
                                              "expires_at": expires_at}).first() is not None


class CounterRepository(Repository):
    def admit(self, key: str, now: datetime, windows: Sequence[Window]) -> datetime | None:
        """Count one event of the sliding windows ``key`` at ``now`` (gateway.storage.
        rate_windows): None when every window admits it, else the first time at which an
        attempt will be admitted; the caller must then roll back, so that a refused event
        counts nowhere. ``windows`` must be the same for every call with ``key``."""
        connection = self._tx.before_write()
        dialect = connection.dialect.name
        if dialect == "sqlite":
            return rate_windows.admit_on_sqlite(connection, key, now, windows)
        upsert = on_conflict_insert(dialect)
        if upsert is None:
            return rate_windows.admit_portably(self._tx.db, key, now, windows)
        return rate_windows.admit(connection, upsert, key, now, windows)

    def clear(self, scope: str) -> int:
        """Forget every window of ``scope`` (gateway.verification.ratelimit.window_key:
        ``scope:rules:subject``), whatever its rules and subject; returns how many."""
        connection = self._tx.before_write()
        in_scope = RateCounter.key.startswith(f"{scope}:", autoescape=True)
        connection.execute(delete(RateEvent).where(
            RateEvent.key.in_(select(RateCounter.key).where(in_scope))))
        return connection.execute(delete(RateCounter).where(in_scope)).rowcount


def delete_expired(session: Session, now: datetime, outbox_retention_seconds: int,
                   inbox_retention_seconds: int = DEFAULT_INBOX_RETENTION) -> dict:
    """Remove expired sessions, codes, nonces, counters and rate events, expire overdue
    outbox rows (scrubbing what they sealed) and delete finished ones older than the
    outbox retention, and delete received SMS older than the inbox retention (the
    ``inbox_retention`` setting). Returns the number of rows per table."""
    counts = {}
    # A window's events go with its head, which expires after all of them (rate_windows).
    counts[RateEvent.__tablename__] = session.execute(delete(RateEvent).where(
        RateEvent.key.in_(select(RateCounter.key).where(RateCounter.expires_at <= now)))
    ).rowcount
    for model in (VerificationCode, HawkNonce, RateCounter):
        counts[model.__tablename__] = session.execute(
            delete(model).where(model.expires_at <= now)).rowcount
    expired_sessions = select(VerificationSession.id).where(VerificationSession.expires_at <= now)
    session.execute(delete(VerificationCode)
                    .where(VerificationCode.session_id.in_(expired_sessions)))
    counts["sessions"] = session.execute(
        delete(VerificationSession).where(VerificationSession.expires_at <= now)).rowcount
    counts["outbox_expired"] = session.execute(
        update(OutboundSms).where(OutboundSms.status == "queued", OutboundSms.expires_at <= now)
        .values(status="expired", updated_at=now, last_error="expired before it was sent",
                sealed=None)
    ).rowcount
    cutoff = now - timedelta(seconds=outbox_retention_seconds)
    counts["outbox"] = session.execute(
        delete(OutboundSms).where(OutboundSms.status.in_(OUTBOX_FINAL),
                                  OutboundSms.updated_at <= cutoff)).rowcount
    counts["inbox"] = session.execute(delete(InboxMessage).where(
        InboxMessage.received_at <= now - timedelta(seconds=inbox_retention_seconds))).rowcount
    return counts

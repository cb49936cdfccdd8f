"""Data access for the use cases: small repositories over one SQLAlchemy session.

Use cases call these methods and never build queries themselves. Every method runs inside
the caller's transaction (see gateway.storage.uow).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.storage.models import (OUTBOX_FINAL, HawkNonce, OutboundSms, RateCounter,
                                    VerificationCode, VerificationSession)


def _on_conflict_insert(session: Session):
    """The dialect's INSERT supporting ON CONFLICT (SQLite, PostgreSQL), or None when the
    dialect has none and the portable fallbacks below are used (MySQL, MariaDB, ...)."""
    return {"sqlite": sqlite.insert,
            "postgresql": postgresql.insert}.get(session.get_bind().dialect.name)


# A concurrent first hit on a counter makes our INSERT fail; we then UPDATE the row it
# created. Losing that race more than a few times in a row means something else is wrong.
COUNTER_INSERT_RACES = 5


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


def hit_counter_portably(session: Session, key: str, expires_at: datetime) -> int:
    """CounterRepository.hit for any dialect: UPDATE count = count + 1; when no row was
    there, INSERT it with count 1 inside a SAVEPOINT. An IntegrityError there means a
    concurrent transaction inserted the key first (our INSERT waited for it to commit):
    roll back the savepoint and UPDATE again, which now finds the committed row.

    The UPDATE row lock is held until the caller commits, so the SELECT that follows it
    reads our own increment. Raises RuntimeError after COUNTER_INSERT_RACES lost races.
    On MySQL/MariaDB at REPEATABLE READ (InnoDB's default) an UPDATE that finds no row
    takes a gap lock, so two racing first hits may deadlock instead (one transaction is
    rolled back with an OperationalError); READ COMMITTED has no such gap locks."""
    for _ in range(COUNTER_INSERT_RACES):
        updated = session.execute(update(RateCounter).where(RateCounter.key == key)
                                  .values(count=RateCounter.count + 1))
        if updated.rowcount:
            return session.scalar(select(RateCounter.count).where(RateCounter.key == key))
        try:
            with session.begin_nested():
                session.execute(insert(RateCounter)
                                .values(key=key, count=1, expires_at=expires_at))
        except IntegrityError:
            continue
        return 1
    raise RuntimeError(f"counter {key!r}: the INSERT lost {COUNTER_INSERT_RACES} races "
                       "in a row and the UPDATE still found no row")


class SessionRepository:
    def __init__(self, session: Session) -> None:
        self._db = session

    def add(self, row: VerificationSession) -> None:
        self._db.add(row)
        self._db.flush()

    def by_digest(self, hawk_id_digest: str) -> VerificationSession | None:
        return self._db.scalar(select(VerificationSession)
                               .where(VerificationSession.hawk_id_digest == hawk_id_digest))

    def delete(self, row: VerificationSession) -> None:
        self._db.execute(delete(VerificationCode).where(VerificationCode.session_id == row.id))
        self._db.delete(row)


class CodeRepository:
    def __init__(self, session: Session) -> None:
        self._db = session

    def for_session(self, session_id: int) -> VerificationCode | None:
        """The session's code, locked for update (PostgreSQL; SQLite locks the database)."""
        return self._db.scalar(select(VerificationCode)
                               .where(VerificationCode.session_id == session_id)
                               .with_for_update())

    def replace(self, row: VerificationCode) -> None:
        """Make ``row`` the session's only code (any previous code is deleted)."""
        self._db.execute(delete(VerificationCode)
                         .where(VerificationCode.session_id == row.session_id))
        self._db.add(row)
        self._db.flush()

    def delete(self, row: VerificationCode) -> None:
        self._db.delete(row)

    def record_failure(self, row: VerificationCode) -> int:
        """Count one wrong try atomically (concurrent workers); returns the new total."""
        self._db.execute(update(VerificationCode).where(VerificationCode.id == row.id)
                         .values(failed_attempts=VerificationCode.failed_attempts + 1))
        self._db.refresh(row)
        return row.failed_attempts


class NonceRepository:
    def __init__(self, session: Session) -> None:
        self._db = session

    def remember(self, digest: str, expires_at: datetime) -> bool:
        """Record a nonce; False when it was already seen (a replay)."""
        upsert = _on_conflict_insert(self._db)
        if upsert is None:
            return remember_nonce_portably(self._db, digest, expires_at)
        # RETURNING, not rowcount: psycopg 3 reports rowcount -1 for an INSERT once
        # SQLAlchemy has closed the cursor (sqlalchemy/sqlalchemy#10696).
        inserted = self._db.execute(upsert(HawkNonce)
                                    .values(digest=digest, expires_at=expires_at)
                                    .on_conflict_do_nothing(index_elements=["digest"])
                                    .returning(HawkNonce.digest)).first()
        return inserted is not None


class CounterRepository:
    def __init__(self, session: Session) -> None:
        self._db = session

    def hit(self, key: str, expires_at: datetime) -> int:
        """Add one to the counter ``key`` and return its new value (atomic upsert)."""
        upsert = _on_conflict_insert(self._db)
        if upsert is None:
            return hit_counter_portably(self._db, key, expires_at)
        statement = (upsert(RateCounter).values(key=key, count=1, expires_at=expires_at)
                     .on_conflict_do_update(index_elements=["key"],
                                            set_={"count": RateCounter.count + 1})
                     .returning(RateCounter.count))
        return self._db.execute(statement).scalar_one()


def delete_expired(session: Session, now: datetime, outbox_retention_seconds: int) -> dict:
    """Remove expired sessions, codes, nonces and counters, expire overdue outbox rows and
    delete finished ones older than the retention. Returns the number of rows per table."""
    counts = {}
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
        .values(status="expired", updated_at=now, last_error="expired before it was sent")
    ).rowcount
    cutoff = now - timedelta(seconds=outbox_retention_seconds)
    counts["outbox"] = session.execute(
        delete(OutboundSms).where(OutboundSms.status.in_(OUTBOX_FINAL),
                                  OutboundSms.updated_at <= cutoff)).rowcount
    return counts

"""An in-memory unit of work for the fast tests (tests/fast/), and ``fake_deps`` to run the
use cases on it in milliseconds.

``FakeUnitOfWork`` has the surface of :class:`gateway.storage.uow.UnitOfWork` that the
use cases (gateway/verification/), gateway/http/hawk.py and gateway/http/clients.py use:
the context manager, ``commit()``, ``rollback()``, ``savepoint()``, ``delete_expired()``
and the repositories ``sessions``, ``codes``, ``nonces``, ``counters``, ``outbox``,
``inbox``, ``modems`` and ``guard`` (the inbox for gateway/pipeline/inbound.py),
each with the methods those callers need and the real repositories' semantics
(tests/fast/test_fake_storage_matches_sqlite.py runs one contract against both). A method
the fake lacks fails loudly (AttributeError); add it here with its real semantics.
``FakeStorage`` is the factory (``Deps.uow``): ``read_only=True`` and ``ambient()``, with
nested units of work, as gateway.storage.uow.SqlUnitOfWorkFactory.

Transactions, as the real one on SQLite:

- entering a unit of work copies the committed rows (the caller's objects are its own,
  readable after the block, like SQLAlchemy's detached objects);
- ``commit()`` makes the unit of work's rows the committed state; leaving the block
  without it discards everything, row changes included;
- ``savepoint()`` puts every row back as it was (same objects, old values) when an
  exception leaves it, as a rolled back SAVEPOINT followed by a reload would;
- units of work must not interleave their commits: SQLite serialises write transactions
  (BEGIN IMMEDIATE); here a commit after another unit of work committed raises;
- while ``ambient()`` is open, ``storage()`` opens a unit of work nested in it: its
  ``commit()`` keeps its work in the ambient transaction, leaving it without commit puts
  the rows back as they were when it opened (or last committed);
- a write in a read-only unit of work, or in a transaction whose first access came from
  one, raises ReadOnlyViolation, as the real write hook does.

Sessions and codes are SessionRecord and CodeRecord values, as the real repositories
return them: changed by ``update()`` and friends, never by setting attributes.

Rows are the real SQLAlchemy model instances, never attached to a session. What the
database would do at a flush is done here: column defaults, integer ids (max + 1, as
SQLite assigns them), NOT NULL, unique and foreign keys (IntegrityError), what the column
types refuse (StatementError wrapping their ValueError: naive datetimes, digests that are
not 64 hex characters), values read back as those types give them back (datetimes in UTC,
the sessions' times to the millisecond).
"""
from __future__ import annotations

import functools
import secrets
import threading
from collections import namedtuple
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta, timezone
from typing import Iterator

from sqlalchemy import inspect as sqlalchemy_inspect
from sqlalchemy.exc import IntegrityError, StatementError

from fakes import FakeClock
from gateway.clock import Clock
from gateway.config.keys import Keys
from gateway.config.settings import load_settings
from gateway.crypto import browserid
from gateway.crypto.tokens import SECRET_BYTES, ServerSecret
from gateway.deps import Deps
from gateway.storage.column_types import HexDigest, UTCDateTime, UTCEpochMillis
from gateway.storage.models import (OUTBOX_FINAL, HawkNonce, InboxMessage, ModemStatus,
                                    OutboundSms, RateCounter, RateEvent, VerificationCode,
                                    VerificationSession)
from gateway.storage.models import GuardBlock, GuardCount
from gateway.storage.guard_repository import PrefixFigures, Standing
from gateway.storage.outbox_repository import UNREGISTERED
from gateway.storage.records import CodeRecord, SessionRecord, field_names, values_of
from gateway.storage.repositories import DEFAULT_INBOX_RETENTION
from gateway.storage.transaction import ReadOnlyViolation

MODELS = (VerificationSession, VerificationCode, HawkNonce, RateCounter, RateEvent,
          OutboundSms, ModemStatus, InboxMessage)
MODELS += (GuardCount, GuardBlock)  # gateway.guard's tables
Tables = dict[type, dict[object, object]]  # model -> primary key -> row
Committed = dict[type, dict[object, dict]]  # model -> primary key -> column values


# -- what the schema says about each table ---------------------------------------------

@functools.cache
def _columns(model: type) -> tuple:
    """(attribute, Column) of every mapped column of ``model``."""
    return tuple((prop.key, prop.columns[0]) for prop in sqlalchemy_inspect(model).column_attrs)


@functools.cache
def _primary_key(model: type) -> str | tuple[str, ...]:
    """The primary key's attribute, or the tuple of them for a composite key."""
    names = tuple(column.key for column in sqlalchemy_inspect(model).primary_key)
    return names[0] if len(names) == 1 else names


def _key_of(row):
    """``row``'s primary key value (a tuple for a composite key)."""
    name = _primary_key(type(row))
    if isinstance(name, str):
        return getattr(row, name)
    return tuple(getattr(row, part) for part in name)


@functools.cache
def _columns_by_name(model: type) -> dict:
    return dict(_columns(model))


@functools.cache
def _autoincrement(model: type) -> bool:
    name = _primary_key(model)
    return isinstance(name, str) and _columns_by_name(model)[name].type.python_type is int


FLUSH = "(flush of the in-memory unit of work)"


def _integrity_error(message: str) -> IntegrityError:
    return IntegrityError(FLUSH, None, Exception(message))


def _values(row) -> dict:
    return {name: getattr(row, name) for name, _column in _columns(type(row))}


# Column types that change or refuse a value on its way to the database and back.
CONVERTING_TYPES = (UTCDateTime, UTCEpochMillis, HexDigest)


def _stored_values(row) -> dict:
    """``row``'s column values as the database gives them back (see CONVERTING_TYPES)."""
    values = _values(row)
    for name, column in _columns(type(row)):
        if isinstance(column.type, CONVERTING_TYPES) and values[name] is not None:
            stored = column.type.process_bind_param(values[name], None)
            values[name] = column.type.process_result_value(stored, None)
    return values


def _flush_error(model: type, name: str, value) -> StatementError | None:
    """What a flush says of ``value`` in column ``name``, or None when it takes it."""
    column = _columns_by_name(model)[name]
    if value is None:
        return None if column.nullable else _integrity_error(
            f"NOT NULL constraint failed: {model.__tablename__}.{name}")
    if isinstance(column.type, CONVERTING_TYPES):
        try:
            column.type.process_bind_param(value, None)
        except ValueError as problem:
            return StatementError(f"{problem} ({model.__tablename__}.{name})", FLUSH, None,
                                  problem)
    return None


@functools.cache
def _foreign_keys(model: type) -> tuple:
    """(column, parent model) of each foreign key of ``model``."""
    return tuple((name, next(m for m in MODELS if m.__table__ is key.column.table))
                 for name, column in _columns(model) for key in column.foreign_keys)


# -- one transaction's rows -------------------------------------------------------------

class _Transaction:
    """The rows a unit of work sees and changes, and the flush it imitates.

    A table is copied from the committed state the first time the transaction touches
    it (``tables`` holds the touched ones); the committed state is never changed in place.
    """

    def __init__(self, committed: Committed, read_only: bool | None) -> None:
        self._committed = committed
        self.tables: Tables = {}
        self.closed = False
        self.read_only = read_only  # None: decided at the first access (an ambient one)
        self.mode: bool | None = None  # read-only or not, from the first access
        self.innermost = None  # the nested unit of work in use

    def restart(self, committed: Committed) -> None:
        """A new transaction over ``committed`` (after a rollback)."""
        self._committed, self.tables, self.mode = committed, {}, None

    def write(self) -> None:
        """The write hook: refuse a write where the real one refuses it."""
        if self.mode is None:
            self._begin()
        inner = self.innermost
        if (inner.read_only if inner is not None else self.read_only) or self.mode:
            raise ReadOnlyViolation("a write in a read-only unit of work or transaction")

    def _begin(self) -> None:
        read_only = self.read_only
        if read_only is None:
            read_only = self.innermost is not None and self.innermost.read_only
        self.mode = bool(read_only)

    def rows(self, model: type) -> dict:
        if self.closed:
            raise RuntimeError("this unit of work is closed: open a new one")
        if self.mode is None:
            self._begin()
        rows = self.tables.get(model)
        if rows is None:
            rows = self.tables[model] = {key: model(**values)
                                         for key, values in self._committed[model].items()}
        return rows

    def insert(self, row) -> None:
        """Add ``row`` as a flush would: defaults, id, constraints."""
        self.write()
        model = type(row)
        rows = self.rows(model)
        for name, column in _columns(model):
            default = column.default
            if getattr(row, name) is None and default is not None and default.is_scalar:
                setattr(row, name, default.arg)
        key_name = _primary_key(model)
        if _autoincrement(model) and getattr(row, key_name) is None:
            setattr(row, key_name, max(rows, default=0) + 1)  # SQLite: max(rowid) + 1
        key = _key_of(row)
        if key in rows:
            raise _integrity_error(f"UNIQUE constraint failed: {model.__tablename__}.{key_name}")
        rows[key] = row
        try:
            self.check()
        except StatementError:  # IntegrityError too
            del rows[key]
            raise

    def check(self) -> None:
        """What a flush refuses: NOT NULL, unique, foreign keys, what column types refuse."""
        for model in MODELS:
            rows = self.tables.get(model)
            if rows is None:  # untouched: only its parents may have lost rows
                stored = self._committed[model].values()
                self._check_parents(model, (values.get for values in stored))
                continue
            seen: dict[str, set] = {}
            for key, row in rows.items():
                if _key_of(row) != key:
                    raise _integrity_error(f"{model.__tablename__}: primary key changed")
                for name, column in _columns(model):
                    value = getattr(row, name)
                    error = _flush_error(model, name, value)
                    if error is not None:
                        raise error
                    if column.unique and value is not None:
                        if value in seen.setdefault(name, set()):
                            raise _integrity_error(
                                f"UNIQUE constraint failed: {model.__tablename__}.{name}")
                        seen[name].add(value)
            self._check_parents(model, (functools.partial(getattr, row) for row in rows.values()))

    def _check_parents(self, model: type, getters) -> None:
        for get in getters:
            for name, parent in _foreign_keys(model):
                value = get(name)
                parents = self.tables.get(parent, self._committed[parent])
                if value is not None and value not in parents:
                    raise _integrity_error(f"FOREIGN KEY constraint failed: "
                                           f"{model.__tablename__}.{name} = {value!r}")

    def snapshot(self) -> dict:
        return {model: [(key, row, _values(row)) for key, row in rows.items()]
                for model, rows in self.tables.items()}

    def restore(self, snapshot: dict) -> None:
        for model in [model for model in self.tables if model not in snapshot]:
            del self.tables[model]  # first touched inside: as committed again
        for model, saved in snapshot.items():
            rows = self.tables[model]
            rows.clear()
            for key, row, values in saved:
                for name, value in values.items():
                    setattr(row, name, value)
                rows[key] = row


# -- the repositories ---------------------------------------------------------------------

def _record(record_type: type, row):
    return record_type(*(getattr(row, name) for name in field_names(record_type)))


class FakeSessionRepository:
    def __init__(self, transaction: _Transaction) -> None:
        self._tx = transaction

    def add(self, record: SessionRecord) -> int:
        row = VerificationSession(**values_of(record))
        self._tx.insert(row)
        return row.id

    def by_digest(self, hawk_id_digest: str) -> SessionRecord | None:
        row = next((row for row in self._tx.rows(VerificationSession).values()
                    if row.hawk_id_digest == hawk_id_digest), None)
        return None if row is None else _record(SessionRecord, row)

    def by_hawk_id(self, hawk_id: str, digest) -> SessionRecord | None:
        return self.by_digest(digest(hawk_id))

    def update(self, session_id: int, **values) -> None:
        self._tx.write()
        row = self._tx.rows(VerificationSession).get(session_id)
        if row is not None:
            for name, value in values.items():
                setattr(row, name, value)
            self._tx.check()

    def delete(self, record: SessionRecord) -> None:
        """The session and its code."""
        self._tx.write()
        codes = self._tx.rows(VerificationCode)
        for key in [key for key, code in codes.items() if code.session_id == record.id]:
            del codes[key]
        self._tx.rows(VerificationSession).pop(record.id, None)


class FakeCodeRepository:
    def __init__(self, transaction: _Transaction) -> None:
        self._tx = transaction

    def for_session(self, session_id: int) -> CodeRecord | None:
        row = next((row for row in self._tx.rows(VerificationCode).values()
                    if row.session_id == session_id), None)
        return None if row is None else _record(CodeRecord, row)

    def replace(self, record: CodeRecord) -> int:
        """Make ``record`` the session's only code (any previous code is deleted)."""
        self._tx.write()
        codes = self._tx.rows(VerificationCode)
        for key in [key for key, code in codes.items() if code.session_id == record.session_id]:
            del codes[key]
        row = VerificationCode(**values_of(record))
        self._tx.insert(row)
        return row.id

    def delete(self, record: CodeRecord) -> None:
        self._tx.write()
        self._tx.rows(VerificationCode).pop(record.id, None)

    def record_failure(self, record: CodeRecord) -> int:
        """Count one wrong try on the stored row; the new total."""
        self._tx.write()
        stored = self._tx.rows(VerificationCode)[record.id]
        stored.failed_attempts += 1
        return stored.failed_attempts


class FakeNonceRepository:
    def __init__(self, transaction: _Transaction) -> None:
        self._tx = transaction

    def remember(self, digest: str, expires_at: datetime) -> bool:
        """Record a nonce; False when it was already seen (expired or not: only
        delete_expired forgets it)."""
        self._tx.write()
        if digest in self._tx.rows(HawkNonce):
            return False
        self._tx.insert(HawkNonce(digest=digest, expires_at=expires_at))
        return True


class FakeCounterRepository:
    def __init__(self, transaction: _Transaction) -> None:
        self._tx = transaction

    def admit(self, key: str, now: datetime, windows) -> datetime | None:
        """As gateway.storage.rate_windows.admit: the head counts the event and keeps the
        later expiry, each window's slot of the event N before decides; None when
        admitted, else the first time an attempt will be; the caller rolls back."""
        self._tx.write()
        span = timedelta(seconds=max(window.period for window in windows))
        head = self._tx.rows(RateCounter).get(key)
        if head is None:
            head = RateCounter(key=key, count=0, expires_at=now + span)
            self._tx.insert(head)
        head.count += 1
        head.expires_at = max(head.expires_at, (now + span).astimezone(timezone.utc))
        event_at = head.expires_at - span
        slots, offset, refused = self._tx.rows(RateEvent), 0, []
        for window in windows:
            slot = (key, offset + (head.count - 1) % window.limit)
            offset += window.limit
            row = slots.get(slot)
            if row is None:
                self._tx.insert(RateEvent(key=key, slot=slot[1],
                                          expires_at=event_at + timedelta(seconds=window.period)))
            elif row.expires_at <= event_at:
                row.expires_at = event_at + timedelta(seconds=window.period)
            else:
                refused.append(row.expires_at)
        return max(refused) if refused else None

    def clear(self, scope: str) -> int:
        """Forget every window whose key starts with ``scope:``; returns how many."""
        self._tx.write()
        heads, slots = self._tx.rows(RateCounter), self._tx.rows(RateEvent)
        doomed = [key for key in heads if key.startswith(f"{scope}:")]
        for key in doomed:
            del heads[key]
        for slot in [slot for slot in slots if slot[0] in doomed]:
            del slots[slot]
        return len(doomed)


class FakeOutboxRepository:
    def __init__(self, transaction: _Transaction) -> None:
        self._tx = transaction

    def add(self, row: OutboundSms) -> None:
        """Insert a copy (the real one inserts with Core: ``row`` stays unattached) and
        give ``row`` its id and column defaults."""
        stored = OutboundSms(**_values(row))
        self._tx.insert(stored)
        for name, value in _values(stored).items():
            setattr(row, name, value)

    def get(self, row_id: int) -> OutboundSms | None:
        return self._tx.rows(OutboundSms).get(row_id)

    def pending_parts_estimate(self, now: datetime) -> int:
        """Queued rows, and rows being sent under a lease that holds at ``now``."""
        return sum(row.status == "queued" or (
            row.status == "sending" and row.lease_expires_at is not None
            and row.lease_expires_at >= now) for row in self._tx.rows(OutboundSms).values())

    def latest(self, limit: int, status: str | None = None) -> list[OutboundSms]:
        """The newest ``limit`` rows, optionally only those with ``status``."""
        rows = sorted(self._tx.rows(OutboundSms).values(), key=lambda row: -row.id)
        return [row for row in rows if not status or row.status == status][:limit]

    def session_bindings(self, rows: list[OutboundSms]) -> dict[int, str | None]:
        """Each row's session's hawk id digest, or None (no session, or it is gone)."""
        sessions = self._tx.rows(VerificationSession)
        return {row.id: getattr(sessions.get(row.session_id), "hawk_id_digest", None)
                for row in rows}

    def forget_session(self, session_id: int, now: datetime) -> None:
        """Scrub the session's rows and unlink them; those still queued are expired."""
        self._tx.write()
        for row in self._tx.rows(OutboundSms).values():
            if row.session_id != session_id:
                continue
            if row.status == "queued":
                row.status, row.updated_at, row.last_error = "expired", now, UNREGISTERED
            row.sealed = row.session_id = None


class FakeInboxRepository:
    def __init__(self, transaction: _Transaction) -> None:
        self._tx = transaction

    def store(self, row: InboxMessage) -> bool:
        """Insert ``row``; False if an SMS with its dedupe key was stored before."""
        if any(old.dedupe_key == row.dedupe_key for old in self._tx.rows(InboxMessage).values()):
            return False
        self._tx.insert(row)
        return True

    def latest(self, limit: int = 100, kind: str | None = None) -> list[InboxMessage]:
        rows = sorted(self._tx.rows(InboxMessage).values(), key=lambda row: -row.id)
        return [row for row in rows if kind is None or row.kind == kind][:limit]


@functools.cache
def _row_type(model: type):
    return namedtuple(f"{model.__name__}Row", [name for name, _column in _columns(model)])


def _frozen(row):
    return _row_type(type(row))(**_values(row))


class FakeModemStatusRepository:
    def __init__(self, transaction: _Transaction) -> None:
        self._tx = transaction

    def upsert(self, values: dict) -> None:
        self._tx.write()
        row = self._tx.rows(ModemStatus).get((values["worker"], values["name"]))
        if row is None:
            self._tx.insert(ModemStatus(**values))
        else:
            for key, value in values.items():
                setattr(row, key, value)

    def fresh(self, now: datetime, ttl_seconds: int) -> list:
        """Read-only rows, as the real one's Core rows, by name then worker."""
        since = now - timedelta(seconds=ttl_seconds)
        rows = sorted(self._tx.rows(ModemStatus).values(), key=lambda r: (r.name, r.worker))
        return [_frozen(row) for row in rows if row.updated_at >= since]

    def all(self) -> list:
        """Read-only rows, by worker then name."""
        return [_frozen(row) for row in sorted(self._tx.rows(ModemStatus).values(),
                                               key=lambda row: (row.worker, row.name))]


class FakeGuardRepository:
    """As gateway.storage.guard_repository.GuardRepository."""

    def __init__(self, transaction: _Transaction) -> None:
        self._tx = transaction

    def _counts(self, prefix: str | None = None, since: datetime | None = None) -> list:
        return [row for row in self._tx.rows(GuardCount).values()
                if (prefix is None or row.prefix == prefix)
                and (since is None or row.bucket_start > since)]

    def standing(self, prefix: str, since: datetime, settled: datetime) -> Standing:
        block = self._tx.rows(GuardBlock).get(prefix)
        counts = self._counts(prefix, since)
        return Standing(None if block is None else block.blocked_until,
                        sum(row.sms for row in counts), sum(row.verified for row in counts),
                        sum(row.sms for row in counts if row.bucket_start <= settled))

    def count(self, prefix: str, bucket_start: datetime, expires_at: datetime, *,
              sms: int = 0, verified: int = 0) -> None:
        """Add to the bucket's row; a new row keeps this ``expires_at``."""
        self._tx.write()
        row = next((row for row in self._counts(prefix)
                    if row.bucket_start == bucket_start), None)
        if row is None:
            self._tx.insert(GuardCount(prefix=prefix, bucket_start=bucket_start, sms=sms,
                                       verified=verified, expires_at=expires_at))
        else:
            row.sms += sms
            row.verified += verified

    def block(self, prefix: str, **values) -> None:
        self._tx.write()
        self._tx.rows(GuardBlock).pop(prefix, None)
        self._tx.insert(GuardBlock(prefix=prefix, **values))

    def clear(self, prefix: str) -> bool:
        self._tx.write()
        rows = self._tx.rows(GuardCount)
        for key in [key for key, row in rows.items() if row.prefix == prefix]:
            del rows[key]
        return self._tx.rows(GuardBlock).pop(prefix, None) is not None

    def overview(self, since: datetime, now: datetime, settled: datetime | None = None
                 ) -> list[PrefixFigures]:
        figures: dict[str, list[int]] = {}
        for row in self._counts(since=since):
            total = figures.setdefault(row.prefix, [0, 0, 0])
            total[0] += row.sms
            total[1] += row.verified
            total[2] += row.sms if row.bucket_start <= (settled or now) else 0
        blocks = {prefix: row for prefix, row in self._tx.rows(GuardBlock).items()
                  if row.expires_at > now}
        result = []
        for prefix in sorted(set(figures) | set(blocks)):
            block = blocks.get(prefix)
            extra = {} if block is None else {
                "reason": block.reason, "blocked_at": block.blocked_at,
                "blocked_until": block.blocked_until, "sms_when_blocked": block.sms,
                "verified_when_blocked": block.verified}
            sms, verified, judged = figures.get(prefix, (0, 0, 0))
            result.append(PrefixFigures(prefix, sms, verified, settled_sms=judged, **extra))
        return result

    def delete_expired(self, now: datetime) -> dict:
        self._tx.write()
        counts = {}
        for model in (GuardCount, GuardBlock):
            rows = self._tx.rows(model)
            doomed = [key for key, row in rows.items() if row.expires_at <= now]
            for key in doomed:
                del rows[key]
            counts[model.__tablename__] = len(doomed)
        return counts


# -- the unit of work and the database it works on ---------------------------------------------

class FakeUnitOfWork:
    """One transaction over a FakeStorage; see the module docstring."""

    def __init__(self, storage: "FakeStorage", read_only: bool | None = False) -> None:
        self._storage = storage
        self._read_only = read_only

    def __enter__(self) -> "FakeUnitOfWork":
        self._version, committed = self._storage._begin()
        self._tx = _Transaction(committed, self._read_only)
        self.sessions = FakeSessionRepository(self._tx)
        self.codes = FakeCodeRepository(self._tx)
        self.nonces = FakeNonceRepository(self._tx)
        self.counters = FakeCounterRepository(self._tx)
        self.outbox = FakeOutboxRepository(self._tx)
        self.inbox = FakeInboxRepository(self._tx)
        self.modems = FakeModemStatusRepository(self._tx)
        self.guard = FakeGuardRepository(self._tx)
        return self

    def __exit__(self, *exc_info) -> None:
        self._tx.closed = True  # what was not committed is gone

    def commit(self) -> None:
        self._version = self._storage._commit(self._version, self._tx)
        self._tx.mode = None  # the next access begins a new transaction

    def rollback(self) -> None:
        """Undo what was not committed; the unit of work stays usable."""
        self._version, committed = self._storage._begin()
        self._tx.restart(committed)

    def nested(self, read_only: bool = False) -> "FakeNestedUnitOfWork":
        return FakeNestedUnitOfWork(self, read_only)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """An exception leaving the block undoes only what was done inside it (and
        propagates); the rest of the unit of work stays usable."""
        self._tx.write()
        saved = self._tx.snapshot()
        try:
            yield
            self._tx.check()  # RELEASE flushes
        except BaseException:
            self._tx.restore(saved)
            raise

    def delete_expired(self, now: datetime, outbox_retention_seconds: int,
                       inbox_retention_seconds: int = DEFAULT_INBOX_RETENTION) -> dict:
        """As gateway.storage.repositories.delete_expired: rows per table."""
        self._tx.write()
        counts = {}
        heads = {key for key, row in self._tx.rows(RateCounter).items() if row.expires_at <= now}
        counts["rate_events"] = self._delete(RateEvent, lambda r: r.key in heads)
        for model in (VerificationCode, HawkNonce, RateCounter):
            counts[model.__tablename__] = self._delete(model, lambda r: r.expires_at <= now)
        expired = {key for key, row in self._tx.rows(VerificationSession).items()
                   if row.expires_at <= now}
        self._delete(VerificationCode, lambda r: r.session_id in expired)
        counts["sessions"] = self._delete(VerificationSession, lambda r: r.id in expired)
        overdue = [row for row in self._tx.rows(OutboundSms).values()
                   if row.status == "queued" and row.expires_at <= now]
        for row in overdue:
            row.status, row.updated_at, row.sealed = "expired", now, None
            row.last_error = "expired before it was sent"
        counts["outbox_expired"] = len(overdue)
        cutoff = now - timedelta(seconds=outbox_retention_seconds)
        counts["outbox"] = self._delete(
            OutboundSms, lambda r: r.status in OUTBOX_FINAL and r.updated_at <= cutoff)
        inbox_cutoff = now - timedelta(seconds=inbox_retention_seconds)
        counts["inbox"] = self._delete(InboxMessage, lambda r: r.received_at <= inbox_cutoff)
        counts.update(self.guard.delete_expired(now))
        return counts

    def _delete(self, model: type, condition) -> int:
        rows = self._tx.rows(model)
        doomed = [key for key, row in rows.items() if condition(row)]
        for key in doomed:
            del rows[key]
        return len(doomed)


class FakeNestedUnitOfWork:
    """A unit of work inside another's transaction (a savepoint): ``commit()`` keeps its
    work there, leaving without commit puts the rows back as they were at its start (or
    its last commit)."""

    def __init__(self, parent: FakeUnitOfWork, read_only: bool) -> None:
        self._parent, self.read_only = parent, read_only

    def __enter__(self) -> "FakeNestedUnitOfWork":
        parent = self._parent
        self._tx = parent._tx
        for name in ("sessions", "codes", "nonces", "counters", "outbox", "inbox", "modems",
                     "guard"):
            setattr(self, name, getattr(parent, name))
        self._outer, self._tx.innermost = self._tx.innermost, self
        self._saved = self._tx.snapshot()
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            self.rollback()
        finally:
            self._tx.innermost = self._outer

    def commit(self) -> None:
        self._tx.check()  # RELEASE flushes
        self._saved = self._tx.snapshot()

    def rollback(self) -> None:
        self._tx.restore(self._saved)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        with self._parent.savepoint():
            yield

    def delete_expired(self, now: datetime, outbox_retention_seconds: int,
                       inbox_retention_seconds: int = DEFAULT_INBOX_RETENTION) -> dict:
        return self._parent.delete_expired(now, outbox_retention_seconds,
                                           inbox_retention_seconds)


class FakeStorage:
    """The committed rows of an in-memory database. Calling it opens a unit of work, so it
    is what ``Deps.uow`` expects (``deps.uow()``, ``deps.uow(read_only=True)``)."""

    def __init__(self) -> None:
        self._tables: Committed = {model: {} for model in MODELS}
        self._version = 0
        self._lock = threading.Lock()
        self._ambient: ContextVar[FakeUnitOfWork | None] = ContextVar("fake_ambient",
                                                                     default=None)

    def __call__(self, *, read_only: bool = False) -> FakeUnitOfWork | FakeNestedUnitOfWork:
        ambient = self._ambient.get()
        if ambient is not None:
            return ambient.nested(read_only)
        return FakeUnitOfWork(self, read_only)

    @contextmanager
    def ambient(self) -> Iterator[FakeUnitOfWork]:
        """As SqlUnitOfWorkFactory.ambient: units of work opened meanwhile nest in it."""
        if self._ambient.get() is not None:
            raise RuntimeError("an ambient unit of work is already open in this context")
        with FakeUnitOfWork(self, read_only=None) as uow:
            token = self._ambient.set(uow)
            try:
                yield uow
            finally:
                self._ambient.reset(token)

    def _begin(self) -> tuple[int, Committed]:
        with self._lock:
            return self._version, self._tables

    def _commit(self, version: int, transaction: _Transaction) -> int:
        """Make the transaction's tables the committed ones; the new version."""
        if transaction.closed:
            raise RuntimeError("commit() after the unit of work was closed")
        transaction.check()
        with self._lock:
            if version != self._version:
                raise RuntimeError("another unit of work committed while this one was open: "
                                   "the in-memory storage does not merge transactions")
            tables = dict(self._tables)
            for model, rows in transaction.tables.items():
                tables[model] = {key: _stored_values(row) for key, row in rows.items()}
            self._tables = tables
            self._version += 1
            return self._version


# -- Deps for the use cases ----------------------------------------------------------------------

@functools.cache
def shared_keys() -> Keys:
    """A signing key and server secret made once per process (RSA generation is slow);
    the fast tests pass the session's own keys instead (tests/fast/conftest.py)."""
    pem = browserid.generate_signing_key("RS", 2048)
    return Keys(signing_key=browserid.load_signing_key(pem),
                secret=ServerSecret(secrets.token_bytes(SECRET_BYTES)))


def fake_deps(*, clock: Clock | None = None, storage: FakeStorage | None = None,
              keys: Keys | None = None, **settings) -> Deps:
    """A real Deps over a FakeStorage (new unless given), a FakeClock (2026-01-01 UTC unless
    given) and real keys. ``settings`` are Settings overrides as the command line gives
    them (``rate_limit_msisdn="2/10m"``), validated by load_settings with no environment."""
    keys = keys or shared_keys()
    return Deps(settings=load_settings(overrides=settings, environ={}),
                clock=clock or FakeClock(), secret=keys.secret,
                uow=storage if storage is not None else FakeStorage(),
                signing_key=keys.signing_key)

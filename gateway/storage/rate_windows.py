"""Sliding windows in the database: the storage side of gateway.verification.ratelimit,
used by CounterRepository.admit (gateway.storage.repositories).

A window key has one row in ``rate_counters`` (its head) and, for each of its rules "at
most N events in any P seconds", a ring of up to N rows in ``rate_events`` (its slots):
rule i owns the slots ``offset_i .. offset_i + N_i - 1``, ``offset_i`` being the sum of
the N of the rules before it (the key names its rules, so the layout never changes
under a key). Admitting one event at ``now`` takes 1 + R statements for R rules (two for
the usual single rule), one more when refused:

1. The head is upserted: ``count + 1`` (the event's sequence number n) and
   ``expires_at = max(expires_at, now + span)``, ``span`` the longest P; both RETURNED.
   The row lock (PostgreSQL; SQLite's BEGIN IMMEDIATE holds the database's write lock)
   serializes the events of a key until the caller's transaction ends. The event's time
   is ``t = expires_at - span``: ``now``, or the previous event's time when a transaction
   that read its clock earlier took the lock later (or runs on a box whose clock is
   behind), so that times never decrease along the sequence: a window of the ring then
   holds exactly the events of the last P seconds.
2. Slot ``offset_i + (n - 1) mod N_i`` holds the expiry of event n - N_i, the N_i-th
   event before this one. For each rule, ``INSERT .. ON CONFLICT DO UPDATE .. WHERE
   expires_at <= t RETURNING slot`` writes ``t + P_i`` into the slot when it is empty or
   its event has left the window. The event is admitted iff every slot was written.
3. Refused: one SELECT of the refused slots; the latest of their expiries is the first
   time at which an attempt will be admitted. The caller rolls its transaction back,
   which undoes steps 1 and 2.

The housekeeping (repositories.delete_expired) deletes a head once it expired, which is
after every event of its key left every window, and its slots with it (so the slots
need no index of their own); the key then restarts at sequence 1, with empty slots.
A slot whose event left its window is free whether it is still there or not.

``admit`` runs these statements through SQLAlchemy Core (PostgreSQL); ``admit_on_sqlite``
runs the same SQL on the sqlite3 connection (the hot path of the default deployment);
dialects without ``INSERT .. ON CONFLICT`` (MySQL, MariaDB) use ``admit_portably``: the
same steps with UPDATE-then-INSERT: UPDATE the head; when there was none, INSERT it inside a
SAVEPOINT, and when a concurrent transaction inserted it first, UPDATE again.
"""
from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone
from typing import Callable, NamedTuple, Sequence

from sqlalchemy import Connection, bindparam, case, insert, literal, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from gateway.storage.models import RateCounter, RateEvent

HEADS = RateCounter.__table__
SLOTS = RateEvent.__table__

# A concurrent first event of a key makes our INSERT of its head fail; we then UPDATE the
# row it created. Losing that race more than a few times in a row means something else
# is wrong.
HEAD_INSERT_RACES = 5


class Window(NamedTuple):
    """A rule of a key: at most ``limit`` events in any ``period`` seconds."""

    limit: int
    period: int


def _slots(windows: Sequence[Window], sequence: int) -> list[int]:
    """The slot of each window for event number ``sequence`` (1-based)."""
    slots, offset = [], 0
    for window in windows:
        slots.append(offset + (sequence - 1) % window.limit)
        offset += window.limit
    return slots


def _span(windows: Sequence[Window]) -> timedelta:
    return timedelta(seconds=max(window.period for window in windows))


# -- with INSERT .. ON CONFLICT (SQLite, PostgreSQL) --------------------------------------

@functools.cache
def _advance_head(upsert: Callable):
    """Step 1: INSERT .. ON CONFLICT DO UPDATE count + 1, the later expiry; RETURNING."""
    statement = upsert(HEADS)
    later = case((HEADS.c.expires_at > statement.excluded.expires_at, HEADS.c.expires_at),
                 else_=statement.excluded.expires_at)
    return (statement.on_conflict_do_update(
        index_elements=["key"], set_={"count": HEADS.c.count + 1, "expires_at": later})
        .returning(HEADS.c.count, HEADS.c.expires_at))


@functools.cache
def _fill_slot(upsert: Callable):
    """Step 2 for one window, parameters ``key``, ``slot``, ``expires_at`` (the new
    expiry) and ``event_at``: RETURNING the slot when written. (One statement per window:
    a multi-row VALUES of bound parameters is not cached by SQLAlchemy, and compiling it
    costs more than running two.)"""
    statement = upsert(SLOTS)
    return (statement.on_conflict_do_update(
        index_elements=["key", "slot"], set_={"expires_at": statement.excluded.expires_at},
        where=SLOTS.c.expires_at <= bindparam("event_at", type_=SLOTS.c.expires_at.type))
        .returning(SLOTS.c.slot))


_SLOT_EXPIRIES = (select(SLOTS.c.slot, SLOTS.c.expires_at)
                  .where(SLOTS.c.key == bindparam("key"),
                         SLOTS.c.slot.in_(bindparam("slots", expanding=True))))


def admit(connection: Connection, upsert: Callable, key: str, now: datetime,
          windows: Sequence[Window]) -> datetime | None:
    """Count one event of ``key`` at ``now`` in the caller's transaction (see the module
    docstring); None when admitted, else the first time an attempt will be admitted
    (the caller must then roll back). ``upsert`` is the dialect's ``insert``."""
    span = _span(windows)
    sequence, head_expiry = connection.execute(
        _advance_head(upsert), {"key": key, "count": 1, "expires_at": now + span}).one()
    event_at = head_expiry - span
    fill, refused = _fill_slot(upsert), []
    for slot, window in zip(_slots(windows, sequence), windows):
        if connection.execute(fill, {
                "key": key, "slot": slot, "event_at": event_at,
                "expires_at": event_at + timedelta(seconds=window.period)}).first() is None:
            refused.append(slot)
    if not refused:
        return None
    expiries = connection.execute(_SLOT_EXPIRIES, {"key": key, "slots": refused})
    return max(expiry for _slot, expiry in expiries)


# -- SQLite, on the driver's connection ------------------------------------------------------

# The same two statements as SQL text for the sqlite3 module: every request of the default
# deployment runs them, and through SQLAlchemy Core the pair costs about 75 µs of Python
# where the sqlite3 module alone takes about 30 (in one transaction, on the 2-core box).
# Times as SQLAlchemy's SQLite DateTime stores them: naive UTC, "YYYY-MM-DD HH:MM:SS.ffffff",
# so that text order is time order and UTCDateTime reads them back.
_SQLITE_HEAD = (
    "INSERT INTO rate_counters (key, count, expires_at) VALUES (?, 1, ?) "
    "ON CONFLICT (key) DO UPDATE SET count = rate_counters.count + 1, expires_at = "
    "CASE WHEN rate_counters.expires_at > excluded.expires_at "
    "THEN rate_counters.expires_at ELSE excluded.expires_at END "
    "RETURNING count, expires_at")
_SQLITE_SLOT = (
    "INSERT INTO rate_events (key, slot, expires_at) VALUES (?, ?, ?) "
    "ON CONFLICT (key, slot) DO UPDATE SET expires_at = excluded.expires_at "
    "WHERE rate_events.expires_at <= ? RETURNING slot")
_SQLITE_EXPIRIES = "SELECT max(expires_at) FROM rate_events WHERE key = ? AND slot IN ({})"


def _sqlite_time(moment: datetime) -> str:
    if moment.tzinfo is None:  # as UTCDateTime: a naive time would be ambiguous
        raise ValueError("naive datetime given to a rate window")
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(" ", "microseconds")


def admit_on_sqlite(connection: Connection, key: str, now: datetime,
                    windows: Sequence[Window]) -> datetime | None:
    """``admit`` on SQLite, run on the sqlite3 connection under ``connection`` (its
    transaction begun: BEGIN IMMEDIATE holds the write lock). A driver error is raised as
    SQLAlchemy's (OperationalError: "database is locked"), as SQLAlchemy would."""
    driver = connection.connection.driver_connection
    error_type = connection.dialect.loaded_dbapi.Error
    sql, parameters = _SQLITE_HEAD, (key, _sqlite_time(now + _span(windows)))
    try:
        sequence, head_expiry = driver.execute(sql, parameters).fetchone()
        event_at = datetime.fromisoformat(head_expiry).replace(tzinfo=timezone.utc) \
            - _span(windows)
        sql, at, refused = _SQLITE_SLOT, _sqlite_time(event_at), []
        for slot, window in zip(_slots(windows, sequence), windows):
            parameters = (key, slot, _sqlite_time(event_at + timedelta(seconds=window.period)),
                          at)
            if driver.execute(sql, parameters).fetchone() is None:
                refused.append(slot)
        if not refused:
            return None
        sql, parameters = _SQLITE_EXPIRIES.format(", ".join("?" * len(refused))), (key, *refused)
        [latest] = driver.execute(sql, parameters).fetchone()
    except error_type as error:
        raise DBAPIError.instance(sql, parameters, error, error_type) from error
    return datetime.fromisoformat(latest).replace(tzinfo=timezone.utc)


# -- without (MySQL, MariaDB) ---------------------------------------------------------------

def _advance_head_portably(session: Session, key: str, expires_at: datetime) -> tuple:
    """Step 1 as UPDATE, or INSERT in a SAVEPOINT when there is no row; an IntegrityError
    there means a concurrent first event inserted it: UPDATE the committed row."""
    value = literal(expires_at, HEADS.c.expires_at.type)
    later = case((RateCounter.expires_at > value, RateCounter.expires_at), else_=value)
    for _ in range(HEAD_INSERT_RACES):
        updated = session.execute(update(RateCounter).where(RateCounter.key == key)
                                  .values(count=RateCounter.count + 1, expires_at=later))
        if updated.rowcount:
            return session.execute(select(RateCounter.count, RateCounter.expires_at)
                                   .where(RateCounter.key == key)).one()
        try:
            with session.begin_nested():
                session.execute(insert(RateCounter)
                                .values(key=key, count=1, expires_at=expires_at))
        except IntegrityError:
            continue
        return 1, expires_at
    raise RuntimeError(f"rate window {key!r}: the INSERT lost {HEAD_INSERT_RACES} races "
                       "in a row and the UPDATE still found no row")


def admit_portably(session: Session, key: str, now: datetime,
                   windows: Sequence[Window]) -> datetime | None:
    """``admit`` for any dialect: the head's row lock (held by its UPDATE until the caller
    commits) serializes the slots of the key, which are read, then written only when every
    window admits the event. A slot the housekeeping deleted in between is inserted."""
    span = _span(windows)
    sequence, head_expiry = _advance_head_portably(session, key, now + span)
    event_at = head_expiry - span
    slots = _slots(windows, sequence)
    held = dict(session.execute(select(RateEvent.slot, RateEvent.expires_at).where(
        RateEvent.key == key, RateEvent.slot.in_(slots))).all())
    busy = [held[slot] for slot in slots if slot in held and held[slot] > event_at]
    if busy:
        return max(busy)
    for slot, window in zip(slots, windows):
        expires_at = event_at + timedelta(seconds=window.period)
        updated = session.execute(update(RateEvent).where(
            RateEvent.key == key, RateEvent.slot == slot).values(expires_at=expires_at))
        if not updated.rowcount:
            session.execute(insert(RateEvent).values(key=key, slot=slot, expires_at=expires_at))
    return None

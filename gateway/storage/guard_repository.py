"""The destination guard's tables (gateway.guard): code SMS and verifications per
destination prefix in time buckets (guard_counts), and the prefixes refused for a while
(guard_blocks). Core statements built once; every method runs in the caller's
transaction. The hot path costs two statements per SMS: ``standing`` and ``count``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, case, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.storage.models import GuardBlock, GuardCount
from gateway.storage.repositories import on_conflict_insert
from gateway.storage.transaction import Repository

COUNTS = GuardCount.__table__
BLOCKS = GuardBlock.__table__
# Losing the first-INSERT race this often in a row means something else is wrong.
INSERT_RACES = 5


@dataclass(frozen=True)
class Standing:
    """A prefix as the hot path sees it: its block's end (None if never blocked or the
    row is gone), its figures in the window asked for, and the SMS of that window's
    buckets that started early enough to be judged."""

    blocked_until: datetime | None
    sms: int
    verified: int
    settled_sms: int = 0


@dataclass(frozen=True)
class PrefixFigures:
    """A row of ``msisdn-gateway guard list``."""

    prefix: str
    sms: int
    verified: int
    reason: str | None = None
    blocked_at: datetime | None = None
    blocked_until: datetime | None = None
    sms_when_blocked: int | None = None
    verified_when_blocked: int | None = None
    #: The SMS of ``sms`` whose bucket starts at or before ``overview``'s ``settled``: the
    #: ones the guard judges (all of them without a settle time).
    settled_sms: int = 0


def _window_sum(column, *conditions):
    return (select(func.coalesce(func.sum(column), 0))
            .where(COUNTS.c.prefix == bindparam("prefix"),
                   COUNTS.c.bucket_start > bindparam("since"), *conditions)
            .scalar_subquery())


_STANDING = select(
    select(BLOCKS.c.blocked_until).where(BLOCKS.c.prefix == bindparam("prefix"))
    .scalar_subquery(),
    _window_sum(COUNTS.c.sms), _window_sum(COUNTS.c.verified),
    _window_sum(COUNTS.c.sms, COUNTS.c.bucket_start <= bindparam("settled")))
_COUNT_KEY = ((COUNTS.c.prefix == bindparam("count_prefix"))
              & (COUNTS.c.bucket_start == bindparam("bucket")))
_ADD = (update(COUNTS).where(_COUNT_KEY)
        .values(sms=COUNTS.c.sms + bindparam("add_sms"),
                verified=COUNTS.c.verified + bindparam("add_verified")))
_FIGURES = (select(COUNTS.c.prefix, func.sum(COUNTS.c.sms), func.sum(COUNTS.c.verified),
                   func.sum(case((COUNTS.c.bucket_start <= bindparam("settled"), COUNTS.c.sms),
                                 else_=0)))
            .where(COUNTS.c.bucket_start > bindparam("since")).group_by(COUNTS.c.prefix))
_BLOCKS = select(BLOCKS).where(BLOCKS.c.expires_at > bindparam("now"))


def add_counts_portably(session: Session, values: dict) -> None:
    """GuardRepository.count for any dialect, as rate_windows.admit_portably: UPDATE
    the bucket's row; when there was none, INSERT it inside a SAVEPOINT, and when a
    concurrent transaction inserted it first (IntegrityError), UPDATE again."""
    key = {"count_prefix": values["prefix"], "bucket": values["bucket_start"],
           "add_sms": values["sms"], "add_verified": values["verified"]}
    for _ in range(INSERT_RACES):
        if session.execute(_ADD, key).rowcount:
            return
        try:
            with session.begin_nested():
                session.execute(insert(COUNTS).values(**values))
        except IntegrityError:
            continue
        return
    raise RuntimeError(f"guard count {values['prefix']}: the INSERT lost "
                       f"{INSERT_RACES} races in a row and the UPDATE still found "
                       "no row")


def put_block_portably(session: Session, values: dict) -> None:
    """GuardRepository.block for any dialect: DELETE the prefix's block, INSERT the new
    one (a concurrent block of the same prefix makes one of the two fail and roll back)."""
    session.execute(delete(BLOCKS).where(BLOCKS.c.prefix == values["prefix"]))
    session.execute(insert(BLOCKS).values(**values))


@functools.cache
def _add_counts(dialect: str):
    """INSERT .. ON CONFLICT DO UPDATE adding to sms and verified, or None."""
    upsert = on_conflict_insert(dialect)
    if upsert is None:
        return None
    statement = upsert(COUNTS)
    return statement.on_conflict_do_update(
        index_elements=["prefix", "bucket_start"],
        set_={"sms": COUNTS.c.sms + statement.excluded.sms,
              "verified": COUNTS.c.verified + statement.excluded.verified})


@functools.cache
def _put_block(dialect: str):
    upsert = on_conflict_insert(dialect)
    if upsert is None:
        return None
    statement = upsert(BLOCKS)
    return statement.on_conflict_do_update(
        index_elements=["prefix"],
        set_={name: statement.excluded[name] for name in
              ("reason", "blocked_at", "blocked_until", "sms", "verified", "expires_at")})


class GuardRepository(Repository):
    """Per-prefix counts and blocks (see the module docstring)."""

    def standing(self, prefix: str, since: datetime, settled: datetime) -> Standing:
        """The prefix's block end and its figures in buckets that start after ``since``;
        ``settled_sms`` counts those of them that start at or before ``settled``."""
        row = self._tx.connection().execute(
            _STANDING, {"prefix": prefix, "since": since, "settled": settled}).one()
        return Standing(row[0], int(row[1]), int(row[2]), int(row[3]))

    def count(self, prefix: str, bucket_start: datetime, expires_at: datetime, *,
              sms: int = 0, verified: int = 0) -> None:
        """Add ``sms`` and ``verified`` to the prefix's bucket (an atomic upsert)."""
        connection = self._tx.before_write()
        values = {"prefix": prefix, "bucket_start": bucket_start, "sms": sms,
                  "verified": verified, "expires_at": expires_at}
        statement = _add_counts(connection.dialect.name)
        if statement is None:
            add_counts_portably(self._db, values)
        else:
            connection.execute(statement, values)

    def block(self, prefix: str, *, reason: str, blocked_at: datetime,
              blocked_until: datetime, sms: int, verified: int,
              expires_at: datetime) -> None:
        """Refuse the prefix until ``blocked_until`` (replacing an ended block)."""
        connection = self._tx.before_write()
        values = {"prefix": prefix, "reason": reason, "blocked_at": blocked_at,
                  "blocked_until": blocked_until, "sms": sms, "verified": verified,
                  "expires_at": expires_at}
        statement = _put_block(connection.dialect.name)
        if statement is None:
            put_block_portably(self._db, values)
        else:
            connection.execute(statement, values)

    def clear(self, prefix: str) -> bool:
        """Forget the prefix's block and counts (a fresh start); whether it had a block."""
        connection = self._tx.before_write()
        connection.execute(delete(COUNTS).where(COUNTS.c.prefix == prefix))
        return connection.execute(delete(BLOCKS).where(BLOCKS.c.prefix == prefix)).rowcount > 0

    def overview(self, since: datetime, now: datetime, settled: datetime | None = None
                 ) -> list[PrefixFigures]:
        """Every prefix with counts after ``since`` or a block kept at ``now``, by prefix;
        ``settled_sms`` counts the SMS of buckets that start at or before ``settled``
        (every one of the window when None)."""
        connection = self._tx.connection()
        figures = {prefix: (int(sms), int(verified), int(judged))
                   for prefix, sms, verified, judged in connection.execute(
                       _FIGURES, {"since": since, "settled": settled or now})}
        blocks = {row.prefix: row for row in connection.execute(_BLOCKS, {"now": now})}
        rows = []
        for prefix in sorted(set(figures) | set(blocks)):
            sms, verified, judged = figures.get(prefix, (0, 0, 0))
            block = blocks.get(prefix)
            extra = {} if block is None else {
                "reason": block.reason, "blocked_at": block.blocked_at,
                "blocked_until": block.blocked_until, "sms_when_blocked": block.sms,
                "verified_when_blocked": block.verified}
            rows.append(PrefixFigures(prefix, sms, verified, settled_sms=judged, **extra))
        return rows

    def delete_expired(self, now: datetime) -> dict:
        """Counts out of every window and blocks ended a day ago; rows per table."""
        connection = self._tx.before_write()
        return {table.name: connection.execute(
                    delete(table).where(table.c.expires_at <= now)).rowcount
                for table in (COUNTS, BLOCKS)}

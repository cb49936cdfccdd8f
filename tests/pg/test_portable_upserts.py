"""The portable nonce and counter upserts (for databases without INSERT ... ON CONFLICT,
such as MySQL and MariaDB), forced on SQLite: savepoints, the IntegrityError retry, and
two engines racing on one counter without losing an increment."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, func, select

from gateway.storage.db import make_engine
from gateway.storage.migrate import upgrade
from gateway.storage.models import HawkNonce, RateCounter
from gateway.storage.repositories import hit_counter_portably, remember_nonce_portably
from gateway.storage.uow import uow_factory

EXPIRES = datetime(2026, 3, 1, 12, 10, tzinfo=timezone.utc)


@pytest.fixture
def database_url(tmp_path):
    return f"sqlite:///{tmp_path / 'portable.sqlite3'}"


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def hit(factory, key: str) -> int:
    with factory() as uow:
        count = hit_counter_portably(uow.db, key, EXPIRES)
        uow.commit()
    return count


def counter(engine, key: str) -> RateCounter | None:
    with uow_factory(engine)() as uow:
        return uow.db.get(RateCounter, key)


def test_a_nonce_is_fresh_once_and_seen_afterwards(engine):
    uow = uow_factory(engine)

    with uow() as first:
        assert remember_nonce_portably(first.db, "n1", EXPIRES) is True
        first.commit()
    with uow() as second:
        assert remember_nonce_portably(second.db, "n1", EXPIRES) is False
        assert remember_nonce_portably(second.db, "n2", EXPIRES) is True
        second.commit()

    with uow() as check:
        assert sorted(check.db.scalars(select(HawkNonce.digest))) == ["n1", "n2"]


def test_a_seen_nonce_rolls_back_only_its_savepoint_not_the_callers_transaction(engine):
    with uow_factory(engine)() as uow:
        assert remember_nonce_portably(uow.db, "same", EXPIRES) is True
        assert hit_counter_portably(uow.db, "written-before", EXPIRES) == 1
        assert remember_nonce_portably(uow.db, "same", EXPIRES) is False
        assert hit_counter_portably(uow.db, "written-after", EXPIRES) == 1
        uow.commit()

    assert counter(engine, "written-before").count == 1
    assert counter(engine, "written-after").count == 1


def test_a_counter_starts_at_one_keeps_its_first_expiry_and_counts_per_key(engine):
    factory = uow_factory(engine)

    assert [hit(factory, "a") for _ in range(3)] == [1, 2, 3]
    assert hit(factory, "b") == 1

    with factory() as uow:  # a later expiry given by a later hit changes nothing
        assert hit_counter_portably(uow.db, "a", EXPIRES + timedelta(hours=1)) == 4
        uow.commit()
    row = counter(engine, "a")
    assert (row.count, row.expires_at) == (4, EXPIRES)


def test_a_hit_that_is_not_committed_counts_nothing(engine):
    factory = uow_factory(engine)
    hit(factory, "k")

    with factory() as uow:
        assert hit_counter_portably(uow.db, "k", EXPIRES) == 2
        assert hit_counter_portably(uow.db, "new", EXPIRES) == 1
        # leaving without commit: a refused request consumes nothing

    assert counter(engine, "k").count == 1 and counter(engine, "new") is None


def test_an_insert_beaten_by_a_concurrent_first_hit_retries_the_update(engine):
    """Another writer creates the row between our UPDATE (no row yet) and our INSERT:
    the INSERT's IntegrityError is absorbed by the savepoint and the UPDATE runs again."""
    statements = []

    def record(conn, cursor, statement, *rest):
        statements.append(statement.split()[0])

    def interleave(conn, cursor, statement, *rest):
        if statement.startswith("UPDATE rate_counters") and cursor.rowcount == 0:
            stored_expiry = EXPIRES.replace(tzinfo=None).isoformat(" ", "microseconds")
            cursor.connection.execute(
                "INSERT INTO rate_counters (key, count, expires_at) VALUES (?, ?, ?)",
                ("raced", 41, stored_expiry))

    event.listen(engine, "before_cursor_execute", record)
    event.listen(engine, "after_cursor_execute", interleave)
    try:
        assert hit(uow_factory(engine), "raced") == 42
    finally:
        event.remove(engine, "after_cursor_execute", interleave)
        event.remove(engine, "before_cursor_execute", record)

    dml = [s for s in statements if s in ("UPDATE", "INSERT")]
    assert dml == ["UPDATE", "INSERT", "UPDATE"]
    assert "ROLLBACK" in statements  # to the savepoint, then RELEASE ... and COMMIT
    assert counter(engine, "raced").count == 42


def test_a_counter_that_never_gets_a_row_gives_up_with_a_clear_error(engine):
    """The INSERT keeps failing and the UPDATE keeps finding nothing: no endless loop."""
    def delete_after_insert_fails(conn, cursor, statement, *rest):
        if statement.startswith("UPDATE rate_counters") and cursor.rowcount == 0:
            cursor.connection.execute(
                "INSERT INTO rate_counters (key, count, expires_at) "
                "VALUES ('ghost', 1, '2026-03-01 12:10:00.000000')")
        if statement.startswith("ROLLBACK TO SAVEPOINT"):
            cursor.connection.execute("DELETE FROM rate_counters WHERE key = 'ghost'")

    event.listen(engine, "after_cursor_execute", delete_after_insert_fails)
    try:
        with uow_factory(engine)() as uow:
            with pytest.raises(RuntimeError, match="lost 5 races"):
                hit_counter_portably(uow.db, "ghost", EXPIRES)
    finally:
        event.remove(engine, "after_cursor_execute", delete_after_insert_fails)


def test_two_engines_racing_on_one_counter_lose_no_increment(engine, database_url):
    """Two engines (as two API worker processes) on one SQLite file, one thread each,
    hitting the same new key: every increment lands and each hit saw a distinct count."""
    hits_per_thread = 40
    engines = [engine, make_engine(database_url)]
    start = threading.Barrier(len(engines))
    seen: list[list[int]] = [[] for _ in engines]
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        factory = uow_factory(engines[index])
        try:
            start.wait(timeout=10)
            for _ in range(hits_per_thread):
                seen[index].append(hit(factory, "shared"))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,), name=f"racer-{i}")
               for i in range(len(engines))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        engines[1].dispose()

    assert not errors and not any(thread.is_alive() for thread in threads)
    total = hits_per_thread * len(engines)
    assert sorted(seen[0] + seen[1]) == list(range(1, total + 1))
    assert all(counts == sorted(counts) for counts in seen)
    assert counter(engine, "shared").count == total
    with uow_factory(engine)() as uow:
        assert uow.db.scalar(select(func.count()).select_from(RateCounter)) == 1


def test_the_repositories_use_the_portable_path_on_a_dialect_without_on_conflict(
        database_url):
    """SQLite's engine told that it is MariaDB: the repositories cannot use ON CONFLICT
    and must fall back, yet behave the same."""
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        engine.dialect.name = "mariadb"  # this engine only
        statements = []
        event.listen(engine, "before_cursor_execute",
                     lambda conn, cursor, statement, *rest: statements.append(statement))
        factory = uow_factory(engine)
        with factory() as uow:
            assert uow.nonces.remember("n", EXPIRES) is True
            assert uow.nonces.remember("n", EXPIRES) is False
            assert [uow.counters.hit("k", EXPIRES) for _ in range(3)] == [1, 2, 3]
            uow.commit()
    finally:
        engine.dispose()

    assert not any("ON CONFLICT" in statement for statement in statements)
    assert any(statement.startswith("SAVEPOINT") for statement in statements)

"""Waiting for SQLite's write lock (gateway.storage.db.begin_immediate), on a real SQLite
file with two engines as two processes would hold them: a writer gets the lock once the
holder lets it go, gives up with "database is locked" after its timeout, and leaves the
connection's busy timeout in place for every other statement."""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from gateway.storage import db, writer_lock
from gateway.storage.db import SQLITE_BUSY_TIMEOUT_MS, begin_immediate, make_engine


@pytest.fixture
def engines(tmp_path):
    url = f"sqlite:///{tmp_path / 'lock.sqlite3'}"
    holder, waiter = make_engine(url), make_engine(url)
    with holder.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
    yield holder, waiter
    holder.dispose()
    waiter.dispose()


def busy_timeout(connection) -> int:
    """The driver connection's busy timeout (read without beginning a transaction)."""
    return connection.connection.driver_connection.execute("PRAGMA busy_timeout").fetchone()[0]


def test_a_writer_waits_for_the_lock_and_writes_once_it_is_let_go(engines, monkeypatch):
    holder, waiter = engines
    real_sleep = time.sleep
    tries = []
    tried_again = threading.Event()

    def counted_sleep(seconds):
        tries.append(seconds)
        if len(tries) == 5:
            tried_again.set()
        real_sleep(seconds)

    monkeypatch.setattr(db, "sleep_between_tries", counted_sleep)

    def write():
        with waiter.begin() as connection:  # BEGIN IMMEDIATE: waits for the holder
            connection.execute(text("INSERT INTO t VALUES (2)"))

    with holder.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (1)"))
        thread = threading.Thread(target=write)
        thread.start()
        assert tried_again.wait(5), "the writer did not try again in short steps"
        assert thread.is_alive()
    thread.join(10)
    assert not thread.is_alive()
    assert tries[:3] == list(writer_lock.LOCK_WAITS)  # 0.1, 0.2, 0.5 ms, then every 0.5 ms
    assert set(tries[3:]) == {writer_lock.LOCK_WAIT_AFTER}
    with waiter.connect() as connection:
        assert connection.execute(text("SELECT n FROM t ORDER BY n")).scalars().all() == [1, 2]


def test_a_writer_gives_up_with_database_is_locked_after_its_timeout(engines):
    holder, waiter = engines
    now = [0.0]

    def fake_sleep(seconds):  # the clock moves only when the writer waits
        now[0] += seconds

    with holder.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (1)"))
        with waiter.connect() as other:
            with pytest.raises(OperationalError, match="database is locked"):
                begin_immediate(other, timeout=0.01, sleep=fake_sleep,
                                monotonic=lambda: now[0])
            assert now[0] >= 0.01
            # The busy timeout is back for the statements that follow.
            assert busy_timeout(other) == SQLITE_BUSY_TIMEOUT_MS


def test_an_error_that_is_not_the_lock_is_raised_at_once(engines):
    _, waiter = engines
    slept = []
    with waiter.connect() as connection:
        driver = connection.connection.driver_connection
        driver.execute("BEGIN")  # already in a transaction: not a lock error
        with pytest.raises(OperationalError, match="within a transaction"):
            begin_immediate(connection, sleep=slept.append)
        driver.execute("ROLLBACK")
        assert busy_timeout(connection) == SQLITE_BUSY_TIMEOUT_MS
    assert slept == []


def test_with_the_lock_free_a_write_transaction_keeps_the_busy_timeout(engines):
    _, waiter = engines
    with waiter.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (3)"))
        assert busy_timeout(connection) == SQLITE_BUSY_TIMEOUT_MS

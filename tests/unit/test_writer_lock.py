"""The API processes' queue for SQLite's write lock (gateway.storage.writer_lock), on a real
SQLite file with engines as the API processes build them (``queue_writers=True``): a
writer waits for the holder without trying SQLite's lock in between, gets the lock when
the holder commits, rolls back or dies, and gives up with "database is locked" after
its timeout, in the main thread of a process without other threads (a timer signal) as
in any other case (short tries)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from gateway.storage import db
from gateway.storage.db import begin_immediate, make_engine
from gateway.storage import writer_lock
from gateway.storage.writer_lock import SUFFIX, QueuedConnection


@pytest.fixture
def database(tmp_path):
    path = tmp_path / "queue.sqlite3"
    setup = make_engine(f"sqlite:///{path}")
    with setup.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
    setup.dispose()
    return path


@pytest.fixture
def engines(database):
    url = f"sqlite:///{database}"
    holder, waiter = make_engine(url, queue_writers=True), make_engine(url, queue_writers=True)
    yield holder, waiter
    holder.dispose()
    waiter.dispose()


@pytest.fixture
def sqlite_tries(monkeypatch):
    """The sleeps between two tries of SQLite's own lock (none when the queue works)."""
    slept: list[float] = []
    monkeypatch.setattr(db, "sleep_between_tries", slept.append)
    return slept


def rows(engine) -> list[int]:
    with engine.connect() as connection:
        return connection.execute(text("SELECT n FROM t ORDER BY n")).scalars().all()


def hold_in_a_thread(engine, let_go: threading.Event, how: str = "commit"):
    """A write transaction of ``engine`` in another thread, ended (``how``) when
    ``let_go`` is set; returns the thread once the transaction holds the lock."""
    holding = threading.Event()

    def run():
        connection = engine.connect()
        transaction = connection.begin()
        connection.execute(text("INSERT INTO t VALUES (1)"))
        holding.set()
        let_go.wait(10)
        getattr(transaction, how)()
        connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    assert holding.wait(5)
    return thread


@pytest.mark.parametrize("how", ["commit", "rollback"])
def test_a_writer_in_the_main_thread_waits_in_the_queue_and_writes_once_the_holder_ends(
        engines, sqlite_tries, how):
    holder, waiter = engines
    let_go = threading.Event()
    thread = hold_in_a_thread(holder, let_go, how)
    threading.Timer(0.2, let_go.set).start()

    started = time.monotonic()
    with waiter.begin() as connection:  # blocks in the queue until the holder ends
        connection.execute(text("INSERT INTO t VALUES (2)"))
    thread.join(5)

    assert time.monotonic() - started >= 0.15
    assert rows(waiter) == ([1, 2] if how == "commit" else [2])
    assert sqlite_tries == []  # it never found SQLite's lock taken


def test_a_writer_in_another_thread_waits_too(engines, sqlite_tries):
    holder, waiter = engines
    let_go = threading.Event()
    thread = hold_in_a_thread(holder, let_go)
    done = threading.Event()

    def write():
        with waiter.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (2)"))
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert not done.wait(0.2)  # queued behind the holder
    let_go.set()
    assert done.wait(5)
    thread.join(5)
    writer.join(5)
    assert rows(waiter) == [1, 2] and sqlite_tries == []


def test_past_its_timeout_a_queued_writer_gets_database_is_locked_and_holds_nothing(engines):
    holder, waiter = engines
    let_go = threading.Event()
    thread = hold_in_a_thread(holder, let_go)
    try:
        with waiter.connect() as connection:
            started = time.monotonic()
            with pytest.raises(OperationalError, match="database is locked"):
                begin_immediate(connection, timeout=0.2)
            assert 0.15 <= time.monotonic() - started < 5
            assert not connection.connection.driver_connection.writer_lock.held
    finally:
        let_go.set()
        thread.join(5)
    with waiter.begin() as connection:  # the queue works again
        connection.execute(text("INSERT INTO t VALUES (3)"))
    assert rows(waiter) == [1, 3]


def test_a_queued_writer_leaves_someone_elses_sigalrm_handler_and_timer_alone(engines):
    """In a process where something else uses SIGALRM (a watchdog, pytest-timeout's signal
    method), the main thread's wait goes in steps: that handler stays, its timer runs on."""
    holder, waiter = engines
    fired = []

    def watchdog(signum, frame):
        fired.append(signum)

    previous = signal.signal(signal.SIGALRM, watchdog)
    signal.setitimer(signal.ITIMER_REAL, 60)
    let_go = threading.Event()
    thread = hold_in_a_thread(holder, let_go)
    try:
        with waiter.connect() as connection:
            with pytest.raises(OperationalError, match="database is locked"):
                begin_immediate(connection, timeout=0.2)
        assert signal.getsignal(signal.SIGALRM) is watchdog
        assert 50 < signal.getitimer(signal.ITIMER_REAL)[0] <= 60 and fired == []
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        let_go.set()
        thread.join(5)


def test_with_other_threads_the_main_thread_still_gives_up_at_its_timeout(engines):
    """The timer's signal may go to any thread that does not block it; Python runs the
    handler in the main thread only once that thread runs again, which a blocking
    ``flock`` would not until the holder let go. So with other threads, no timer: here
    the main thread blocks SIGALRM, as if the kernel had chosen another thread."""
    holder, waiter = engines
    let_go = threading.Event()
    thread = hold_in_a_thread(holder, let_go)
    releaser = threading.Timer(5, let_go.set)
    releaser.start()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    try:
        with waiter.connect() as connection:
            started = time.monotonic()
            with pytest.raises(OperationalError, match="database is locked"):
                begin_immediate(connection, timeout=0.2)
            assert time.monotonic() - started < 4  # not when the holder let go (5 s)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})
        let_go.set()
        releaser.cancel()
        thread.join(5)


WAIT_ALONE = """
import json, os, signal, sys, time
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from gateway.storage.db import begin_immediate, make_engine
from gateway.storage import writer_lock
engine = make_engine(sys.argv[1], queue_writers=True)
with engine.connect() as connection:
    started = time.monotonic()
    try:
        begin_immediate(connection, timeout=0.3)
    except OperationalError as exc:
        print(json.dumps({"waited": time.monotonic() - started, "error": str(exc),
                          "timer": writer_lock._Timer.installed}), flush=True)
os.kill(os.getpid(), signal.SIGALRM)  # a stray timer signal later is ignored
sys.stdin.readline()  # the holder has gone
with engine.begin() as connection:
    connection.execute(text("INSERT INTO t VALUES (4)"))
print(json.dumps({"wrote": True}), flush=True)
"""


def test_a_process_with_one_thread_waits_with_the_timer_and_gives_up_at_its_timeout(
        database):
    """An API process on SQLite runs its app in its only thread: there a timer signal
    bounds a blocking ``flock`` (no tries in between); a stray one later changes nothing."""
    url = f"sqlite:///{database}"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_AND_WAIT, url],
                              stdout=subprocess.PIPE, text=True)
    waiter = None
    try:
        assert holder.stdout.readline().strip() == "holding"
        waiter = subprocess.Popen([sys.executable, "-c", WAIT_ALONE, url], text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        gave_up = json.loads(waiter.stdout.readline())
        holder.kill()
        holder.wait(10)
        waiter.stdin.write("go\n")
        waiter.stdin.flush()
        assert json.loads(waiter.stdout.readline()) == {"wrote": True}
        assert waiter.wait(30) == 0
    finally:
        for process in (holder, waiter):
            if process is not None:
                process.kill()
                process.wait(10)
                for pipe in (process.stdin, process.stdout):
                    if pipe is not None:
                        pipe.close()
    assert "database is locked" in gave_up["error"] and gave_up["timer"] is True
    assert 0.25 <= gave_up["waited"] < 30
    assert rows(make_engine(url)) == [4]


HOLD_AND_WAIT = """
import sys, time
from sqlalchemy import text
from gateway.storage.db import make_engine
engine = make_engine(sys.argv[1], queue_writers=True)
connection = engine.connect()
connection.begin()
connection.execute(text("INSERT INTO t VALUES (9)"))
print("holding", flush=True)
time.sleep(60)
"""


def test_a_holder_killed_with_sigkill_lets_the_queue_go_on(engines, database):
    _, waiter = engines
    holder = subprocess.Popen([sys.executable, "-c", HOLD_AND_WAIT, f"sqlite:///{database}"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        threading.Timer(0.2, holder.kill).start()
        with waiter.begin() as connection:  # waits for the dead process's lock to go
            connection.execute(text("INSERT INTO t VALUES (2)"))
    finally:
        holder.kill()
        holder.wait(10)
        holder.stdout.close()
    assert rows(waiter) == [2]  # its uncommitted row went with it


def test_only_the_api_engine_queues_and_a_lock_file_that_cannot_be_opened_is_no_error(
        database, caplog):
    plain = make_engine(f"sqlite:///{database}")
    with plain.connect() as connection:
        assert not isinstance(connection.connection.driver_connection, QueuedConnection)
    plain.dispose()

    os.mkdir(f"{database}{SUFFIX}")  # the lock's path is taken by a directory
    engine = make_engine(f"sqlite:///{database}", queue_writers=True)
    with engine.begin() as connection:
        assert connection.connection.driver_connection.writer_lock is None
        connection.execute(text("INSERT INTO t VALUES (5)"))
    engine.dispose()
    assert rows(make_engine(f"sqlite:///{database}")) == [5]
    assert "writers do not queue" in caplog.text


def test_a_queued_connection_checkpoints_the_wal_itself_every_hundred_writes(engines, database):
    _, waiter = engines
    plain = make_engine(f"sqlite:///{database}")
    with plain.begin() as connection:
        connection.execute(text("CREATE TABLE blobs (b BLOB)"))
    plain.dispose()
    size = database.stat().st_size
    with waiter.connect() as connection:
        driver = connection.connection.driver_connection
        # SQLite's own checkpoint (inside a commit, with the queue held) only as a backstop
        assert driver.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == (
            writer_lock.AUTOCHECKPOINT_BACKSTOP)
    insert = text("INSERT INTO blobs VALUES (zeroblob(3000))")  # a page each
    for _ in range(writer_lock.CHECKPOINT_EVERY - 1):
        with waiter.begin() as connection:
            connection.execute(insert)
    assert database.stat().st_size == size  # every page written is still in the WAL only
    with waiter.begin() as connection:  # the hundredth write commit
        connection.execute(insert)
    assert database.stat().st_size > size + (writer_lock.CHECKPOINT_EVERY - 1) * 3000

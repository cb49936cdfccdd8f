"""KeptConnections (gateway.storage.transaction): the API processes on a SQLite file keep
the main thread's connection between transactions instead of a pool checkout and checkin
around each. Real SQLite files; what is counted is the pool's checkouts."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import event

import gateway.storage.db
import gateway.storage.transaction
from gateway.storage.db import make_engine
from gateway.storage.migrate import upgrade
from gateway.storage.uow import uow_factory

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.sqlite3'}", queue_writers=True)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def checkouts(engine):
    counted = []
    event.listen(engine, "checkout", lambda *args: counted.append(1))
    return counted


def remember(factory, digest: str, commit: bool = True) -> bool:
    with factory() as uow:
        fresh = uow.nonces.remember(digest, T0)
        if commit:
            uow.commit()
    return fresh


def test_the_main_thread_keeps_one_connection_from_one_transaction_to_the_next(
        engine, checkouts):
    factory = uow_factory(engine, keep_connections=True)
    for index in range(5):
        assert remember(factory, f"n{index}") is True
    with factory(read_only=True) as uow:
        assert uow.modems.fresh(T0, 60) == []
    assert len(checkouts) == 1


def test_another_thread_uses_the_pool_and_keeps_nothing(engine, checkouts):
    factory = uow_factory(engine, keep_connections=True)
    results = []

    def twice():
        results.extend([remember(factory, "t1"), remember(factory, "t2")])

    thread = threading.Thread(target=twice)
    thread.start()
    thread.join(5)
    assert results == [True, True] and len(checkouts) == 2
    assert engine.pool.checkedout() == 0  # the thread ended holding nothing


def test_without_keeping_each_transaction_checks_out(engine, checkouts):
    factory = uow_factory(engine)
    for index in range(3):
        remember(factory, f"n{index}")
    assert len(checkouts) == 3


def test_work_left_without_commit_is_rolled_back_and_lets_go_of_the_write_lock(engine):
    factory = uow_factory(engine, keep_connections=True)
    assert remember(factory, "uncommitted", commit=False) is True
    # Another connection writes at once: nothing holds SQLite's lock or the writer queue.
    assert remember(uow_factory(engine), "other") is True
    assert remember(factory, "uncommitted") is True  # it was never written


def test_a_write_after_a_read_only_transaction_on_the_kept_connection_takes_the_lock(
        engine, monkeypatch):
    """The kept connection still carries the read-only option of the last transaction:
    the next one must see it, and begin IMMEDIATE for a write."""
    factory = uow_factory(engine, keep_connections=True)
    with factory(read_only=True) as uow:
        uow.modems.fresh(T0, 60)
    immediate = []
    real = gateway.storage.db.begin_immediate
    monkeypatch.setattr(gateway.storage.db, "begin_immediate",
                        lambda connection, **kw: immediate.append(1) or real(connection, **kw))
    assert remember(factory, "n") is True
    assert immediate == [1]


def test_a_connection_sqlalchemy_invalidated_is_not_kept(engine, checkouts):
    factory = uow_factory(engine, keep_connections=True)
    with factory() as uow:
        uow.nonces.remember("n", T0)
        uow.db.connection().invalidate()  # as after a disconnect error
    assert remember(factory, "m") is True
    assert len(checkouts) == 2


def test_a_forked_child_never_uses_its_parents_connection(engine, checkouts, monkeypatch):
    factory = uow_factory(engine, keep_connections=True)
    remember(factory, "parent")
    monkeypatch.setattr(gateway.storage.transaction.os, "getpid", lambda: -1)  # "forked"
    assert remember(factory, "child") is True
    assert len(checkouts) == 2


def test_two_transactions_open_at_once_on_one_thread_each_have_a_connection(engine,
                                                                           checkouts):
    factory = uow_factory(engine, keep_connections=True)
    remember(factory, "first")  # kept
    with factory(read_only=True) as reader, factory() as writer:
        assert reader.modems.fresh(T0, 60) == []
        assert writer.nonces.remember("second", T0) is True
        writer.commit()
    remember(factory, "third")
    assert len(checkouts) == 2  # the kept one, and one more while both were open

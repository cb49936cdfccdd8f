"""The portable nonce insert (for databases without INSERT ... ON CONFLICT, such as MySQL
and MariaDB), forced on SQLite: a savepoint that a seen nonce rolls back alone, and the
repositories falling back to it. (The sliding windows' portable path has its own tests,
against PostgreSQL: tests/pg/test_pg_rate_windows.py.)"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import event, select

from gateway.storage.db import make_engine
from gateway.storage.migrate import upgrade
from gateway.storage.models import HawkNonce
from gateway.storage.repositories import remember_nonce_portably
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


def nonces(engine) -> list[str]:
    with uow_factory(engine)() as uow:
        return sorted(uow.db.scalars(select(HawkNonce.digest)))


def test_a_nonce_is_fresh_once_and_seen_afterwards(engine):
    uow = uow_factory(engine)

    with uow() as first:
        assert remember_nonce_portably(first.db, "n1", EXPIRES) is True
        first.commit()
    with uow() as second:
        assert remember_nonce_portably(second.db, "n1", EXPIRES) is False
        assert remember_nonce_portably(second.db, "n2", EXPIRES) is True
        second.commit()

    assert nonces(engine) == ["n1", "n2"]


def test_a_seen_nonce_rolls_back_only_its_savepoint_not_the_callers_transaction(engine):
    with uow_factory(engine)() as uow:
        assert remember_nonce_portably(uow.db, "same", EXPIRES) is True
        assert remember_nonce_portably(uow.db, "written-before", EXPIRES) is True
        assert remember_nonce_portably(uow.db, "same", EXPIRES) is False
        assert remember_nonce_portably(uow.db, "written-after", EXPIRES) is True
        uow.commit()

    assert nonces(engine) == ["same", "written-after", "written-before"]


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
            uow.commit()
    finally:
        engine.dispose()

    assert not any("ON CONFLICT" in statement for statement in statements)
    assert any(statement.startswith("SAVEPOINT") for statement in statements)

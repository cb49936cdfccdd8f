"""Migration 0015 (compact session rows) on PostgreSQL: the scenario of
tests/unit/test_compact_sessions.py, sessions written as the code of 0014 wrote them, on
a throw-away cluster: they keep their codes and SMS, authenticate and expire as before,
down to 0014 and up again."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.storage.db import make_engine
from gateway.storage.migrate import current_revision

# The cluster fixtures of test_postgresql (module-scoped: this module gets its own cluster).
from test_postgresql import (client_rsa_key, pg_cluster, shared_database,  # noqa: F401
                             start_pg_gateway)


def scenario():
    """tests/unit/test_compact_sessions.py, the module pytest imports when it collects it
    (see test_postgresql.http_tests)."""
    directory = str(Path(__file__).resolve().parents[1] / "unit")
    if directory not in sys.path:
        sys.path.append(directory)
    return importlib.import_module("test_compact_sessions")


@pytest.fixture
def url(pg_cluster, shared_database) -> str:  # noqa: F811
    return pg_cluster.url(shared_database, pg_cluster.create_schema(shared_database))


def stored(url: str) -> list[tuple]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(
                "SELECT DISTINCT pg_typeof(hawk_id_digest)::text, octet_length(hawk_id_digest),"
                " pg_typeof(created_at)::text FROM sessions"))]
    finally:
        engine.dispose()


def test_sessions_of_0014_still_work_after_the_upgrade_on_postgresql(
        start_pg_gateway, url, server_keys, clock, client_rsa_key):  # noqa: F811
    unit = scenario()
    pending, verified = unit.sessions_at_0014(url, server_keys.secret, clock.now())

    gw = start_pg_gateway(database_url=url)  # migrates at start

    assert current_revision(gw.engine) == unit.head()
    assert stored(url) == [("bytea", 32, "bigint")]
    unit.assert_the_old_sessions_work(gw, pending, verified, client_rsa_key)


def test_down_to_0014_and_up_again_on_postgresql(start_pg_gateway, url, server_keys, clock,
                                                 client_rsa_key):  # noqa: F811
    unit = scenario()
    pending, verified = unit.sessions_at_0014(url, server_keys.secret, clock.now())
    unit.migrate(url)

    unit.migrate(url, "0014")

    assert stored(url) == [("character varying", 64, "timestamp without time zone")]
    engine = make_engine(url)
    with engine.connect() as connection:
        table = unit.SESSIONS_0014
        rows = connection.execute(sa.select(table).order_by(table.c.id)).all()
        codes = connection.execute(sa.text("SELECT session_id FROM verification_codes")).all()
    engine.dispose()
    assert [(row.hawk_id_digest, row.created_at, row.verified_at) for row in rows] == [
        (old.digest, unit.to_the_millisecond(old.created_at),
         unit.to_the_millisecond(old.verified_at)) for old in (pending, verified)]
    assert codes == [(pending.id,)]
    gw = start_pg_gateway(database_url=url)  # up again
    unit.assert_the_old_sessions_work(gw, pending, verified, client_rsa_key)

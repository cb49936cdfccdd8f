"""Storage: the engine's SQLite pragmas, Alembic migrations that match the models, the
records that match them, read-only transactions, and the cleanup job that removes
expired rows."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, select

from fakes import FakeClock
from gateway.storage.db import DatabaseUrlError, make_engine
from gateway.storage.migrate import alembic_config, current_revision, upgrade
from gateway.storage.models import (Base, HawkNonce, OutboundSms, RateCounter,
                                    VerificationCode, VerificationSession)
from gateway.storage.records import CodeRecord, SessionRecord, field_names
from gateway.storage.repositories import delete_expired
from gateway.storage.uow import ReadOnlyViolation, uow_factory
from gateway.process.wiring import build_deps, prepare_database
from gateway.process.worker import OUTBOX_RETENTION_SECONDS, cleanup

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def database_url(tmp_path):
    return f"sqlite:///{tmp_path / 'db' / 'gateway.sqlite3'}"


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(engine):
    with engine.connect() as connection:
        pragma = lambda name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") >= 1000


def test_the_sqlite_file_directory_is_created(tmp_path, engine):
    upgrade(engine)

    assert (tmp_path / "db" / "gateway.sqlite3").is_file()


def test_upgrade_brings_the_schema_to_the_head_revision(engine):
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()

    upgrade(engine)

    assert head is not None and current_revision(engine) == head


def test_upgrading_twice_is_a_no_op_that_keeps_the_data(engine):
    upgrade(engine)
    revision = current_revision(engine)
    with uow_factory(engine)() as uow:
        uow.db.add(RateCounter(key="k", count=7, expires_at=T0))
        uow.commit()

    upgrade(engine)

    assert current_revision(engine) == revision
    with uow_factory(engine)() as uow:
        assert uow.db.get(RateCounter, "k").count == 7


def test_the_migrations_create_exactly_the_schema_of_the_models(engine):
    upgrade(engine)

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)

    assert differences == []


@pytest.mark.parametrize("record, model", [(SessionRecord, VerificationSession),
                                           (CodeRecord, VerificationCode)])
def test_the_records_of_the_hot_path_have_the_columns_of_their_tables(record, model):
    assert sorted(field_names(record)) == sorted(model.__table__.columns.keys())


def test_a_read_only_unit_of_work_on_sqlite_takes_no_write_lock(engine):
    upgrade(engine)
    factory = uow_factory(engine)
    with factory(read_only=True) as reader:
        assert reader.modems.fresh(T0, 60) == []  # its transaction is open
        with factory() as writer:  # would wait for the lock (busy timeout) otherwise
            assert writer.nonces.remember("k", T0) is True
            writer.commit()
        with pytest.raises(ReadOnlyViolation):
            reader.nonces.remember("other", T0)


def test_a_nested_unit_of_work_on_sqlite_undoes_only_its_own_writes(engine):
    upgrade(engine)
    factory = uow_factory(engine)
    with factory.ambient() as outer:
        assert outer.nonces.remember("outer", T0) is True
        with pytest.raises(LookupError), factory() as nested:
            assert nested.nonces.remember("nested", T0) is True
            assert nested.nonces.remember("outer", T0) is False  # the outer write is seen
            raise LookupError("refused")
        assert outer.nonces.remember("outer", T0) is False  # its own write stays
        outer.commit()
    with factory() as check:
        assert check.db.get(HawkNonce, "nested") is None
        assert check.db.get(HawkNonce, "outer") is not None


def test_a_core_write_is_committed_when_the_orm_session_was_only_opened(engine):
    # A Core write, then the ORM session made for a repository but given nothing to do:
    # the commit must still commit the connection's transaction.
    upgrade(engine)
    factory = uow_factory(engine)
    with factory() as uow:
        uow.nonces.remember("core-then-orm", T0)
        uow.db
        uow.commit()
    with factory() as uow:
        uow.nonces.remember("core-then-orm-rolled-back", T0)
        uow.db
        uow.rollback()
    with factory() as check:
        assert check.db.get(HawkNonce, "core-then-orm") is not None
        assert check.db.get(HawkNonce, "core-then-orm-rolled-back") is None


def test_the_modem_statuses_are_read_once_per_transaction_and_again_after_a_write(engine):
    """An SMS's admission asks for them twice (its capacity, its destination countries)."""
    upgrade(engine)
    uow = uow_factory(engine)
    statements = []
    event.listen(engine, "before_cursor_execute",
                 lambda conn, cursor, sql, *args: statements.append(sql))
    status = {"worker": "box-a", "name": "m0", "url": "/dev/gsm-m0", "state": "ready",
              "healthy": True, "updated_at": T0}
    with uow() as unit:
        unit.modems.upsert(status)
        unit.commit()
    with uow() as unit:
        statements.clear()
        first = unit.modems.fresh(T0, 60)
        assert unit.modems.fresh(T0, 60) == first and len(statements) == 1
        assert unit.modems.fresh(T0 + timedelta(seconds=61), 60) == []  # stale by then
        assert len(statements) == 1  # filtered from what was read
        unit.modems.upsert({**status, "healthy": False})
        [row] = unit.modems.fresh(T0, 60)
        assert row.healthy is False
        unit.commit()
    with uow() as unit:
        statements.clear()
        assert [r.healthy for r in unit.modems.fresh(T0, 60)] == [False]
        assert len(statements) == 1  # a new transaction reads again


@pytest.mark.parametrize("url", ["not a database url", "", "://nothing"])
def test_a_malformed_database_url_gives_a_clear_database_url_error(url):
    with pytest.raises(DatabaseUrlError, match="is not a database URL") as caught:
        make_engine(url)

    assert repr(url) in str(caught.value)


def test_a_database_url_whose_driver_is_missing_gives_a_database_url_error():
    with pytest.raises(DatabaseUrlError, match="cannot use"):
        make_engine("postgresql+nosuchdriver://user@localhost/gateway")


# --- the cleanup job ---------------------------------------------------------------------

@pytest.fixture
def clock():
    return FakeClock(start=T0)


@pytest.fixture
def deps(make_settings, database_url, clock):
    settings = make_settings(database_url=database_url)
    engine = prepare_database(settings)
    yield build_deps(settings, engine, clock)
    engine.dispose()


def session_digest(name: str) -> str:
    """A hawk id digest told apart by ``name`` (64 hex characters, as stored)."""
    return name.encode().hex().ljust(64, "0")


def session_row(name: str, expires_in: float) -> VerificationSession:
    return VerificationSession(hawk_id_digest=session_digest(name), hawk_key_sealed=b"k",
                               msisdn_sealed=None, method="sms/mt", short_code=False,
                               created_at=T0, expires_at=T0 + timedelta(seconds=expires_in))


def code_row(session: VerificationSession, expires_in: float) -> VerificationCode:
    return VerificationCode(session_id=session.id, code_digest="d" * 64, kind="long",
                            method="sms/mt", failed_attempts=0, created_at=T0,
                            expires_at=T0 + timedelta(seconds=expires_in))


def sms_row(label: str, status: str, expires_in: float, updated_ago: float = 0) -> OutboundSms:
    """A row told apart by its ``sender``; sealed while pending, as the real ones."""
    return OutboundSms(recipient="+33*******78", sender=label, purpose="sms/mt",
                       sealed=b"sealed" if status == "queued" else None,
                       status=status, attempts=0, next_attempt_at=T0,
                       expires_at=T0 + timedelta(seconds=expires_in), created_at=T0,
                       updated_at=T0 - timedelta(seconds=updated_ago))


def populate(deps) -> None:
    with deps.uow() as uow:
        ended = session_row("ended", 100)
        live = session_row("live", 10_000)
        live_old_code = session_row("live-old-code", 10_000)
        uow.db.add_all([ended, live, live_old_code])
        uow.db.flush()
        uow.db.add_all([
            code_row(ended, 5000),  # outlives its session: goes with it
            code_row(live, 5000),
            code_row(live_old_code, 50),
            HawkNonce(digest="old-nonce", expires_at=T0 + timedelta(seconds=60)),
            HawkNonce(digest="new-nonce", expires_at=T0 + timedelta(seconds=1000)),
            RateCounter(key="old-window", count=3, expires_at=T0 + timedelta(seconds=60)),
            RateCounter(key="new-window", count=1, expires_at=T0 + timedelta(seconds=1000)),
            sms_row("overdue", "queued", 50),
            # Queued long ago but still valid: the retention is for finished rows only.
            sms_row("waiting", "queued", 1000, updated_ago=3 * 86400),
            sms_row("sent long ago", "sent", 50, updated_ago=2 * 86400),
            sms_row("failed long ago", "failed", 50, updated_ago=2 * 86400),
            sms_row("sent recently", "sent", 50, updated_ago=3600),
        ])
        uow.commit()


def snapshot(deps) -> dict:
    with deps.uow() as uow:
        names = {session_digest(name): name for name in ("ended", "live", "live-old-code")}
        sessions = {row.id: names[row.hawk_id_digest]
                    for row in uow.db.scalars(select(VerificationSession))}
        return {
            "sessions": sorted(sessions.values()),
            "codes": sorted(sessions.get(row.session_id, "orphan")
                            for row in uow.db.scalars(select(VerificationCode))),
            "nonces": sorted(uow.db.scalars(select(HawkNonce.digest))),
            "counters": sorted(uow.db.scalars(select(RateCounter.key))),
            "outbox": {row.sender: row.status for row in uow.db.scalars(select(OutboundSms))},
        }


def test_cleanup_removes_what_expired_and_keeps_everything_else(deps, clock):
    populate(deps)
    clock.advance(500)

    cleanup(deps)

    assert snapshot(deps) == {
        "sessions": ["live", "live-old-code"],
        "codes": ["live"],
        "nonces": ["new-nonce"],
        "counters": ["new-window"],
        "outbox": {"overdue": "expired", "waiting": "queued", "sent recently": "sent"},
    }


def test_cleanup_keeps_everything_before_it_expires(deps, clock):
    populate(deps)
    clock.advance(49)

    cleanup(deps)

    state = snapshot(deps)
    assert state["sessions"] == ["ended", "live", "live-old-code"]
    assert state["codes"] == ["ended", "live", "live-old-code"]
    assert state["nonces"] == ["new-nonce", "old-nonce"]
    assert state["counters"] == ["new-window", "old-window"]
    assert state["outbox"] == {"overdue": "queued", "waiting": "queued",
                               "sent recently": "sent"}  # only the two past retention went


def test_an_outbox_row_marked_expired_says_why_and_is_deleted_after_the_retention(deps, clock):
    populate(deps)
    clock.advance(500)
    cleanup(deps)
    with deps.uow() as uow:
        row = uow.db.scalar(select(OutboundSms).where(OutboundSms.sender == "overdue"))
    assert row.last_error and row.updated_at == clock.now()
    assert row.sealed is None  # final: nothing sealed is kept

    clock.advance(OUTBOX_RETENTION_SECONDS - 1)
    cleanup(deps)
    assert "overdue" in snapshot(deps)["outbox"]

    clock.advance(1)
    cleanup(deps)
    assert "overdue" not in snapshot(deps)["outbox"]


def test_delete_expired_is_safe_to_run_twice(deps, clock):
    populate(deps)
    clock.advance(500)
    with deps.uow() as uow:
        first = delete_expired(uow.db, clock.now(), OUTBOX_RETENTION_SECONDS)
        uow.commit()
    state = snapshot(deps)

    with deps.uow() as uow:
        second = delete_expired(uow.db, clock.now(), OUTBOX_RETENTION_SECONDS)
        uow.commit()

    assert any(first.values())
    assert not any(second.values())
    assert snapshot(deps) == state


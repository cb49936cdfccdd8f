"""Migration 0015 (compact session rows, issue 9) on SQLite files: sessions written as the
code of 0014 wrote them (hex digests, text times, Hawk keys sealed as 64 characters) keep
their codes and outbox rows through the table copy, still authenticate and expire when
they did; down and up again; several processes migrating at once; what a row now takes.

The scenario functions (``sessions_at_0014``, ``assert_the_old_sessions_work``) are run
again on PostgreSQL by tests/pg/test_pg_compact_sessions.py."""
from __future__ import annotations

import base64
import functools
import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import assert_error
from gateway.crypto.sealing import seal_sms
from gateway.crypto.tokens import derive_hawk_credentials, new_session_token
from gateway.storage.column_types import UTCDateTime
from gateway.storage.db import make_engine
from gateway.storage.migrate import alembic_config, current_revision, upgrade
from gateway.verification.codes import code_digest
from gateway.verification.sessions import HAWK_ID, HAWK_KEY, MSISDN

NUMBER, OTHER = "+33612345678", "+33698765432"
CODE = "123456"

# The tables as the code of 0014 wrote them (models.py of that revision).
SESSIONS_0014 = sa.table(
    "sessions", sa.column("id", sa.Integer), sa.column("hawk_id_digest", sa.String),
    sa.column("hawk_key_sealed", sa.LargeBinary), sa.column("msisdn_sealed", sa.LargeBinary),
    sa.column("method", sa.String), sa.column("short_code", sa.Boolean),
    sa.column("verified_at", UTCDateTime), sa.column("created_at", UTCDateTime),
    sa.column("expires_at", UTCDateTime))
CODES_0014 = sa.table(
    "verification_codes", sa.column("session_id", sa.Integer),
    sa.column("code_digest", sa.String), sa.column("kind", sa.String),
    sa.column("method", sa.String), sa.column("failed_attempts", sa.Integer),
    sa.column("created_at", UTCDateTime), sa.column("expires_at", UTCDateTime))
OUTBOX_0014 = sa.table(
    "outbox", sa.column("recipient", sa.String), sa.column("sealed", sa.LargeBinary),
    sa.column("session_id", sa.Integer), sa.column("purpose", sa.String),
    sa.column("status", sa.String), sa.column("attempts", sa.Integer),
    *(sa.column(name, UTCDateTime)
      for name in ("next_attempt_at", "expires_at", "created_at", "updated_at")))


@functools.cache
def head() -> str:
    """The newest revision."""
    return ScriptDirectory.from_config(alembic_config(None)).get_current_head()


@dataclass(frozen=True)
class OldSession:
    """A session written before 0015, and what its client holds."""

    id: int
    token: str  # the msisdnSessionToken, hex
    digest: str
    number: str
    created_at: datetime
    expires_at: datetime
    verified_at: datetime | None


def to_the_millisecond(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(
        microsecond=moment.microsecond // 1000 * 1000)


def sessions_at_0014(url: str, secret, now: datetime) -> tuple[OldSession, OldSession]:
    """The database of ``url`` at revision 0014 with two sessions written as the code of
    that revision wrote them: one waiting for its code (CODE, also queued in the outbox),
    one verified a day ago (its SMS delivered, the row scrubbed). Times carry
    microseconds, which the migration truncates to the millisecond."""
    engine = make_engine(url)
    try:
        upgrade(engine, "0014")
        with engine.begin() as connection:
            pending = _old_session(connection, secret, NUMBER, created=now - timedelta(
                minutes=2, microseconds=123_456), expires=now + timedelta(
                hours=1, microseconds=654_321), verified=None)
            verified = _old_session(connection, secret, OTHER, created=now - timedelta(
                days=1, minutes=5), expires=now + timedelta(days=29, microseconds=999_999),
                verified=now - timedelta(days=1, microseconds=500_000))
            connection.execute(sa.insert(CODES_0014).values(
                session_id=pending.id, code_digest=code_digest(secret, pending.digest, CODE),
                kind="short", method="sms/mt", failed_attempts=0, created_at=pending.created_at,
                expires_at=now + timedelta(minutes=8)))
            for session, status in ((pending, "queued"), (verified, "delivered")):
                sealed = seal_sms(secret, session.digest, session.number, f"code {CODE}")
                connection.execute(sa.insert(OUTBOX_0014).values(
                    recipient="+33*******78", sealed=sealed if status == "queued" else None,
                    session_id=session.id, purpose="sms/mt", status=status, attempts=0,
                    next_attempt_at=session.created_at, expires_at=now + timedelta(minutes=8),
                    created_at=session.created_at, updated_at=session.created_at))
    finally:
        engine.dispose()
    return pending, verified


def _old_session(connection, secret, number: str, *, created: datetime, expires: datetime,
                 verified: datetime | None) -> OldSession:
    token = new_session_token()
    credentials = derive_hawk_credentials(token)
    digest = secret.digest(HAWK_ID, credentials.id)
    session_id = connection.execute(sa.insert(SESSIONS_0014).values(
        hawk_id_digest=digest,
        hawk_key_sealed=secret.seal(credentials.id, HAWK_KEY, credentials.key),  # as text
        msisdn_sealed=secret.seal(credentials.id, MSISDN, number), method="sms/mt",
        short_code=True, verified_at=verified, created_at=created, expires_at=expires)
        .returning(SESSIONS_0014.c.id)).scalar_one()
    return OldSession(session_id, token.hex(), digest, number, created, expires, verified)


def assert_the_old_sessions_work(gw, pending: OldSession, verified: OldSession,
                                 client_key: dict) -> None:
    """What the clients of sessions written before 0015 see once the gateway migrated."""
    with gw.deps.uow(read_only=True) as uow:
        for old in (pending, verified):
            row = uow.sessions.by_digest(old.digest)
            assert row.id == old.id
            assert (row.created_at, row.expires_at, row.verified_at) == tuple(
                map(to_the_millisecond, (old.created_at, old.expires_at, old.verified_at)))
    # The worker still opens the SMS queued for the pending session (bound to its digest).
    opened = [(row.session_id, number) for row, number, _text in gw.opened_outbox()]
    assert opened == [(pending.id, NUMBER), (verified.id, None)]
    # Its Hawk key (sealed as 64 characters) opens, its code survived the table copy.
    response = gw.post("/v1/msisdn/sms/verify_code", {"code": CODE}, pending.token)
    assert response.status_code == 200, response.text
    assert response.json() == {"msisdn": NUMBER}
    # The verified one still gets certificates, with the time it was verified, until it
    # expires when it did before the migration (to the millisecond).
    expiry = to_the_millisecond(verified.expires_at)
    gw.clock.advance((expiry - timedelta(milliseconds=1) - gw.clock.now()).total_seconds())
    claims = _certificate_claims(gw, verified.token, client_key)
    assert claims["verifiedMSISDN"] == OTHER
    assert claims["lastVerifiedAt"] == int(verified.verified_at.timestamp())
    gw.clock.advance(0.001)
    assert gw.clock.now() == expiry
    assert_error(gw.post("/v1/certificate/sign", {"publicKey": client_key}, verified.token),
                 401, 110)


def _certificate_claims(gw, token: str, client_key: dict) -> dict:
    response = gw.post("/v1/certificate/sign", {"publicKey": client_key}, token)
    assert response.status_code == 200, response.text
    payload = response.json()["cert"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture(scope="module")
def client_key() -> dict:
    numbers = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key() \
        .public_numbers()
    return {"algorithm": "RS", "n": str(numbers.n), "e": str(numbers.e)}


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'gateway.sqlite3'}"


def sqlite_rows(url: str, sql: str) -> list[tuple]:
    """Rows read from the file as stored (no column type in between)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.exec_driver_sql(sql)]
    finally:
        engine.dispose()


def migrate(url: str, revision: str = "head") -> None:
    """Bring the database of ``url`` to ``revision``, up or down, as ``db upgrade`` does."""
    from alembic import command

    engine = make_engine(url)
    try:
        if revision == "head" or revision > current_revision(engine):
            upgrade(engine, revision)
        else:
            command.downgrade(alembic_config(engine), revision)
    finally:
        engine.dispose()


# --- upgrade -------------------------------------------------------------------------------

def test_sessions_of_0014_keep_their_codes_and_sms_and_still_authenticate_after_the_upgrade(
        start_gateway, url, server_keys, clock, client_key):
    pending, verified = sessions_at_0014(url, server_keys.secret, clock.now())

    gw = start_gateway(database_url=url)  # migrates at start, as the gateway does

    assert current_revision(gw.engine) == head()
    assert sqlite_rows(url, "SELECT session_id FROM verification_codes") == [(pending.id,)]
    assert_the_old_sessions_work(gw, pending, verified, client_key)


def test_the_upgrade_stores_digests_as_32_bytes_and_times_as_integer_milliseconds(
        url, server_keys, clock):
    pending, verified = sessions_at_0014(url, server_keys.secret, clock.now())

    migrate(url)

    rows = sqlite_rows(url, "SELECT id, hawk_id_digest, typeof(created_at), created_at, "
                            "expires_at, verified_at FROM sessions ORDER BY id")
    epoch_ms = lambda moment: None if moment is None else round(  # noqa: E731
        to_the_millisecond(moment).timestamp() * 1000)
    assert rows == [(old.id, bytes.fromhex(old.digest), "integer", epoch_ms(old.created_at),
                     epoch_ms(old.expires_at), epoch_ms(old.verified_at))
                    for old in (pending, verified)]


def test_a_database_whose_foreign_keys_do_not_hold_is_left_at_0014(url, server_keys, clock):
    pending, _ = sessions_at_0014(url, server_keys.secret, clock.now())
    # A code whose session is gone, deleted by a connection without foreign keys (the
    # sqlite3 module's default).
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as connection:
        connection.execute("DELETE FROM sessions WHERE id = ?", (pending.id,))
        connection.commit()
    engine = make_engine(url)

    with pytest.raises(sa.exc.SQLAlchemyError, match=r"1 rows have a foreign key that matches "
                                                  r"no row \(verification_codes -> sessions\)"):
        upgrade(engine)

    assert current_revision(engine) == "0014"
    assert sqlite_rows(url, "SELECT typeof(hawk_id_digest), typeof(created_at) FROM sessions"
                       ) == [("text", "text")]
    engine.dispose()


def test_the_connection_that_migrated_goes_back_to_the_pool_with_foreign_keys_on(
        url, server_keys, clock):
    sessions_at_0014(url, server_keys.secret, clock.now())
    engine = make_engine(url)
    upgrade(engine)
    assert engine.pool.checkedin() == 1  # the migration's connection, which we now get
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


MIGRATE = """
import sys
from gateway.storage.db import make_engine
from gateway.storage.migrate import current_revision, upgrade
engine = make_engine(sys.argv[1])
upgrade(engine)
print(current_revision(engine))
"""


def test_processes_that_start_at_once_migrate_the_database_in_turn(url, server_keys, clock):
    pending, verified = sessions_at_0014(url, server_keys.secret, clock.now())

    starts = [subprocess.Popen([sys.executable, "-c", MIGRATE, url], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outcomes = [(start.wait(timeout=60), *start.communicate()) for start in starts]

    assert [(code, out.strip()) for code, out, _err in outcomes] == [(0, head())] * 4, outcomes
    assert sqlite_rows(url, "SELECT id, length(hawk_id_digest) FROM sessions ORDER BY id") == [
        (pending.id, 32), (verified.id, 32)]
    assert sqlite_rows(url, "SELECT session_id FROM verification_codes") == [(pending.id,)]


# --- downgrade -----------------------------------------------------------------------------

def test_down_to_0014_gives_back_its_rows_and_up_again_the_sessions_still_work(
        start_gateway, url, server_keys, clock, client_key):
    pending, verified = sessions_at_0014(url, server_keys.secret, clock.now())
    migrate(url)

    migrate(url, "0014")

    engine = make_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(sa.select(SESSIONS_0014).order_by(SESSIONS_0014.c.id)).all()
    engine.dispose()
    assert [(row.id, row.hawk_id_digest, row.created_at, row.expires_at, row.verified_at)
            for row in rows] == [
        (old.id, old.digest, *map(to_the_millisecond, (old.created_at, old.expires_at,
                                                         old.verified_at)))
        for old in (pending, verified)]
    assert sqlite_rows(url, "SELECT session_id FROM verification_codes") == [(pending.id,)]

    gw = start_gateway(database_url=url)  # up again
    assert current_revision(gw.engine) == head()
    assert_the_old_sessions_work(gw, pending, verified, client_key)


def test_a_session_registered_after_the_upgrade_survives_down_and_up_again(
        start_gateway, url, server_keys, clock):
    sessions_at_0014(url, server_keys.secret, clock.now())
    gw = start_gateway(database_url=url)
    token = gw.register()
    gw.engine.dispose()

    migrate(url, "0014")
    migrate(url)

    response = gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": NUMBER, "mcc": "208"}, token)
    assert response.status_code == 204, response.text


# --- what a verified user costs ----------------------------------------------------------

USERS = 300  # enough rows that page headers and half-full pages weigh little


def bytes_per_session(url: str) -> float:
    """Bytes of the file's pages used by the sessions table and its two indexes (cells,
    their pointers, page headers: all but the pages' free space), per session row.
    Skips when SQLite was built without the dbstat table."""
    try:
        [(used, sessions)] = sqlite_rows(url, """
            SELECT sum(pgsize - unused), (SELECT count(*) FROM sessions) FROM dbstat
            WHERE name IN (SELECT name FROM sqlite_schema WHERE tbl_name = 'sessions')""")
    except sa.exc.OperationalError:
        pytest.skip("this SQLite has no dbstat table (SQLITE_ENABLE_DBSTAT_VTAB)")
    return used / sessions


def verified_users(deps, count: int) -> None:
    """``count`` sessions as a verification leaves them once the cleanup has run:
    registered (gateway.verification.sessions), a number bound, verified."""
    from gateway.verification import sessions

    now = deps.now()
    for index in range(count):
        hawk_id = derive_hawk_credentials(bytes.fromhex(sessions.register(deps))).id
        with deps.uow() as uow:
            row = sessions.load_session(uow, deps, hawk_id)
            uow.sessions.update(
                row.id, msisdn_sealed=deps.secret.seal(hawk_id, MSISDN, f"+336{index:08d}"),
                method="sms/mt", short_code=True, verified_at=now,
                expires_at=deps.later(deps.settings.verified_session_ttl))
            uow.commit()


def test_a_verified_user_costs_under_300_bytes_of_sessions_where_it_cost_more(
        start_gateway, url, tmp_path, server_keys, clock):
    engine = make_engine(url)
    upgrade(engine, "0014")
    with engine.begin() as connection:
        for index in range(USERS):
            _old_session(connection, server_keys.secret, f"+336{index:08d}",
                         created=clock.now(), expires=clock.now() + timedelta(days=365),
                         verified=clock.now())
    engine.dispose()
    before = bytes_per_session(url)
    migrate(url)
    migrated = bytes_per_session(url)  # Hawk keys sealed as 64 characters still

    gw = start_gateway(database_url=f"sqlite:///{tmp_path / 'new.sqlite3'}")
    verified_users(gw.deps, USERS)
    after = bytes_per_session(gw.settings.effective_database_url)

    assert after <= 300 < before and after < migrated < before, (before, migrated, after)
    assert sqlite_rows(gw.settings.effective_database_url, """
        SELECT DISTINCT typeof(hawk_id_digest), length(hawk_id_digest), length(hawk_key_sealed),
               typeof(created_at), typeof(expires_at), typeof(verified_at) FROM sessions""") == [
        ("blob", 32, 60, "integer", "integer", "integer")]

"""Data at rest in storage: migration 0007 on a database that already holds numbers and
texts, the inbox retention setting, secure_delete, and the sealing helpers."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from gateway.config.settings import SettingsError, load_settings
from gateway.crypto.sealing import open_sms, seal_sms
from gateway.crypto.tokens import SealError, ServerSecret
from gateway.storage.db import make_engine
from gateway.storage.migrate import current_revision, upgrade

NUMBERS = ["+33612345601", "+33612345602", "+33612345603", "+33612345604"]
OLD_ROWS = [  # (id, status, text) of the outbox before 0007
    (1, "queued", "code-queued-111111"), (2, "sending", "code-sending-222222"),
    (3, "sent", "code-sent-333333"), (4, "delivered", "code-delivered-444444")]


@pytest.fixture
def old_database(tmp_path):
    """A database at revision 0006 with outbox rows (one with a part), an SMS-MO request
    and another SMS in the inbox, written as the code before 0007 wrote them."""
    path = tmp_path / "gateway.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine, "0006")
    now = "2026-01-01 00:00:00.000000"
    with engine.begin() as connection:
        for (row_id, status, body), number in zip(OLD_ROWS, NUMBERS):
            connection.execute(text(
                "INSERT INTO outbox (id, recipient, text, purpose, status, attempts, "
                "next_attempt_at, expires_at, created_at, updated_at) VALUES "
                "(:id, :recipient, :text, 'sms/mt', :status, 1, :now, :now, :now, :now)"),
                {"id": row_id, "recipient": number, "text": body, "status": status,
                 "now": now})
        connection.execute(text(
            "INSERT INTO outbox_parts (outbox_id, part_number, part_count, modem, reference, "
            "status, submitted_at) VALUES (3, 1, 1, 'm0', 7, 'sent', :now)"), {"now": now})
        for key, sender, kind in (("a", "+33698765401", "momt-verify"),
                                  ("b", "+33698765402", "other")):
            connection.execute(text(
                "INSERT INTO inbox (dedupe_key, modem, sender, text, partial, kind, outcome, "
                "received_at) VALUES (:key, 'm0', :sender, 'x', 0, :kind, 'stored', :now)"),
                {"key": key, "sender": sender, "kind": kind, "now": now})
    yield engine, path
    engine.dispose()


def test_the_upgrade_masks_numbers_drops_texts_and_keeps_the_parts(old_database):
    engine, path = old_database
    upgrade(engine, "0007")
    assert current_revision(engine) == "0007"
    with engine.connect() as connection:
        outbox = connection.execute(text(
            "SELECT id, recipient, status, sealed, last_error FROM outbox ORDER BY id")).all()
        parts = connection.execute(text("SELECT outbox_id FROM outbox_parts")).all()
        inbox = dict(connection.execute(text("SELECT kind, sender FROM inbox")).all())
    assert [(r.recipient, r.status, r.sealed) for r in outbox] == [
        ("+33*******01", "expired", None), ("+33*******02", "unknown", None),
        ("+33*******03", "sent", None), ("+33*******04", "delivered", None)]
    assert "upgrade" in outbox[0].last_error and outbox[2].last_error is None
    assert parts == [(3,)]  # no copy of the table: its parts were not cascade-deleted
    assert inbox == {"momt-verify": "+33*******01", "other": "+33698765402"}
    assert "text" not in {column["name"] for column in inspect(engine).get_columns("outbox")}

    engine.dispose()  # the last connection checkpoints the WAL into the file
    data = b"".join(Path(str(path) + suffix).read_bytes() for suffix in ("", "-wal")
                    if Path(str(path) + suffix).exists())
    for secret in NUMBERS + ["+33698765401"] + [body for _, _, body in OLD_ROWS]:
        assert secret.encode() not in data, secret


def test_the_downgrade_brings_the_columns_back_without_what_was_sealed(old_database):
    engine, _ = old_database
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE outbox SET status = 'queued', sealed = x'00' "
                                "WHERE id = 1"))
    _downgrade(engine, "0006")
    columns = {column["name"] for column in inspect(engine).get_columns("outbox")}
    assert {"text", "recipient"} <= columns and not {"sealed", "session_id"} & columns
    with engine.connect() as connection:
        assert connection.execute(text("SELECT status, text FROM outbox WHERE id = 1")).one() \
            == ("expired", "")
    upgrade(engine, "0007")  # and up again
    assert current_revision(engine) == "0007"


def _downgrade(engine, revision: str) -> None:
    from alembic import command

    from gateway.storage.migrate import alembic_config

    command.downgrade(alembic_config(engine), revision)


def test_sqlite_connections_zero_what_they_delete(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
    engine.dispose()


def test_inbox_retention_defaults_to_30_days_and_must_be_positive():
    assert load_settings(environ={}).inbox_retention == 30 * 86400
    assert load_settings(environ={"MSISDN_GATEWAY_INBOX_RETENTION": "3600"}
                         ).inbox_retention == 3600
    with pytest.raises(SettingsError, match="inbox_retention must be positive"):
        load_settings(environ={"MSISDN_GATEWAY_INBOX_RETENTION": "0"})


def test_a_sealed_sms_opens_only_with_the_same_secret_and_session():
    secret, other = ServerSecret(b"a" * 32), ServerSecret(b"b" * 32)
    sealed = seal_sms(secret, "d" * 64, "+33612345678", "123456")
    assert b"+33612345678" not in sealed and b"123456" not in sealed
    assert open_sms(secret, "d" * 64, sealed) == ("+33612345678", "123456")
    for opener, binding in ((other, "d" * 64), (secret, "e" * 64), (secret, None)):
        with pytest.raises(SealError):
            open_sms(opener, binding, sealed)
    with pytest.raises(SealError):
        open_sms(secret, "d" * 64, None)  # scrubbed
    assert open_sms(secret, None, seal_sms(secret, None, "+1", "t")) == ("+1", "t")


def test_a_database_made_here_is_private_whatever_the_umask(tmp_path):
    # Run by hand (no systemd UMask=0077), the usual umask 022 made the state directory
    # and the database, with its -wal and -shm, readable by every local user.
    previous = os.umask(0o022)
    try:
        engine = make_engine(f"sqlite:///{tmp_path / 'state' / 'db.sqlite3'}")
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x TEXT)"))
            connection.execute(text("INSERT INTO t VALUES ('an SMS kept in clear')"))
            files = sorted(p.name for p in (tmp_path / "state").iterdir())
            modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "state").iterdir()}
        engine.dispose()
    finally:
        os.umask(previous)
    assert files == ["db.sqlite3", "db.sqlite3-shm", "db.sqlite3-wal"]
    assert modes == {name: 0o600 for name in files}
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700


def test_an_existing_database_keeps_its_mode(tmp_path):
    path = tmp_path / "db.sqlite3"
    path.touch(mode=0o640)
    path.chmod(0o640)
    make_engine(f"sqlite:///{path}").dispose()
    assert path.stat().st_mode & 0o777 == 0o640

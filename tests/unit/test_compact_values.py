"""The compact forms of a session's values (issue 9): Hawk keys sealed as their 32 bytes
(and those sealed as 64 characters before still opening), digests stored as 32 bytes and
times as integer milliseconds on a real SQLite file, and what both column types refuse."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import StatementError

from gateway.crypto.sealing import open_hex_key, seal_hex_key
from gateway.crypto.tokens import SealError, ServerSecret, derive_hawk_credentials
from gateway.storage.db import make_engine
from gateway.storage.migrate import upgrade
from gateway.storage.models import VerificationSession
from gateway.storage.records import SessionRecord
from gateway.storage.repositories import delete_expired
from gateway.storage.uow import uow_factory

SECRET = ServerSecret(bytes(range(32)))
CREDENTIALS = derive_hawk_credentials(bytes(range(100, 132)))
PURPOSE = "hawk-key"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def test_a_hex_key_is_sealed_as_60_bytes_that_give_it_back_and_reveal_nothing():
    sealed = seal_hex_key(SECRET, CREDENTIALS.id, PURPOSE, CREDENTIALS.key)

    assert len(sealed) == 12 + 32 + 16  # nonce, the key's bytes, tag
    assert CREDENTIALS.key.encode() not in sealed and bytes.fromhex(CREDENTIALS.key) not in sealed
    assert open_hex_key(SECRET, CREDENTIALS.id, PURPOSE, sealed) == CREDENTIALS.key


def test_a_key_sealed_as_64_characters_before_0015_still_opens():
    sealed = SECRET.seal(CREDENTIALS.id, PURPOSE, CREDENTIALS.key)

    assert len(sealed) == 12 + 64 + 16
    assert open_hex_key(SECRET, CREDENTIALS.id, PURPOSE, sealed) == CREDENTIALS.key


@pytest.mark.parametrize("opener, hawk_id, purpose", [
    (ServerSecret(b"o" * 32), CREDENTIALS.id, PURPOSE),  # another server secret
    (SECRET, CREDENTIALS.key, PURPOSE),  # another hawk id
    (SECRET, CREDENTIALS.id, "msisdn")])  # another purpose
def test_a_sealed_key_opens_only_with_its_secret_hawk_id_and_purpose(opener, hawk_id, purpose):
    sealed = seal_hex_key(SECRET, CREDENTIALS.id, PURPOSE, CREDENTIALS.key)

    with pytest.raises(SealError):
        open_hex_key(opener, hawk_id, purpose, sealed)


def test_a_sealed_value_that_is_no_key_is_a_seal_error():
    for value in ("+33612345678", "z" * 64, b"\xff" * 64):
        with pytest.raises(SealError, match="malformed"):
            open_hex_key(SECRET, CREDENTIALS.id, PURPOSE,
                         SECRET.seal(CREDENTIALS.id, PURPOSE, value))


@pytest.mark.parametrize("key", [CREDENTIALS.key.upper(), CREDENTIALS.key[:-1], "",
                                 CREDENTIALS.key[:-1] + "g", " " + CREDENTIALS.key[1:]])
def test_only_64_lowercase_hex_characters_are_sealed_as_a_key(key):
    # Anything else could not come back as it was (a Hawk key's characters are its MAC key).
    with pytest.raises(ValueError, match="64 lowercase hex characters"):
        seal_hex_key(SECRET, CREDENTIALS.id, PURPOSE, key)


@pytest.fixture
def uow(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.sqlite3'}")
    upgrade(engine)
    yield uow_factory(engine)
    engine.dispose()


def session(digest: str = "ab" * 32, **times) -> SessionRecord:
    return SessionRecord(**{"hawk_id_digest": digest, "hawk_key_sealed": b"k",
                            "created_at": T0, "expires_at": T0 + timedelta(hours=1), **times})


def test_session_times_come_back_in_utc_to_the_millisecond(uow):
    paris = timezone(timedelta(hours=1))
    with uow() as unit:
        unit.sessions.add(session(verified_at=datetime(2026, 3, 1, 13, 0, 0, 123_999,
                                                       tzinfo=paris)))
        unit.commit()
    with uow() as unit:
        row = unit.sessions.by_digest("ab" * 32)
    assert row.verified_at == T0 + timedelta(milliseconds=123)
    assert row.verified_at.utcoffset() == timedelta(0) and row.created_at == T0


def test_a_session_expiring_within_a_millisecond_is_removed_at_that_millisecond(uow):
    with uow() as unit:
        unit.sessions.add(session(expires_at=T0 + timedelta(microseconds=1_500)))
        unit.commit()
    for now, left in ((T0 + timedelta(microseconds=999), 1), (T0 + timedelta(milliseconds=1), 0)):
        with uow() as unit:
            delete_expired(unit.db, now, 3600)
            unit.commit()
        with uow() as unit:
            assert (unit.sessions.by_digest("ab" * 32) is not None) == bool(left), now


@pytest.mark.parametrize("digest, said", [
    ("AB" * 32, "64 characters, some not lowercase hex"), ("ab" * 31, "62 hex characters"),
    (b"\xab" * 32, "a bytes")])
def test_a_digest_that_is_not_64_lowercase_hex_characters_is_refused_unechoed(uow, digest,
                                                                              said):
    with uow() as unit, pytest.raises(StatementError) as refused:
        unit.sessions.add(session(digest))
    assert isinstance(refused.value.orig, ValueError)
    assert str(refused.value.orig) == (
        f"a digest column takes 64 lowercase hex characters, not {said}")
    with uow() as unit, pytest.raises(StatementError, match="64 lowercase hex characters"):
        unit.sessions.by_digest("AB" * 32)  # a lookup too: it could match nothing


def test_a_naive_time_is_refused_by_a_session_column(uow):
    with uow() as unit, pytest.raises(StatementError, match="naive datetime"):
        unit.db.execute(insert(VerificationSession).values(
            hawk_id_digest="ab" * 32, hawk_key_sealed=b"k", created_at=datetime(2026, 3, 1),
            expires_at=T0))

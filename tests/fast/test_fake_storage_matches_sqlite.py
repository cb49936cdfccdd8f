"""One contract, two implementations: the in-memory unit of work of the fast tier
(tests/fake_storage.py) and the real one over a temporary SQLite file, so that the fake
cannot drift from the repositories it stands in for."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import inspect

import pytest
from sqlalchemy.exc import IntegrityError, StatementError

import fake_storage
from fake_storage import FakeStorage
from gateway.storage import (inbox_repository, modem_status_repository, outbox_repository,
                             repositories)
from gateway.storage.db import make_engine
from gateway.storage.migrate import upgrade
from gateway.storage.models import (Base, InboxMessage, OutboundSms, VerificationCode,
                                    VerificationSession)
from gateway.storage.uow import SqlUnitOfWork, uow_factory

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
LATER = T0 + timedelta(minutes=10)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """One migrated SQLite file for the module, emptied after each test."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('contract') / 'gateway.sqlite3'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["in-memory", "sqlite"])
def uow(request):
    """A factory of units of work, as ``Deps.uow``."""
    if request.param == "in-memory":
        yield FakeStorage()
        return
    engine = request.getfixturevalue("engine")
    yield uow_factory(engine)
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


def session_row(digest="a" * 64, **values) -> VerificationSession:
    return VerificationSession(**{"hawk_id_digest": digest, "hawk_key_sealed": b"sealed",
                                  "created_at": T0, "expires_at": LATER, **values})


def code_row(session_id: int, digest="c" * 64) -> VerificationCode:
    return VerificationCode(session_id=session_id, code_digest=digest, kind="short",
                            method="sms/mt", created_at=T0, expires_at=LATER)


def sms_row(**values) -> OutboundSms:
    return OutboundSms(**{"recipient": "+33612345678", "text": "hello", "purpose": "sms/mt",
                          "status": "queued", "next_attempt_at": T0, "expires_at": LATER,
                          "created_at": T0, "updated_at": T0, **values})


def stored_session(uow, **values) -> int:
    with uow() as unit:
        row = session_row(**values)
        unit.sessions.add(row)
        unit.commit()
    return row.id


def test_a_nonce_is_new_once_and_a_repeat_is_refused_until_it_is_deleted(uow):
    with uow() as unit:
        assert unit.nonces.remember("n1", LATER) is True
        assert unit.nonces.remember("n1", LATER) is False
        unit.commit()
    with uow() as unit:
        assert unit.nonces.remember("n1", LATER + timedelta(days=1)) is False
        assert unit.nonces.remember("n2", LATER) is True  # not committed
    with uow() as unit:
        assert unit.nonces.remember("n2", LATER) is True
        assert unit.delete_expired(LATER, 3600)["hawk_nonces"] == 2
        assert unit.nonces.remember("n1", LATER) is True


def test_a_counter_counts_across_transactions_until_its_expired_row_is_deleted(uow):
    for expected in (1, 2):
        with uow() as unit:
            assert unit.counters.hit("k", LATER) == expected
            unit.commit()
    with uow() as unit:
        assert unit.counters.hit("k", LATER) == 3  # rolled back
    with uow() as unit:
        assert unit.counters.hit("k", T0) == 3  # the first expiry stays
        assert unit.delete_expired(LATER - timedelta(seconds=1), 3600)["rate_counters"] == 0
        assert unit.counters.hit("other", LATER) == 1
        unit.commit()
    with uow() as unit:
        assert unit.delete_expired(LATER, 3600)["rate_counters"] == 2
        assert unit.counters.hit("k", LATER) == 1


def test_a_session_gets_an_id_is_found_by_its_digest_and_goes_with_its_code(uow):
    session_id = stored_session(uow, method="sms/mt")
    assert isinstance(session_id, int)
    with uow() as unit:
        found = unit.sessions.by_digest("a" * 64)
        assert (found.id, found.method, found.short_code, found.msisdn_sealed) == (
            session_id, "sms/mt", False, None)  # short_code: the column default
        assert found.expires_at == LATER and found.expires_at.tzinfo is not None
        assert unit.sessions.by_digest("b" * 64) is None
        unit.codes.replace(code_row(session_id))
        unit.commit()
    with uow() as unit:
        unit.sessions.delete(unit.sessions.by_digest("a" * 64))
        assert unit.sessions.by_digest("a" * 64) is None
        unit.commit()
    with uow() as unit:
        assert unit.sessions.by_digest("a" * 64) is None
        assert unit.codes.for_session(session_id) is None


def test_a_replaced_code_is_the_sessions_only_code(uow):
    session_id = stored_session(uow)
    with uow() as unit:
        unit.codes.replace(code_row(session_id, "1" * 64))
        unit.commit()
    with uow() as unit:
        unit.codes.replace(code_row(session_id, "2" * 64))
        current = unit.codes.for_session(session_id)
        assert (current.code_digest, current.failed_attempts) == ("2" * 64, 0)
        unit.commit()
    with uow() as unit:
        assert unit.codes.for_session(session_id).code_digest == "2" * 64


def test_a_failure_is_counted_on_the_stored_code_and_the_row_shows_the_total(uow):
    session_id = stored_session(uow)
    with uow() as unit:
        unit.codes.replace(code_row(session_id))
        unit.commit()
    with uow() as unit:
        code = unit.codes.for_session(session_id)
        assert [unit.codes.record_failure(code) for _ in range(2)] == [1, 2]
        assert code.failed_attempts == 2
        unit.commit()
    with uow() as unit:
        assert unit.codes.record_failure(unit.codes.for_session(session_id)) == 3
    with uow() as unit:
        assert unit.codes.for_session(session_id).failed_attempts == 2


def test_an_outbox_row_gets_an_id_and_is_pending_until_it_is_final(uow):
    with uow() as unit:
        first, sent = sms_row(), sms_row(status="sent")
        unit.outbox.add(first)
        unit.outbox.add(sent)
        assert isinstance(first.id, int) and sent.id != first.id
        assert unit.outbox.pending_parts_estimate() == 1
        unit.commit()
    with uow() as unit:
        assert unit.outbox.get(first.id).recipient == "+33612345678"
        assert [row.id for row in unit.outbox.latest(10)] == [sent.id, first.id]
        assert [row.id for row in unit.outbox.latest(10, status="queued")] == [first.id]
        assert (unit.outbox.get(first.id).attempts, unit.outbox.get(first.id).sender) == (0, None)


def test_leaving_without_commit_leaves_nothing_behind(uow):
    session_id = stored_session(uow)
    with uow() as unit:
        row = unit.sessions.by_digest("a" * 64)
        row.method = "sms/momt"
        unit.sessions.add(session_row("b" * 64))
        unit.outbox.add(sms_row())
        unit.counters.hit("k", LATER)
    assert row.method == "sms/momt"  # the caller's object keeps what it was given
    with uow() as unit:
        assert unit.sessions.by_digest("a" * 64).method is None
        assert unit.sessions.by_digest("b" * 64) is None
        assert unit.outbox.pending_parts_estimate() == 0
        assert unit.counters.hit("k", LATER) == 1
        assert unit.sessions.by_digest("a" * 64).id == session_id


def test_a_failed_savepoint_undoes_only_what_was_done_inside_it(uow):
    stored_session(uow)
    with uow() as unit:
        row = unit.sessions.by_digest("a" * 64)
        unit.counters.hit("before", LATER)
        with pytest.raises(LookupError):
            with unit.savepoint():
                row.method = "sms/mt"
                unit.outbox.add(sms_row())
                unit.counters.hit("before", LATER)
                unit.counters.hit("inside", LATER)
                raise LookupError("refused")
        assert row.method is None
        assert unit.outbox.pending_parts_estimate() == 0
        with unit.savepoint():
            row.short_code = True
        unit.commit()
    with uow() as unit:
        assert unit.counters.hit("before", LATER) == 2
        assert unit.counters.hit("inside", LATER) == 1
        row = unit.sessions.by_digest("a" * 64)
        assert (row.method, row.short_code) == (None, True)


def test_the_flush_refuses_a_second_session_with_the_same_digest(uow):
    stored_session(uow)
    with uow() as unit, pytest.raises(IntegrityError):
        unit.sessions.add(session_row())


def test_the_flush_refuses_a_code_for_a_session_that_does_not_exist(uow):
    with uow() as unit, pytest.raises(IntegrityError):
        unit.codes.replace(code_row(session_id=41))


def test_the_flush_refuses_a_missing_required_value(uow):
    with uow() as unit, pytest.raises(IntegrityError):
        unit.outbox.add(sms_row(created_at=None))


def test_a_naive_datetime_is_refused_and_times_come_back_in_utc(uow):
    paris = timezone(timedelta(hours=1))
    with uow() as unit:
        unit.counters.hit("k", datetime(2026, 1, 1, 1, 0, tzinfo=paris))
        unit.sessions.add(session_row(verified_at=datetime(2026, 1, 1, 1, 0, tzinfo=paris)))
        unit.commit()
    with uow() as unit:
        verified = unit.sessions.by_digest("a" * 64).verified_at
        assert verified == T0 and verified.utcoffset() == timedelta(0)
    with uow() as unit, pytest.raises(StatementError):
        unit.outbox.add(sms_row(expires_at=datetime(2026, 1, 1)))


def test_modem_statuses_are_fresh_within_the_ttl_and_updated_in_place(uow):
    status = {"name": "m1", "url": "/dev/gsm-m1", "state": "ready", "healthy": True,
              "updated_at": T0}
    with uow() as unit:
        unit.modems.upsert(status)
        unit.modems.upsert({**status, "name": "m0"})
        unit.commit()
    with uow() as unit:
        unit.modems.upsert({**status, "healthy": False, "updated_at": T0 + timedelta(seconds=30)})
        unit.commit()
    with uow() as unit:
        assert [(m.name, m.healthy) for m in unit.modems.fresh(T0 + timedelta(seconds=60), 60)
                ] == [("m0", True), ("m1", False)]
        assert [m.name for m in unit.modems.fresh(T0 + timedelta(seconds=61), 60)] == ["m1"]
        assert unit.modems.all()[0].sent_today == 0  # the column default


def test_an_sms_is_stored_once_and_a_redelivery_is_recognised(uow):
    def received(text: str) -> InboxMessage:
        return InboxMessage(dedupe_key=inbox_repository.inbox_dedupe_key("m0", "+336", T0, text),
                            modem="m0", sender="+336", text=text, smsc_timestamp=T0,
                            partial=False, kind="other", outcome="stored", received_at=T0)

    with uow() as unit:
        assert unit.inbox.store(received("hello")) is True
        assert unit.inbox.store(received("hello")) is False  # the same SMS again
        assert unit.inbox.store(received("again")) is True  # still usable after a refusal
        unit.commit()
    with uow() as unit:
        assert [row.text for row in unit.inbox.latest(10)] == ["again", "hello"]
        assert [row.text for row in unit.inbox.latest(1)] == ["again"]


@pytest.mark.parametrize("fake, real", [
    (fake_storage.FakeUnitOfWork, SqlUnitOfWork),
    (fake_storage.FakeSessionRepository, repositories.SessionRepository),
    (fake_storage.FakeCodeRepository, repositories.CodeRepository),
    (fake_storage.FakeNonceRepository, repositories.NonceRepository),
    (fake_storage.FakeCounterRepository, repositories.CounterRepository),
    (fake_storage.FakeOutboxRepository, outbox_repository.OutboxRepository),
    (fake_storage.FakeInboxRepository, inbox_repository.InboxRepository),
    (fake_storage.FakeModemStatusRepository,
     modem_status_repository.ModemStatusRepository)])
def test_every_method_of_the_fake_is_a_real_method_with_the_same_parameters(fake, real):
    for name, method in inspect.getmembers(fake, inspect.isfunction):
        if name.startswith("_") and name not in ("__enter__", "__exit__"):
            continue
        assert hasattr(real, name), f"{real.__name__} has no {name}"
        fake_parameters = list(inspect.signature(method).parameters)
        real_parameters = list(inspect.signature(getattr(real, name)).parameters)
        if name != "__exit__":
            assert fake_parameters == real_parameters, name

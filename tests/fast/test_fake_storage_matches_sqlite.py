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
from gateway.storage.models import Base, InboxMessage, OutboundSms
from gateway.storage.rate_windows import Window
from gateway.storage.records import CodeRecord, SessionRecord
from gateway.storage.uow import NestedUnitOfWork, ReadOnlyViolation, SqlUnitOfWork, uow_factory

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


def session_row(digest="a" * 64, **values) -> SessionRecord:
    return SessionRecord(**{"hawk_id_digest": digest, "hawk_key_sealed": b"sealed",
                            "created_at": T0, "expires_at": LATER, **values})


def code_row(session_id: int, digest="c" * 64) -> CodeRecord:
    return CodeRecord(session_id=session_id, code_digest=digest, kind="short",
                      method="sms/mt", created_at=T0, expires_at=LATER)


def sms_row(**values) -> OutboundSms:
    return OutboundSms(**{"recipient": "+33*******78", "sealed": b"sealed", "purpose": "sms/mt",
                          "status": "queued", "next_attempt_at": T0, "expires_at": LATER,
                          "created_at": T0, "updated_at": T0, **values})


def stored_session(uow, **values) -> int:
    with uow() as unit:
        session_id = unit.sessions.add(session_row(**values))
        unit.commit()
    return session_id


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


def test_a_window_counts_across_transactions_until_its_expired_head_is_deleted(uow):
    windows = (Window(limit=2, period=60),)
    for _ in range(2):
        with uow() as unit:
            assert unit.counters.admit("k", T0, windows) is None
            unit.commit()
    with uow() as unit:  # full: refused until the first event leaves the window
        assert unit.counters.admit("k", T0, windows) == T0 + timedelta(seconds=60)
    with uow() as unit:
        assert unit.counters.admit("other", T0 + timedelta(seconds=30), windows) is None
        unit.commit()
    with uow() as unit:
        removed = unit.delete_expired(T0 + timedelta(seconds=59), 3600)
        assert (removed["rate_counters"], removed["rate_events"]) == (0, 0)
        removed = unit.delete_expired(T0 + timedelta(seconds=60), 3600)
        assert (removed["rate_counters"], removed["rate_events"]) == (1, 2)
        unit.commit()
    with uow() as unit:  # the key starts again
        assert unit.counters.admit("k", T0 + timedelta(seconds=60), windows) is None


def test_clearing_a_scope_forgets_its_windows_and_no_other(uow):
    windows = (Window(limit=1, period=600),)
    keys = ("admin-login:1/600:a", "admin-login:1/600:b", "admin-login-box:1/600:all",
            "admin_login:1/600:a", "client:1/600:a")
    with uow() as unit:
        for key in keys:
            assert unit.counters.admit(key, T0, windows) is None
        unit.commit()
    with uow() as unit:
        assert unit.counters.clear("admin-login") == 2  # "_" is no LIKE wildcard here
        assert unit.counters.clear("nothing") == 0
        unit.commit()
    with uow() as unit:
        admitted = [unit.counters.admit(key, T0, windows) is None for key in keys]
    assert admitted == [True, True, False, False, False]
    with uow() as unit:  # the cleared keys' slots went too: the housekeeping finds none
        removed = unit.delete_expired(T0 + timedelta(seconds=600), 3600)
        assert (removed["rate_counters"], removed["rate_events"]) == (3, 3)


def test_a_session_gets_an_id_is_found_by_its_digest_and_goes_with_its_code(uow):
    session_id = stored_session(uow, method="sms/mt")
    assert isinstance(session_id, int)
    with uow() as unit:
        found = unit.sessions.by_digest("a" * 64)
        assert (found.id, found.method, found.short_code, found.msisdn_sealed) == (
            session_id, "sms/mt", False, None)
        assert found.expires_at == LATER and found.expires_at.tzinfo is not None
        assert unit.sessions.by_digest("b" * 64) is None
        assert isinstance(unit.codes.replace(code_row(session_id)), int)
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


def test_a_failure_is_counted_on_the_stored_code_which_returns_the_total(uow):
    session_id = stored_session(uow)
    with uow() as unit:
        unit.codes.replace(code_row(session_id))
        unit.commit()
    with uow() as unit:
        code = unit.codes.for_session(session_id)
        assert [unit.codes.record_failure(code) for _ in range(2)] == [1, 2]
        assert code.failed_attempts == 0  # a record is a value: read again to see it
        assert unit.codes.for_session(session_id).failed_attempts == 2
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
        assert unit.outbox.pending_parts_estimate(T0) == 1
        unit.commit()
    with uow() as unit:
        assert unit.outbox.get(first.id).recipient == "+33*******78"
        assert [row.id for row in unit.outbox.latest(10)] == [sent.id, first.id]
        assert [row.id for row in unit.outbox.latest(10, status="queued")] == [first.id]
        assert (unit.outbox.get(first.id).attempts, unit.outbox.get(first.id).sender) == (0, None)


def test_a_row_being_sent_counts_as_pending_while_its_lease_holds(uow):
    with uow() as unit:
        unit.outbox.add(sms_row(status="sending", claimed_by="box-a",
                                lease_expires_at=T0 + timedelta(seconds=30)))
        unit.outbox.add(sms_row(status="sending", claimed_by="box-b"))  # no lease: none holds
        assert unit.outbox.pending_parts_estimate(T0 + timedelta(seconds=30)) == 1
        assert unit.outbox.pending_parts_estimate(T0 + timedelta(seconds=31)) == 0


def test_forgetting_a_session_scrubs_its_rows_and_gives_up_those_still_queued(uow):
    session_id = stored_session(uow)
    with uow() as unit:
        queued, sent = sms_row(session_id=session_id), sms_row(session_id=session_id)
        other = sms_row(session_id=session_id + 1)
        for row in (queued, sent, other):
            unit.outbox.add(row)
        unit.commit()
    with uow() as unit:
        row = unit.outbox.get(sent.id)
        row.status = "sending"
        unit.commit()
    with uow() as unit:
        unit.outbox.forget_session(session_id, LATER)
        unit.commit()
    with uow() as unit:
        rows = [unit.outbox.get(row.id) for row in (queued, sent, other)]
        assert [(r.status, r.sealed, r.session_id) for r in rows] == [
            ("expired", None, None), ("sending", None, None),
            ("queued", b"sealed", session_id + 1)]
        assert rows[0].updated_at == LATER and "unregistered" in rows[0].last_error
        assert rows[1].updated_at == T0


def test_cleanup_removes_received_sms_after_the_inbox_retention(uow):
    with uow() as unit:
        for key, received_at in (("old", T0), ("new", T0 + timedelta(seconds=10))):
            unit.inbox.store(InboxMessage(
                dedupe_key=key, modem="m0", sender="+336", text=key, partial=False,
                kind="other", outcome="stored", received_at=received_at))
        unit.commit()
    with uow() as unit:
        assert unit.delete_expired(T0 + timedelta(seconds=99), 3600, 100)["inbox"] == 0
        assert unit.delete_expired(T0 + timedelta(seconds=105), 3600, 100)["inbox"] == 1
        unit.commit()
    with uow() as unit:
        assert [row.text for row in unit.inbox.latest()] == ["new"]


def test_a_session_is_changed_by_update_and_found_by_its_hawk_id(uow):
    session_id = stored_session(uow)
    digests = []

    def digest(hawk_id):
        digests.append(hawk_id)
        return "a" * 64

    with uow() as unit:
        unit.sessions.update(session_id, method="sms/momt", short_code=True)
        found = unit.sessions.by_hawk_id("the hawk id", digest)
        assert (found.id, found.method, found.short_code) == (session_id, "sms/momt", True)
        unit.sessions.update(session_id, verified_at=LATER)
        assert unit.sessions.by_hawk_id("the hawk id", digest).verified_at == LATER
        assert unit.sessions.by_hawk_id("another", lambda _: "b" * 64) is None
        unit.commit()
    assert set(digests) == {"the hawk id"}
    with uow() as unit:
        assert unit.sessions.by_digest("a" * 64).verified_at == LATER


def test_leaving_without_commit_leaves_nothing_behind(uow):
    session_id = stored_session(uow)
    with uow() as unit:
        unit.sessions.update(session_id, method="sms/momt")
        unit.sessions.add(session_row("b" * 64))
        unit.outbox.add(sms_row())
        unit.nonces.remember("k", LATER)
    with uow() as unit:
        assert unit.sessions.by_digest("a" * 64).method is None
        assert unit.sessions.by_digest("b" * 64) is None
        assert unit.outbox.pending_parts_estimate(T0) == 0
        assert unit.nonces.remember("k", LATER) is True  # the first write was undone
        assert unit.sessions.by_digest("a" * 64).id == session_id


def test_a_failed_savepoint_undoes_only_what_was_done_inside_it(uow):
    session_id = stored_session(uow)
    with uow() as unit:
        unit.nonces.remember("before", LATER)
        with pytest.raises(LookupError):
            with unit.savepoint():
                unit.sessions.update(session_id, method="sms/mt")
                unit.outbox.add(sms_row())
                unit.nonces.remember("before", LATER)
                unit.nonces.remember("inside", LATER)
                raise LookupError("refused")
        assert unit.sessions.by_digest("a" * 64).method is None
        assert unit.outbox.pending_parts_estimate(T0) == 0
        with unit.savepoint():
            unit.sessions.update(session_id, short_code=True)
        unit.commit()
    with uow() as unit:
        assert unit.nonces.remember("before", LATER) is False  # kept
        assert unit.nonces.remember("inside", LATER) is True  # undone with the savepoint
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
        unit.nonces.remember("k", datetime(2026, 1, 1, 1, 0, tzinfo=paris))
        unit.sessions.add(session_row(verified_at=datetime(2026, 1, 1, 1, 0, tzinfo=paris)))
        unit.commit()
    with uow() as unit:
        verified = unit.sessions.by_digest("a" * 64).verified_at
        assert verified == T0 and verified.utcoffset() == timedelta(0)
    with uow() as unit, pytest.raises(StatementError):
        unit.outbox.add(sms_row(expires_at=datetime(2026, 1, 1)))


def test_modem_statuses_are_fresh_within_the_ttl_and_updated_in_place(uow):
    status = {"worker": "box-a", "name": "m1", "url": "/dev/gsm-m1", "state": "ready",
              "healthy": True, "updated_at": T0}
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


def counts(uow, *keys) -> list[int]:
    """1 for each key written (a nonce remembered) and committed, else 0; read without
    changing anything."""
    with uow() as unit:
        return [0 if unit.nonces.remember(key, LATER) else 1 for key in keys]  # rolled back


def test_nested_units_of_work_commit_into_the_ambient_one_or_undo_only_their_own_work(uow):
    with uow.ambient() as outer:
        outer.nonces.remember("client", LATER)
        with uow() as nested:
            nested.nonces.remember("kept", LATER)
            nested.commit()
        with pytest.raises(LookupError), uow() as refused:
            refused.nonces.remember("client", LATER)
            refused.nonces.remember("refused", LATER)
            raise LookupError("refused")
        with uow() as left:
            left.nonces.remember("left", LATER)  # and no commit
        with pytest.raises(LookupError), uow() as failed_after_commit:
            failed_after_commit.nonces.remember("committed-then-refused", LATER)
            failed_after_commit.commit()
            raise LookupError("a wrong code: the try is counted, then refused")
        outer.commit()
    assert counts(uow, "client", "kept", "refused", "left", "committed-then-refused") == [
        1, 1, 0, 0, 1]


def test_a_nested_unit_of_work_that_begins_the_transaction_is_undone_alone(uow):
    with uow.ambient() as outer:
        with uow() as first:
            first.nonces.remember("first", LATER)  # no commit: the whole transaction goes
        with uow() as second:
            second.nonces.remember("second", LATER)
            second.commit()
        outer.nonces.remember("after", LATER)
        outer.commit()
    assert counts(uow, "first", "second", "after") == [0, 1, 1]


def test_a_unit_of_work_opened_outside_the_ambient_context_is_its_own(uow):
    with uow() as unit:
        unit.nonces.remember("alone", LATER)
        unit.commit()
    assert counts(uow, "alone") == [1]


def test_a_read_only_unit_of_work_refuses_to_write(uow):
    with uow(read_only=True) as unit:
        assert unit.modems.fresh(T0, 60) == []
        with pytest.raises(ReadOnlyViolation):
            unit.nonces.remember("k", LATER)
    with uow.ambient() as outer:
        outer.nonces.remember("client", LATER)
        with uow(read_only=True) as reader:
            assert reader.sessions.by_digest("a" * 64) is None
            with pytest.raises(ReadOnlyViolation):
                reader.nonces.remember("n", LATER)
        outer.commit()
    assert counts(uow, "client") == [1]


def test_a_transaction_begun_by_a_read_only_unit_of_work_stays_read_only(uow):
    with uow.ambient() as outer:
        with uow(read_only=True) as reader:
            reader.modems.fresh(T0, 60)
        with pytest.raises(ReadOnlyViolation):
            outer.nonces.remember("k", LATER)
        outer.commit()
        outer.nonces.remember("k", LATER)  # a new transaction: a write one
        outer.commit()
    assert counts(uow, "k") == [1]


@pytest.mark.parametrize("fake, real", [
    (fake_storage.FakeStorage, uow_factory(None).__class__),
    (fake_storage.FakeUnitOfWork, SqlUnitOfWork),
    (fake_storage.FakeNestedUnitOfWork, NestedUnitOfWork),
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

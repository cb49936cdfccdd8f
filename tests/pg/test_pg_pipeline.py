"""The SMS pipeline on PostgreSQL (a throw-away cluster, tests/pg/pg_cluster.py, started
once for this module; each test gets a schema of its own).

What only a real PostgreSQL can show: two workers claiming at once skip each other's rows
(``FOR UPDATE SKIP LOCKED``), a redelivered SMS leaves the transaction usable (the savepoint
around the inbox insert), and modem statuses go stale after their TTL whatever the server's
time zone. Then the in-process pipeline tests of tests/pipeline run again on PostgreSQL:
real HTTP, the real worker pieces and modem pool over simulated modems.
"""
from __future__ import annotations

import importlib
import inspect
import sys
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url

import modem.sim
from gateway.crypto.tokens import ServerSecret
from gateway.pipeline.inbound import store_inbound
from gateway.pipeline.reports import recipient_digest
from gateway.storage.db import make_engine
from gateway.storage.migrate import upgrade
from gateway.storage.models import InboxMessage, ModemStatus, OutboundPart, OutboundSms
from gateway.storage.inbox_repository import inbox_dedupe_key
from gateway.storage.uow import uow_factory
from modem.numbers import mask_number

# The cluster fixtures of test_postgresql (module-scoped: this module gets its own cluster).
from test_postgresql import (pg_cluster, pg_engine, pg_schema_url,  # noqa: F401
                             run_threads, shared_database, start_pg_gateway)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
PLUS_TWO = timezone(timedelta(hours=2))


def module_of(directory: str, module: str):
    """A test module of tests/<directory>, imported by its basename as pytest's default
    import mode does when it collects it (so both get the same module)."""
    path = str(Path(__file__).resolve().parents[1] / directory)
    if path not in sys.path:
        sys.path.append(path)
    return importlib.import_module(module)


def count(engine, model, *where) -> int:
    with uow_factory(engine)() as uow:
        return uow.db.scalar(select(func.count()).select_from(model).where(*where))


# --- claiming: FOR UPDATE SKIP LOCKED ----------------------------------------------------

def add_due_rows(engine, number: int) -> list[int]:
    with uow_factory(engine)() as uow:
        rows = [OutboundSms(recipient=f"+33*******{i:02d}", sealed=b"code", purpose="sms/mt",
                            status="queued", attempts=0,
                            next_attempt_at=NOW - timedelta(seconds=number - i),
                            expires_at=NOW + timedelta(minutes=10),
                            created_at=NOW, updated_at=NOW)
                for i in range(number)]
        uow.db.add_all(rows)
        uow.commit()
        return sorted(row.id for row in rows)


def claimed_rows(engine) -> list[OutboundSms]:
    with uow_factory(engine)() as uow:
        return list(uow.db.scalars(select(OutboundSms).order_by(OutboundSms.id)))


def test_a_second_worker_skips_the_rows_a_first_worker_holds_uncommitted(
        pg_engine, pg_schema_url):
    """The first claim's transaction stays open while the second worker claims: with SKIP
    LOCKED the second one neither waits nor takes a row the first one holds (without it,
    it would block, then claim those rows a second time once the first commits)."""
    ids = add_due_rows(pg_engine, 50)
    second_engine = make_engine(pg_schema_url)
    first_claimed, second_done = threading.Event(), threading.Event()
    claims: dict[str, list[int]] = {}
    queued_seen_by_second: list[int] = []

    def first_worker():
        with uow_factory(pg_engine)() as uow:
            claims["worker-a"] = [row.id for row in uow.outbox.claim_due(NOW, 20, "worker-a")]
            first_claimed.set()
            # Held open until the second worker has claimed and committed.
            assert second_done.wait(timeout=15), "the second claim waited on the first one"
            uow.commit()

    def second_worker():
        assert first_claimed.wait(timeout=15)
        with uow_factory(second_engine)() as uow:
            queued_seen_by_second.append(uow.db.scalar(
                select(func.count()).select_from(OutboundSms)
                .where(OutboundSms.status == "queued")))
            claims["worker-b"] = [row.id for row in uow.outbox.claim_due(NOW, 50, "worker-b")]
            uow.commit()
        second_done.set()

    targets = {0: first_worker, 1: second_worker}
    try:
        run_threads(lambda index: targets[index](), 2)
    finally:
        second_engine.dispose()

    assert queued_seen_by_second == [50]  # the first claim was not committed yet
    first, second = claims["worker-a"], claims["worker-b"]
    assert len(first) == 20 and len(second) == 30
    assert not set(first) & set(second)
    assert sorted(first + second) == ids
    owner = {**{i: "worker-a" for i in first}, **{i: "worker-b" for i in second}}
    for row in claimed_rows(pg_engine):
        assert (row.status, row.attempts, row.claimed_by) == ("sending", 1, owner[row.id])
    with uow_factory(pg_engine)() as uow:
        assert sorted(r.id for r in uow.outbox.interrupted("worker-a")) == sorted(first)
        assert sorted(r.id for r in uow.outbox.interrupted("worker-b")) == sorted(second)
        assert uow.outbox.interrupted("worker-c") == []
        assert uow.outbox.claim_due(NOW, 50, "worker-c") == []  # nothing is left


@contextmanager
def recorded_statements(engine):
    """The SQL statements ``engine`` executes inside the block."""
    statements: list[str] = []

    def record(conn, cursor, statement, *rest):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_claim_due_locks_with_skip_locked_on_postgresql(pg_engine):
    add_due_rows(pg_engine, 3)
    with recorded_statements(pg_engine) as statements:
        with uow_factory(pg_engine)() as uow:
            assert len(uow.outbox.claim_due(NOW, 2, "worker-a")) == 2
    [select_for_update] = [s for s in statements if "FOR UPDATE" in s]
    assert "SKIP LOCKED" in select_for_update


def test_four_workers_draining_the_queue_in_small_batches_claim_each_row_once(
        pg_engine, pg_schema_url):
    ids = add_due_rows(pg_engine, 60)
    workers = 4
    engines = [pg_engine] + [make_engine(pg_schema_url) for _ in range(workers - 1)]
    start = threading.Barrier(workers)
    claims: list[list[int]] = [[] for _ in range(workers)]

    def drain(index):
        factory = uow_factory(engines[index])
        start.wait(timeout=15)
        while True:
            with factory() as uow:
                batch = uow.outbox.claim_due(NOW, 3, f"worker-{index}")
                uow.commit()
            if not batch:
                return
            claims[index].extend(row.id for row in batch)

    try:
        run_threads(drain, workers)
    finally:
        for engine in engines[1:]:
            engine.dispose()

    everything = [row_id for batch in claims for row_id in batch]
    assert sorted(everything) == ids  # every row once, none twice
    owner = {row_id: f"worker-{i}" for i, batch in enumerate(claims) for row_id in batch}
    for row in claimed_rows(pg_engine):
        assert (row.status, row.attempts, row.claimed_by) == ("sending", 1, owner[row.id])


def test_a_report_finds_its_part_by_modem_reference_and_number_tail_on_postgresql(pg_engine):
    secret = ServerSecret(b"s" * 32)

    def digest(number: str) -> str:
        return recipient_digest(secret, number)

    with uow_factory(pg_engine)() as uow:
        rows = {}
        for number in ("+33612345678", "+33698765432"):
            rows[number] = OutboundSms(recipient=mask_number(number), purpose="sms/mt",
                                       recipient_digest=digest(number),
                                       status="sent", attempts=1, next_attempt_at=NOW,
                                       expires_at=NOW + timedelta(minutes=10), created_at=NOW,
                                       updated_at=NOW)
            uow.outbox.add(rows[number])
        old = OutboundPart(outbox_id=rows["+33612345678"].id, part_number=1, part_count=1,
                           modem="m0", reference=7, status="sent",
                           submitted_at=NOW - timedelta(days=4))
        wanted = OutboundPart(outbox_id=rows["+33612345678"].id, part_number=1, part_count=1,
                              modem="m0", reference=7, status="sent",
                              submitted_at=NOW.astimezone(PLUS_TWO))
        other = OutboundPart(outbox_id=rows["+33698765432"].id, part_number=1, part_count=1,
                             modem="m0", reference=7, status="sent", submitted_at=NOW)
        for part in (old, wanted, other):
            uow.outbox.add_part(part)
        uow.commit()

    since = NOW - timedelta(days=3)
    with uow_factory(pg_engine)() as uow:
        national = digest("0612345678")
        assert uow.outbox.part_for_report("m0", 7, national, since).id == wanted.id
        assert uow.outbox.part_for_report("m0", 7, digest("+33698765432"), since).id == other.id
        assert uow.outbox.part_for_report("m1", 7, national, since) is None
        assert uow.outbox.part_for_report("m0", 8, national, since) is None
        assert uow.outbox.part_for_report("m0", 7, national, NOW + timedelta(seconds=1)) is None


# --- the inbox: a redelivery on PostgreSQL --------------------------------------------------

def inbound(text: str, sender: str = "+33612345678", stamp: datetime = NOW) -> InboxMessage:
    return InboxMessage(dedupe_key=inbox_dedupe_key("sim0", sender, stamp, text), modem="sim0",
                      recipient="+33700000001", sender=sender, text=text, smsc_timestamp=stamp,
                      partial=False, kind="other", outcome="stored", received_at=NOW)


def test_a_redelivered_sms_is_refused_and_the_postgresql_transaction_goes_on(pg_engine):
    """PostgreSQL aborts the whole transaction on a unique violation: only the savepoint
    around the insert lets the caller carry on after Inbox.store returns False."""
    with recorded_statements(pg_engine) as statements:
        with uow_factory(pg_engine)() as uow:
            assert uow.inbox.store(inbound("STOP")) is True
            assert uow.inbox.store(inbound("STOP")) is False  # the same SMS again
            assert uow.inbox.store(inbound("HELLO")) is True  # the transaction is usable
            assert [row.text for row in uow.inbox.latest()] == ["HELLO", "STOP"]
            uow.commit()
    assert any(s.startswith("ROLLBACK TO SAVEPOINT") for s in statements)

    with uow_factory(pg_engine)() as uow:  # a redelivery in a later transaction
        assert uow.inbox.store(inbound("STOP")) is False
        assert uow.inbox.store(inbound("STOP", stamp=NOW + timedelta(seconds=1))) is True
        uow.commit()
    assert count(pg_engine, InboxMessage) == 3


# --- modem status: the TTL with timezone-aware datetimes ------------------------------------

def status(updated_at: datetime, **values) -> dict:
    row = {"worker": "box-a", "name": "sim0", "url": "modemsim://sim0", "state": "ready",
           "healthy": True,
           "number": "+33700000001", "sent_today": 0, "failed": 0, "updated_at": updated_at}
    row.update(values)
    return row


def with_server_time_zone(url: str, zone: str) -> str:
    """``url`` with the session's TimeZone set by the server (libpq ``options``)."""
    parsed = make_url(url)
    options = " ".join(filter(None, [parsed.query.get("options"), f"-ctimezone={zone}"]))
    return parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "America/Los_Angeles"])
def test_a_modem_status_is_fresh_for_its_ttl_then_stale_on_postgresql(pg_schema_url, zone):
    engine = make_engine(with_server_time_zone(pg_schema_url, zone))
    try:
        upgrade(engine)
        factory = uow_factory(engine)
        with factory() as uow:
            assert uow.db.scalar(select(func.current_setting("TimeZone"))) == zone
            written = NOW.astimezone(PLUS_TWO)  # 14:00+02:00 is 12:00 UTC
            uow.modems.upsert(status(written))
            uow.commit()

        def fresh(now, ttl=30):
            with factory() as uow:
                return [(row.name, row.state, row.updated_at)
                        for row in uow.modems.fresh(now, ttl)]

        assert fresh(NOW + timedelta(seconds=30)) == [("sim0", "ready", NOW)]
        assert fresh((NOW + timedelta(seconds=30)).astimezone(PLUS_TWO)) != []
        assert fresh(NOW + timedelta(seconds=31)) == []
        assert fresh((NOW + timedelta(seconds=31)).astimezone(PLUS_TWO)) == []
        with factory() as uow:
            [row] = uow.modems.fresh(NOW, 30)
            assert row.updated_at.utcoffset() == timedelta(0)

        later = NOW + timedelta(seconds=60)
        with factory() as uow:  # the next publication updates the row in place
            uow.modems.upsert(status(later, state="gone", healthy=False))
            uow.commit()
        assert fresh(later + timedelta(seconds=30)) == [("sim0", "gone", later)]
        assert fresh(later + timedelta(seconds=31)) == []
        assert count(engine, ModemStatus) == 1
    finally:
        engine.dispose()


# --- the in-process pipeline of tests/pipeline, on PostgreSQL ----------------------------------

pipeline_tests = module_of("pipeline", "test_pipeline")
pipeline_on = module_of("pipeline", "pipeline_harness").pipeline_on

# The first test of tests/pipeline is left out: it waits for "a" report and then expects
# the row delivered, which on PostgreSQL fails about one run in three because of the race
# pinned by test_a_report_that_beats_the_parts_commit_is_still_recorded below; the
# delivery is shown deterministically by the test after REUSED instead.
REUSED = [
    "test_the_sim_endpoints_show_what_a_phone_received_oldest_first",
    "test_the_mo_flow_takes_the_number_stamped_by_the_network",
    "test_the_older_mo_prefix_is_accepted",
    "test_other_sms_are_stored_never_lost",
    "test_one_msisdn_per_session_holds_for_the_mo_flow",
    "test_a_rejected_send_fails_over_to_another_modem",
    "test_a_send_every_modem_rejects_is_retried_with_backoff_then_failed",
    "test_no_answer_in_time_is_recorded_as_unknown_and_never_resent",
    "test_a_send_interrupted_by_a_crash_is_unknown_at_restart",
    "test_with_two_modems_and_one_unplugged_mid_send_nothing_is_lost_or_sent_twice",
    "test_a_report_naming_the_recipient_in_national_form_marks_the_sms_delivered",
]


@pytest.fixture
def pg_pipeline(start_pg_gateway):
    yield from pipeline_on(start_pg_gateway)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_pipeline(request):
    start = request.getfixturevalue("start_pg_gateway" if request.param == "postgresql"
                                    else "start_gateway")
    yield from pipeline_on(start)


@pytest.mark.parametrize("name", REUSED)
def test_the_pipeline_works_on_postgresql(name, pg_pipeline):
    function = getattr(pipeline_tests, name)
    assert list(inspect.signature(function).parameters) == ["pipeline"]
    function(pg_pipeline)


def test_a_code_travels_to_the_phone_and_its_delivery_is_recorded_on_postgresql(pg_pipeline):
    """The network takes 5 simulated seconds: the report comes after the send committed."""
    gw, worker = pg_pipeline(clock=modem.sim.ManualClock(), simulated_delay=5.0)
    token = gw.register()
    pipeline_tests.mt_verify(gw, token)
    assert worker.send_due() == 1
    [row] = pipeline_tests.rows(gw, OutboundSms)
    assert (row.status, row.claimed_by, row.attempts) == ("sent", "test-worker", 1)
    worker.simulation.network.advance(5)
    worker.wait(lambda: worker.reports)
    [code] = pipeline_tests.phone_texts(gw, worker)
    assert gw.post("/v1/msisdn/sms/verify_code", {"code": code}, token).json() == {
        "msisdn": pipeline_tests.PHONE}
    [row] = pipeline_tests.rows(gw, OutboundSms)
    assert (row.status, row.modem, row.attempts) == ("delivered", "sim0", 1)
    assert row.sent_at <= row.delivered_at
    [part] = pipeline_tests.rows(gw, OutboundPart)
    assert (part.status, part.modem, part.part_count) == ("delivered", "sim0", 1)
    assert part.reference is not None and part.reported_at is not None


def test_a_report_that_beats_the_parts_commit_is_still_recorded(any_pipeline):
    """With no network delay the report can reach the inbound thread before the send
    thread has committed the part it reports; here the send thread's transaction is held
    before it takes a connection until the report was handled, so that this order, rare
    on SQLite and frequent on PostgreSQL, is certain. (On SQLite the hold must come before
    BEGIN IMMEDIATE, which would otherwise keep the report's transaction waiting.)"""
    gw, worker = any_pipeline()
    # The simulator's store of phones' mail takes a connection on the send thread too,
    # before the modem answers: not the one to hold (and not used here).
    worker.simulation.network.on_submit = None
    report_first: list[bool] = []

    def hold_the_send_thread(*connection):
        if threading.current_thread().name.startswith("outbox-send") and not report_first:
            with worker.changed:
                report_first.append(bool(worker.changed.wait_for(lambda: worker.reports, 10)))

    event.listen(gw.engine, "checkout", hold_the_send_thread)
    try:
        pipeline_tests.mt_verify(gw, gw.register())
        assert worker.send_due() == 1
    finally:
        event.remove(gw.engine, "checkout", hold_the_send_thread)
    if report_first != [True]:
        pytest.fail(f"the report did not come before the part was written: {report_first}")
    [row] = pipeline_tests.rows(gw, OutboundSms)
    assert row.status == "delivered", (row.status, row.last_error)


def test_a_second_delivery_of_an_sms_mo_is_recognised_on_postgresql(pg_pipeline):
    """As after a crash between the commit and the deletion from the SIM: the sweep hands
    the same SMS over again; it is neither stored nor acted on twice."""
    gw, worker = pg_pipeline()
    token = gw.register()
    pipeline_tests.send_mo(gw, worker,
                           f"/v1/msisdn/sms/momt/verify {pipeline_tests.hawk_id(token)}")
    pipeline_tests.send_mo(gw, worker, "STOP", count=2)
    for sms in list(worker.stored):
        assert store_inbound(gw.deps, sms) is None
    inbox = pipeline_tests.rows(gw, InboxMessage)
    assert [(row.kind, row.outcome) for row in inbox] == [("momt-verify", "code queued"),
                                                          ("other", "stored")]
    [code_sms] = pipeline_tests.rows(gw, OutboundSms)
    assert code_sms.recipient == mask_number(pipeline_tests.PHONE)

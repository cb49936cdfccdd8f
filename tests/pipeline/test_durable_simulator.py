"""The durable simulator (gateway.pipeline.simulation): what virtual phones receive and the
SMS-MO asked for outlive the worker, each exactly once, and an idle pass only reads. The
real pipeline (HTTP API, worker pieces, AT driver, simulated modems) on a SQLite file; a
"dead worker" is one whose network (memory) is gone, its database left as it was. Only
time (FakeClock, ManualClock) and the radio are fake."""
from __future__ import annotations

import dataclasses
from collections import namedtuple
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

import modem.sim
from gateway.pipeline.simulation import FAILED_REPORT, READ_EVERY, REASSEMBLY_TIMEOUT, Mail
from gateway.storage.models import InboxMessage, OutboundSms, SimMoRequest, SimPendingPart
from gateway.storage.sim_repository import SimMailboxRepository
from pipeline_harness import pipeline, rows  # noqa: F401 (pipeline: a fixture)

PHONE, OTHER_PHONE, MODEM = "+33612345678", "+33698765432", "+33700000001"
DELAY = 5.0  # the network's delivery delay, in its own (manual) time


def phone(gw, number=PHONE) -> list[str]:
    return [m["text"] for m in gw.get(f"/__sim__/phones/{number}/messages").json()]


def mt_verify(gw, number=PHONE):
    response = gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": number, "mcc": "208"},
                       gw.register())
    assert response.status_code == 204, response.text


def test_an_sms_the_network_accepted_reaches_its_phone_once_though_the_worker_died(pipeline):
    gw, worker = pipeline(clock=modem.sim.ManualClock(), simulated_delay=DELAY)
    mt_verify(gw)
    text = gw.last_sms_to(PHONE)
    assert worker.send_due() == 1  # +CMGS answered: the part is in the database
    [row] = rows(gw, OutboundSms)
    assert row.status == "sent" and len(rows(gw, SimPendingPart)) == 1
    worker.sync()
    assert phone(gw) == []  # not due yet
    pipeline.die(worker)

    clock = modem.sim.ManualClock()
    gw, worker = pipeline(gw=gw, clock=clock)
    worker.sync()
    assert phone(gw) == []
    clock.advance(DELAY)
    worker.sync()
    worker.sync()
    assert phone(gw) == [text]
    assert rows(gw, SimPendingPart) == []


@pytest.mark.parametrize("delay, write", [(0.0, "add_messages"), (DELAY, "add_parts")])
def test_a_part_the_database_could_not_take_is_stored_by_the_next_pass(pipeline, monkeypatch,
                                                                      delay, write):
    """Without a delay a one-part SMS is stored as received at once (add_messages), with
    one as a pending part (add_parts): either write failing keeps the part for a pass."""
    clock = modem.sim.ManualClock()
    gw, worker = pipeline(clock=clock, simulated_delay=delay)
    real = getattr(SimMailboxRepository, write)
    failures = []

    def failing_once(self, values):
        if not failures:
            failures.append(values)
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        real(self, values)

    monkeypatch.setattr(SimMailboxRepository, write, failing_once)
    mt_verify(gw)
    text = gw.last_sms_to(PHONE)
    assert worker.send_due() == 1  # the modem answered all the same
    assert rows(gw, OutboundSms)[0].status in ("sent", "delivered") and failures
    assert phone(gw) == []
    clock.advance(delay)
    worker.sync()
    worker.sync()
    assert phone(gw) == [text]
    assert rows(gw, SimPendingPart) == []


def test_without_a_delay_a_one_part_sms_is_on_the_phone_when_the_modem_answers(pipeline):
    """No pass of the simulation's pump in between: the phone has it before +CMGS."""
    gw, worker = pipeline()
    mt_verify(gw)
    text = gw.last_sms_to(PHONE)
    assert worker.send_due() == 1
    assert phone(gw) == [text]
    assert rows(gw, SimPendingPart) == []
    worker.sync()
    assert phone(gw) == [text]  # once


def test_without_a_delay_a_phone_that_refuses_sms_gets_nothing(pipeline):
    gw, worker = pipeline()
    worker.simulation.network.phone(PHONE).report_status = FAILED_REPORT
    mt_verify(gw)
    assert worker.send_due() == 1
    worker.sync()
    assert phone(gw) == [] and rows(gw, SimPendingPart) == []


def test_an_sms_mo_handed_over_by_a_worker_that_died_before_recording_it_is_stored_once(
        pipeline, monkeypatch):
    gw, worker = pipeline()
    assert gw.post(f"/__sim__/phones/{PHONE}/messages",
                   {"to": MODEM, "text": "STOP"}).status_code == 202

    def dies(self, request_ids, now):
        raise OperationalError("UPDATE", {}, Exception("the worker died here"))

    with monkeypatch.context() as patch:
        patch.setattr(SimMailboxRepository, "record_mo_sent", dies)
        with pytest.raises(OperationalError):
            worker.sync()  # handed to the network, not recorded as sent
    worker.wait(lambda: len(worker.stored) == 1)
    [request] = rows(gw, SimMoRequest)
    assert request.sent_at is None

    worker.sync()  # sent again, with the same SMSC time stamp
    # It lands in the slot the first copy freed, and its +CMTI may come while that slot
    # is still claimed (AT+CMGD answered, claim not yet dropped: modem/message_store.py),
    # which leaves it on the SIM for the next sweep: sweep now.
    worker.pool.maintain()
    worker.wait(lambda: len(worker.stored) == 2)
    [inbound] = rows(gw, InboxMessage)
    assert (inbound.sender, inbound.text) == (PHONE, "STOP")
    assert inbound.smsc_timestamp == request.created_at.replace(microsecond=0)
    [request] = rows(gw, SimMoRequest)
    assert request.sent_at is not None


def test_an_sms_mo_to_another_phone_reaches_it_once(pipeline):
    gw, worker = pipeline()
    assert gw.post(f"/__sim__/phones/{PHONE}/messages",
                   {"to": OTHER_PHONE, "text": "hello"}).status_code == 202
    worker.sync()
    worker.sync()
    assert phone(gw, OTHER_PHONE) == ["hello"]
    assert gw.get(f"/__sim__/phones/{OTHER_PHONE}/messages").json()[0]["from"] == PHONE


def test_an_idle_pass_only_reads_and_reads_no_parts(pipeline, monkeypatch):
    gw, worker = pipeline()
    mt_verify(gw)
    worker.send_due()
    worker.sync()
    assert len(phone(gw)) == 1
    opened, asked = [], []
    real_pending = SimMailboxRepository.pending

    def uow(read_only=False):
        opened.append(read_only)
        return gw.deps.uow(read_only=read_only)

    def pending(self, with_parts, with_requests=True):
        asked.append(with_parts)
        return real_pending(self, with_parts, with_requests)

    monkeypatch.setattr(SimMailboxRepository, "pending", pending)
    watched = dataclasses.replace(gw.deps, uow=uow)
    for _ in range(3):
        worker.simulation.sync(watched)
    assert opened == [True] * 3 and asked == [False] * 3


def test_an_sms_mo_asked_for_is_handed_over_at_the_ring_without_waiting_for_a_poll(
        pipeline):
    gw, worker = pipeline()
    simulation = worker.simulation
    simulation.run(gw.deps)  # the first run reads: requests may wait from before
    assert gw.post(f"/__sim__/phones/{OTHER_PHONE}/messages",
                   {"to": PHONE, "text": "hi"}).status_code == 202
    simulation.run(gw.deps)  # woken by the network only: the requests are not read
    assert phone(gw) == []
    simulation.requests_arrived()  # the doorbell rang for the simulator
    simulation.run(gw.deps)
    simulation.run(gw.deps)  # the part is stored, then delivered
    assert phone(gw) == ["hi"]


def test_without_a_ring_the_requests_are_read_a_second_after_the_last_read(pipeline):
    gw, worker = pipeline()
    simulation = worker.simulation
    simulation.run(gw.deps)
    assert gw.post(f"/__sim__/phones/{OTHER_PHONE}/messages",
                   {"to": PHONE, "text": "hi"}).status_code == 202
    gw.clock.advance(READ_EVERY - 0.1)
    simulation.run(gw.deps)
    assert rows(gw, SimMoRequest)[0].sent_at is None
    gw.clock.advance(0.1)  # a ring nobody heard is only a second late
    simulation.run(gw.deps)
    assert rows(gw, SimMoRequest)[0].sent_at is not None


def test_a_run_woken_by_the_network_alone_opens_no_transaction(pipeline):
    gw, worker = pipeline()
    worker.simulation.run(gw.deps)
    opened = []

    def uow(read_only=False):
        opened.append(read_only)
        return gw.deps.uow(read_only=read_only)

    watched = dataclasses.replace(gw.deps, uow=uow)
    for _ in range(3):
        worker.simulation.run(watched)
    assert opened == []
    worker.simulation.requests_arrived()
    worker.simulation.run(watched)
    assert opened == [True]


Part = namedtuple("Part", "id phone sender text concat_reference part_number part_count "
                          "submitted_at due_at")
T0 = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)


def part(id, number, count, text, reference=7, at=T0, phone=PHONE):
    return Part(id, phone, MODEM, text, reference if count > 1 else None, number, count, at,
                at + timedelta(seconds=1))


def test_parts_make_one_message_when_all_are_there_and_due():
    parts = [part(1, 2, 2, "world"), part(2, 1, 2, "hello "), part(3, 1, 1, "single")]
    mail = Mail.of(parts, T0, lambda phone: True)
    assert (mail.messages, mail.done, mail.next_due) == ([], [], T0 + timedelta(seconds=1))
    mail = Mail.of(parts, T0 + timedelta(seconds=1), lambda phone: True)
    assert [m["text"] for m in mail.messages] == ["hello world", "single"]
    assert sorted(mail.done) == [1, 2, 3] and mail.next_due is None


def test_an_incomplete_message_shows_as_it_is_after_the_reassembly_timeout():
    parts = [part(1, 1, 2, "hello ")]
    late = T0 + REASSEMBLY_TIMEOUT
    assert Mail.of(parts, late - timedelta(seconds=1), lambda p: True).next_due == late
    mail = Mail.of(parts, late, lambda phone: True)
    assert [(m["text"], m["received_at"]) for m in mail.messages] == [("hello ", late)]


def test_a_reused_reference_starts_another_message_and_a_refusing_phone_gets_nothing():
    parts = [part(1, 1, 2, "a"), part(2, 2, 2, "b"), part(3, 1, 2, "c"), part(4, 2, 2, "d"),
             part(5, 1, 1, "x", phone=OTHER_PHONE)]
    mail = Mail.of(parts, T0 + timedelta(seconds=1), lambda phone: phone == PHONE)
    assert [m["text"] for m in mail.messages] == ["ab", "cd"]
    assert sorted(mail.done) == [1, 2, 3, 4, 5]


def test_a_message_that_reuses_a_reference_pushes_out_the_unfinished_one_at_once():
    """As the gateway's own inbox: the old set will not complete; its part shows as it is
    when the new set begins (not after the 5-minute timeout), and the new set's parts are
    not mixed into it."""
    later = T0 + timedelta(seconds=5)
    parts = [part(1, 1, 3, "old "), part(2, 1, 3, "new1 ", at=later),
             part(3, 2, 3, "new2 ", at=later), part(4, 3, 3, "new3", at=later)]
    mail = Mail.of(parts, later + timedelta(seconds=1), lambda phone: True)
    assert [(m["text"], m["received_at"]) for m in mail.messages] == [
        ("old ", later), ("new1 new2 new3", later + timedelta(seconds=1))]
    assert sorted(mail.done) == [1, 2, 3, 4] and mail.next_due is None


def test_parts_another_worker_delivered_first_are_not_delivered_again(pipeline):
    """Two workers simulating on one database may both see the same due parts."""
    gw, worker = pipeline(clock=modem.sim.ManualClock(), simulated_delay=DELAY)
    mt_verify(gw)
    worker.send_due()
    [part] = rows(gw, SimPendingPart)
    message = dict(phone=part.phone, sender=part.sender, text=part.text,
                   received_at=part.due_at)
    with gw.deps.uow() as first, gw.deps.uow() as second:
        assert first.sim.deliver([(message, [part.id])]) == 1
        first.commit()
        assert second.sim.deliver([(message, [part.id])]) == 0
        second.commit()
    assert len(phone(gw)) == 1 and rows(gw, SimPendingPart) == []

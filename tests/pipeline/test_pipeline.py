"""The SMS pipeline in one process: API over HTTP, the real worker pieces, the real modem
pool and AT driver over simulated modems. Only time (FakeClock for the gateway, a
ManualClock for the simulated network where delays matter) is faked."""
import re

import pytest
from sqlalchemy import select

import gateway.storage.db
import modem.sim
from gateway.pipeline import reports
from gateway.storage.models import InboxMessage, OutboundPart, OutboundSms
from modem.delivery import DeliveryReport
from modem.numbers import mask_number
from pipeline_harness import finish, pipeline, rows, start_worker  # noqa: F401 (pipeline: a fixture)

PHONE = "+33612345678"


def phone_texts(gw, worker, number=PHONE):
    worker.sync()
    return [m["text"] for m in gw.get(f"/__sim__/phones/{number}/messages").json()]


def mt_verify(gw, token, number=PHONE, **extra):
    response = gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": number, "mcc": "208", **extra},
                       token)
    assert response.status_code == 204, response.text


def test_a_code_travels_to_the_phone_and_its_delivery_is_recorded(pipeline):
    gw, worker = pipeline()
    token = gw.register()
    mt_verify(gw, token)
    assert worker.send_due() == 1
    worker.wait(lambda: worker.reports)
    [code] = phone_texts(gw, worker)
    assert gw.post("/v1/msisdn/sms/verify_code", {"code": code}, token).json() == {
        "msisdn": PHONE}
    [row] = rows(gw, OutboundSms)
    assert (row.status, row.modem, row.attempts) == ("delivered", "sim0", 1)
    assert row.sent_at is not None and row.delivered_at is not None
    [part] = rows(gw, OutboundPart)
    assert (part.status, part.modem, part.part_count) == ("delivered", "sim0", 1)
    assert part.reference is not None


def test_a_report_that_overtakes_the_commit_of_its_send_still_marks_it_delivered(
        pipeline, monkeypatch):
    """The report is handled while the send thread has not yet recorded the part: it waits
    in the worker's backlog, and is applied once the part is committed."""
    gw, worker = pipeline()
    seen_before_commit = []
    send = worker.pool.send

    def send_then_await_the_report(*args, **kwargs):
        result = send(*args, **kwargs)
        worker.wait(lambda: worker.reports)  # on the send thread, before the commit
        [row] = rows(gw, OutboundSms)
        [report] = worker.reports
        # waiting, and not acknowledged: a crash now leaves it with the modem, it comes again
        seen_before_commit.append((row.status, rows(gw, OutboundPart),
                                   len(worker.report_backlog), report.deferred,
                                   report._claim is None or report._claim._done))
        return result

    monkeypatch.setattr(worker.pool, "send", send_then_await_the_report)
    mt_verify(gw, gw.register())
    assert worker.send_due() == 1
    assert seen_before_commit == [("sending", [], 1, True, False)]
    [row] = rows(gw, OutboundSms)
    assert (row.status, row.modem) == ("delivered", "sim0") and row.delivered_at is not None
    [part] = rows(gw, OutboundPart)
    assert part.status == "delivered" and part.reported_at is not None
    assert len(worker.report_backlog) == 0
    assert worker.reports[0]._claim._done  # acknowledged once applied


def test_a_report_still_waiting_at_stop_is_given_back_not_acknowledged(pipeline):
    """A report whose send is never recorded here (another process's, or lost) waits in
    the backlog unacknowledged; at stop it is released, so it comes again later."""
    gw, worker = pipeline()
    released = []

    class Claim:
        def ack(self):
            released.append("ack")

        def release(self):
            released.append("release")

    report = DeliveryReport(modem="sim0", reference=201, recipient="+33612345678",
                            outcome="delivered", status=0x00, discharge_time=None,
                            _claim=Claim())
    worker.handle_report(report)
    assert report.deferred and len(worker.report_backlog) == 1 and released == []
    worker.report_backlog.retry()
    assert released == []  # still waiting: not acknowledged
    worker.report_backlog.release_all()
    assert released == ["release"] and len(worker.report_backlog) == 0


def test_a_report_whose_send_is_recorded_while_it_is_looked_up_is_applied_at_once(
        pipeline, monkeypatch):
    """The send's record commits (and its retry of the backlog runs) after the report
    missed it but before the report is kept: the report must not wait for a later retry."""
    gw, worker = pipeline(clock=modem.sim.ManualClock(), simulated_delay=60.0)
    mt_verify(gw, gw.register())
    assert worker.send_due() == 1  # the network's own report is 60 s away, never reached
    [part] = rows(gw, OutboundPart)
    real, calls = reports.record_report, []

    def recorded_meanwhile(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:  # the lookup missed; the send thread's retry runs now
            worker.report_backlog.retry()
            return False
        return real(*args, **kwargs)

    monkeypatch.setattr(reports, "record_report", recorded_meanwhile)
    worker.handle_report(DeliveryReport(modem="sim0", reference=part.reference,
                                        recipient=PHONE, outcome="delivered",
                                        status=0x00, discharge_time=None))
    [row] = rows(gw, OutboundSms)
    assert row.status == "delivered" and len(worker.report_backlog) == 0


def test_a_report_naming_the_recipient_in_national_form_marks_the_sms_delivered(pipeline):
    """SMSCs may write the recipient of a report as dialled nationally (0612345678 for
    +33612345678): the report still finds its part by modem, TP-MR and the number's tail."""
    gw, worker = pipeline(clock=modem.sim.ManualClock(), simulated_delay=60.0)
    mt_verify(gw, gw.register())
    assert worker.send_due() == 1  # the network's own report is 60 s away, never reached
    [part] = rows(gw, OutboundPart)
    assert (part.status, part.modem) == ("sent", "sim0")
    worker.handle_report(DeliveryReport(modem="sim0", reference=part.reference,
                                        recipient="0612345678", outcome="delivered",
                                        status=0x00, discharge_time=None))
    [row] = rows(gw, OutboundSms)
    assert (row.recipient, row.status, row.sealed) == (mask_number(PHONE), "delivered", None)
    assert [p.status for p in rows(gw, OutboundPart)] == ["delivered"]
    assert len(worker.report_backlog) == 0


def test_the_sim_endpoints_show_what_a_phone_received_oldest_first(pipeline):
    gw, worker = pipeline()
    token = gw.register()
    mt_verify(gw, token, shortVerificationCode=True)
    worker.send_due()
    assert gw.post("/v1/msisdn/sms/resend_code", {}, token).status_code == 204
    worker.send_due()
    worker.sync()
    messages = gw.get(f"/__sim__/phones/{PHONE}/messages").json()
    assert [m["from"] for m in messages] == ["+33700000001"] * 2
    codes = [re.search(r"\d{6}", m["text"]).group() for m in messages]
    assert gw.post("/v1/msisdn/sms/verify_code", {"code": codes[-1]}, token).status_code == 200
    assert messages[0]["receivedAt"] <= messages[1]["receivedAt"]


def hawk_id(token):
    from requests_hawk import HawkAuth

    return HawkAuth(hawk_session=token).credentials["id"].decode()


def send_mo(gw, worker, text, sender=PHONE, to="+33700000001", count=1):
    response = gw.post(f"/__sim__/phones/{sender}/messages", {"to": to, "text": text})
    assert response.status_code == 202
    worker.sync()
    worker.wait(lambda: len(worker.stored) >= count)


def test_the_mo_flow_takes_the_number_stamped_by_the_network(pipeline):
    gw, worker = pipeline()
    token = gw.register()
    send_mo(gw, worker, f"/v1/msisdn/sms/momt/verify {hawk_id(token)}")
    [inbound] = rows(gw, InboxMessage)
    assert (inbound.kind, inbound.outcome, inbound.sender) == (
        "momt-verify", "code queued", mask_number(PHONE))  # the number is in the session
    assert hawk_id(token) not in inbound.text  # a credential is not kept
    [row] = rows(gw, OutboundSms)
    assert (row.recipient, row.purpose) == (mask_number(PHONE), "sms/momt")
    worker.send_due()
    [code] = phone_texts(gw, worker)
    assert gw.post("/v1/msisdn/sms/verify_code", {"code": code}, token).json() == {
        "msisdn": PHONE}


def test_the_older_mo_prefix_is_accepted(pipeline):
    gw, worker = pipeline()
    send_mo(gw, worker, f"/sms/momt/verify {hawk_id(gw.register())}")
    assert rows(gw, InboxMessage)[0].outcome == "code queued"


def test_other_sms_are_stored_never_lost(pipeline):
    gw, worker = pipeline()
    send_mo(gw, worker, "STOP")
    send_mo(gw, worker, f"/v1/msisdn/sms/momt/verify {'ab' * 32}", count=2)
    first, second = rows(gw, InboxMessage)
    assert (first.kind, first.text, first.outcome) == ("other", "STOP", "stored")
    assert second.kind == "momt-verify" and second.outcome.startswith("refused")
    assert "errno 110" in second.outcome
    assert rows(gw, OutboundSms) == []


def test_one_msisdn_per_session_holds_for_the_mo_flow(pipeline):
    gw, worker = pipeline()
    token = gw.register()
    mt_verify(gw, token, number="+33698765432")
    send_mo(gw, worker, f"/v1/msisdn/sms/momt/verify {hawk_id(token)}")
    [inbound] = rows(gw, InboxMessage)
    assert inbound.outcome.startswith("refused") and "errno 107" in inbound.outcome
    assert [r.recipient for r in rows(gw, OutboundSms)] == [mask_number("+33698765432")]


def test_a_rejected_send_fails_over_to_another_modem(pipeline):
    gw, worker = pipeline(modems=2)
    worker.simulation.network.modem("sim0").inject("cms_error", 38)
    mt_verify(gw, gw.register())
    worker.send_due()
    [row] = rows(gw, OutboundSms)
    assert row.status in ("sent", "delivered") and row.modem == "sim1"  # report may be in
    assert len(phone_texts(gw, worker)) == 1


def test_a_send_every_modem_rejects_is_retried_with_backoff_then_failed(pipeline):
    gw, worker = pipeline(max_send_attempts=3, retry_backoff=10)
    worker.simulation.network.modem("sim0").inject("cms_error", 38)
    mt_verify(gw, gw.register())
    waits = []
    for _ in range(3):
        assert worker.send_due() == 1
        [row] = rows(gw, OutboundSms)
        if row.status == "queued":
            waits.append((row.next_attempt_at - gw.clock.now()).total_seconds())
            assert worker.send_due() == 0  # not due yet
            gw.clock.advance(waits[-1])
    assert waits == [10, 20]
    assert (row.status, row.attempts) == ("failed", 3)
    assert "38" in row.last_error
    assert phone_texts(gw, worker) == []


def test_no_answer_in_time_is_recorded_as_unknown_and_never_resent(pipeline):
    gw, worker = pipeline(clock=modem.sim.ManualClock(), send_timeout=1.0)
    worker.simulation.network.modem("sim0").inject("slow_submit", 60)
    mt_verify(gw, gw.register())
    worker.send_due()
    [row] = rows(gw, OutboundSms)
    assert row.status == "unknown" and "no answer" in row.last_error
    gw.clock.advance(3600)
    assert worker.send_due() == 0
    assert len(phone_texts(gw, worker)) == 1  # it was in fact sent, once


def test_a_send_interrupted_by_a_crash_is_unknown_at_restart(pipeline):
    gw, worker = pipeline()
    mt_verify(gw, gw.register())
    with gw.deps.uow() as uow:
        [claimed] = uow.outbox.claim_due(gw.clock.now(), 1, "test-worker")
        uow.commit()
    assert claimed.status == "sending"
    assert worker.dispatcher.recover_interrupted() == 1
    [row] = rows(gw, OutboundSms)
    assert row.status == "unknown" and "may have been sent" in row.last_error


def test_with_two_modems_and_one_unplugged_mid_send_nothing_is_lost_or_sent_twice(pipeline):
    clock = modem.sim.ManualClock()
    gw, worker = pipeline(modems=2, clock=clock, send_timeout=2.0)
    network = worker.simulation.network
    numbers = [f"+336123456{i:02d}" for i in range(6)]
    for number in numbers:
        mt_verify(gw, gw.register(), number=number)
    network.modem("sim0").inject("slow_submit", 30)  # sim0 holds its answers...
    network.modem("sim1").inject("slow_submit", 30)
    sends = worker.dispatcher.dispatch_due()  # two sends in flight, one per modem
    assert len(sends) == 2
    network.modem("sim0").unplug()  # ...and is pulled out while it waits
    network.modem("sim1").clear_faults()
    clock.advance(30)
    assert finish(sends) == 2
    for _ in range(6):
        gw.clock.advance(20)  # past any retry backoff, well within the SMS lifetime
        worker.send_due()
    network.modem("sim0").replug()
    by_status = {}
    for row in rows(gw, OutboundSms):
        by_status.setdefault(row.status, []).append(row.recipient)
    assert set(by_status) <= {"sent", "delivered", "unknown"}, by_status
    for number in numbers:
        copies = len(phone_texts(gw, worker, number))
        status = next(s for s, group in by_status.items() if mask_number(number) in group)
        assert copies == 1 or (status == "unknown" and copies == 0), (number, status, copies)


def test_a_power_warning_of_a_modem_reaches_the_modem_status(pipeline):
    from gateway.storage.models import ModemStatus

    gw, worker = pipeline()
    worker.simulation.network.modem("sim0").emit_urc("UNDER-VOLTAGE WARNNING")
    assert worker.pool.wait_for(lambda h: h[0].last_power_warning is not None, 10)
    worker.publish_status()
    with gw.deps.uow() as uow:
        status = uow.db.get(ModemStatus, ("test-worker", "sim0"))
    assert status.power_warning.startswith("UNDER-VOLTAGE WARNNING at ")


def test_a_restarted_worker_remembers_what_its_modems_sent_today(pipeline):
    gw, worker = pipeline()
    for number in ("+33612345601", "+33612345602"):
        mt_verify(gw, gw.register(), number=number)
    assert worker.send_due() + worker.send_due() == 2  # one modem: one at a time
    worker.stop()
    modem.sim.reset_networks()
    restarted = start_worker(gw)
    try:
        assert restarted.pool.health()[0].sent_today == 2
    finally:
        restarted.stop()


def test_a_dispatch_pass_with_nothing_due_takes_no_write_lock(pipeline, monkeypatch):
    """The worker's dispatch pump runs after every send and at every poll: with nothing to
    send it only reads, so the API's writers never wait on it (no BEGIN IMMEDIATE)."""
    gw, worker = pipeline()
    locks = []
    real = gateway.storage.db.begin_immediate
    monkeypatch.setattr(gateway.storage.db, "begin_immediate",
                        lambda connection, **kw: locks.append(1) or real(connection, **kw))
    assert worker.send_due() == 0
    assert locks == []
    mt_verify(gw, gw.register())
    locks.clear()
    assert worker.send_due() == 1
    assert locks  # the claim, and the send's outcome

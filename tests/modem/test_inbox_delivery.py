"""At-least-once reception: acknowledgements after the receiver's commit, AT+CNMA only in
phase 2+, stored reports deleted only after their handler, undecodable and buggy PDUs.

The real driver and pool over ``modemsim://`` in virtual time, or over a scripted port."""
import logging

import pytest

from modem.driver import DeliveryReport, InboundSms, Modem
from modem.pdu import decoding
from modem.pdu.codec import encode_deliver, encode_status_report
from modem.sim import ManualClock
from modem.sim.profiles import get_profile
from modem.transport import ModemConfig

try:
    from tests.modem.sim_bench import (PHONE, WAIT, DriverBench, PoolBench, bench_fixture,
                                       health_of, sent_commands, settle)
    from tests.modem.scripted_port import Collected, ScriptedPort
except ImportError:  # tests/ is not a package: pytest put this directory on sys.path
    from sim_bench import (PHONE, WAIT, DriverBench, PoolBench, bench_fixture, health_of,
                           sent_commands, settle)
    from scripted_port import Collected, ScriptedPort
from virtual_time import VirtualTime

bench = bench_fixture(DriverBench)
DIRECT = "2,2,0,1,0"  # +CMT for SMS, +CDS for reports


def receiver(bench, name="m0", *, on_sms=None, on_report=None, phase2plus=True, **config):
    """A modem whose receiver acknowledges (or not) itself, as the pool's does."""
    if not phase2plus:
        bench.net.add_modem(name)
        bench.sim(name).machine.profile = get_profile("generic", phase2plus=False)
    sms, reports, transcript = Collected(), Collected(), Collected()
    modem = Modem(ModemConfig(url=bench.url(name), name=name, **config), clock=bench.clock,
                  on_sms=on_sms or sms.append, on_report=on_report or reports.append,
                  transcript=lambda d, t: transcript.append((d, t)), auto_ack=False,
                  opener=bench.open_port, waits=bench.time)
    modem.sms, modem.reports, modem.transcript = sms, reports, transcript
    bench.modems.append(modem)
    modem.open()
    return modem


def cnma_sent(modem):
    return [c for c in sent_commands(modem) if c.startswith("AT+CNMA")]


# ---------------------------------------------------------------- direct delivery, phase 2+
def test_a_direct_sms_is_acknowledged_only_when_the_receiver_acknowledges_it(bench):
    modem = receiver(bench, cnmi=DIRECT)
    bench.phone().send(modem.identity.own_number, "commit me")
    bench.deliver()
    message = modem.sms.wait()
    settle(modem)
    assert cnma_sent(modem) == []  # handed over, not yet committed: not acknowledged
    message.ack()
    assert cnma_sent(modem) == ["AT+CNMA"]
    bench.net.advance(60)
    assert len(modem.sms) == 1  # acknowledged: the network does not deliver it again


def test_a_direct_sms_given_back_is_refused_and_the_network_delivers_it_again(bench):
    modem = receiver(bench, cnmi=DIRECT)
    bench.phone().send(modem.identity.own_number, "again")
    bench.deliver()
    modem.sms.wait().release()
    assert cnma_sent(modem) == ["AT+CNMA=2"]
    assert bench.sim().machine.cnmi[1] == 2  # a refusal keeps the routing
    bench.net.advance(bench.net.retry_interval)
    assert modem.sms.wait(2).text == "again"


def test_an_acknowledgement_too_late_routes_again_and_the_sms_comes_again(bench, caplog):
    modem = receiver(bench, cnmi=DIRECT)
    bench.phone().send(modem.identity.own_number, "slow commit")
    bench.deliver()
    message = modem.sms.wait()
    bench.net.advance(bench.sim().machine.profile.cnma_timeout)  # the modem gives up on us
    assert bench.sim().machine.cnmi[1] == 0
    with caplog.at_level(logging.WARNING, logger="modem.inbox"):
        message.ack()  # CMS 340: too late
    assert "too late" in caplog.text
    assert "AT+CNMI=2,2,0,1,0" in sent_commands(modem)[-1:]
    assert bench.sim().machine.cnmi == [2, 2, 0, 1, 0]
    bench.net.advance(bench.net.retry_interval)
    assert modem.sms.wait(2).text == "slow commit"  # the receiver's dedupe makes it one


def test_a_direct_status_report_is_acknowledged_after_its_handler_and_refused_if_it_fails(bench):
    failures = []

    def apply(report):
        if not failures:
            failures.append(report)
            raise RuntimeError("database down")
        report.ack()

    modem = receiver(bench, on_report=apply)  # the default: reports direct in phase 2+
    assert (modem.routing.phase2plus, modem.routing.cnmi) == (True, "2,1,0,1,0")
    modem.send(PHONE, "report me")
    bench.deliver()
    modem.transcript.wait_until(lambda t: ("->", "AT+CNMA=2") in t)
    assert failures and cnma_sent(modem) == ["AT+CNMA=2"]
    bench.net.advance(bench.net.retry_interval)
    modem.transcript.wait_until(lambda t: ("->", "AT+CNMA") in t)
    assert cnma_sent(modem) == ["AT+CNMA=2", "AT+CNMA"]


def test_a_crash_between_receipt_and_commit_loses_nothing_the_next_worker_gets_it(bench):
    first = receiver(bench, cnmi=DIRECT)
    bench.phone().send(first.identity.own_number, "survive me")
    bench.deliver()
    first.sms.wait()
    first.close()  # the worker dies with the SMS handed over, uncommitted, unacknowledged
    bench.net.advance(bench.sim().machine.profile.cnma_timeout)  # back to the network
    second = receiver(bench, cnmi=DIRECT)
    bench.net.advance(bench.net.retry_interval)
    message = second.sms.wait()
    assert message.text == "survive me"
    message.ack()
    assert cnma_sent(second) == ["AT+CNMA"]


# ---------------------------------------------------------------- without phase 2+
def test_without_phase_2_plus_reports_are_stored_and_no_cnma_is_ever_sent(bench):
    modem = receiver(bench, phase2plus=False)
    assert sent_commands(modem)[6:9] == ["AT+CSMS=1", "AT+CSMS?", "AT+CNMI=2,1,0,2,0"]
    assert (modem.routing.phase2plus, modem.routing.cnmi) == (False, "2,1,0,2,0")
    modem.send(PHONE, "report me")
    bench.deliver()
    report = modem.reports.wait()
    settle(modem)
    assert bench.sim().machine.card.used == 1  # on the SIM until the handler is done
    report.ack()
    assert bench.sim().machine.card.used == 0 and cnma_sent(modem) == []


def test_direct_delivery_asked_for_without_phase_2_plus_is_never_acknowledged(bench, caplog):
    with caplog.at_level(logging.WARNING, logger="modem.routing"):
        modem = receiver(bench, phase2plus=False, cnmi=DIRECT)
    assert "acknowledged by the modem itself" in caplog.text
    bench.phone().send(modem.identity.own_number, "direct")
    bench.deliver()
    modem.sms.wait().ack()
    assert cnma_sent(modem) == []


# ---------------------------------------------------------------- stored reports, the pool
pool_bench = bench_fixture(PoolBench)


def test_a_stored_report_stays_on_the_sim_until_its_handler_returned(pool_bench):
    bench = pool_bench
    calls = Collected()

    def handler(report):
        calls.append(report)
        if len(calls) == 1:
            raise RuntimeError("database down")

    bench.net.add_modem("a")
    bench.sim("a").machine.profile = get_profile("generic", phase2plus=False)
    pool = bench.pool(bench.config("a"), start=False)
    pool.start(on_report=handler)
    pool.send(PHONE, "report me")
    bench.net.tick()
    calls.wait(1)
    assert bench.sim("a").machine.card.used == 1  # the handler failed: still there
    pool.maintain()  # the sweep finds it again
    assert isinstance(calls.wait(2), DeliveryReport)
    pool.stop()  # joins the inbound thread: the ack is done
    assert bench.sim("a").machine.card.used == 0 and health_of(pool, "a").reports == 2


def test_the_pool_acknowledges_a_direct_sms_only_after_its_handler_committed(pool_bench):
    bench = pool_bench
    calls = Collected()

    def handler(message):
        calls.append(message.text)
        if len(calls) == 1:
            raise RuntimeError("crash before the commit")

    pool = bench.pool(bench.config("a", cnmi=DIRECT), start=False)
    pool.start(on_sms=handler)
    bench.net.phone(PHONE).send(health_of(pool, "a").identity.own_number, "at least once")
    bench.net.tick()
    calls.wait(1)
    pool.stop()  # joins the inbound thread: the failure was answered with AT+CNMA=2
    radio = bench.sim("a").machine.radio
    assert radio.next_due() is None  # not acknowledged: refused, back to the network
    again = bench.pool(bench.config("a", cnmi=DIRECT), start=False)
    again.start(on_sms=handler)
    bench.net.advance(bench.net.retry_interval)  # the network delivers it again
    assert calls.wait(2) == "at least once"
    again.stop()
    assert radio.next_due() is None and bench.net.messages(kind="MO")[0].status == "delivered"
    bench.net.advance(60)
    assert len(calls) == 2  # acknowledged after the commit: not delivered a third time


def test_the_pool_acknowledges_each_direct_report_after_its_handler_so_the_next_one_comes(
        pool_bench):
    bench = pool_bench
    reports = Collected()
    pool = bench.pool(bench.config("a"), start=False)
    pool.start(on_report=reports.append)
    radio = bench.sim("a").machine.radio
    first = pool.send(PHONE, "one").receipts[0]
    bench.net.tick()
    reports.wait(1)
    with bench.net.changed:  # notified by each write to the modem: here, AT+CNMA
        assert bench.net.changed.wait_for(lambda: radio.next_due() is None, WAIT)
    second = pool.send(PHONE, "two").receipts[0]
    bench.net.tick()  # taken by the modem because the first report was acknowledged
    assert [r.reference for r in (reports.wait(1), reports.wait(2))] == [
        first.reference, second.reference]
    pool.stop()
    assert radio.next_due() is None


# ---------------------------------------------------------------- memories, undecodable, bugs
OK = b"\r\nOK\r\n"


def scripted_modem(port, **kwargs):
    modem = Modem(ModemConfig(url="scripted", name="s"), clock=ManualClock(),
                  opener=lambda cfg: port, waits=VirtualTime(port), **kwargs)
    modem.open()
    return modem


def test_a_report_stored_in_another_memory_is_read_and_deleted_there(request):
    report = encode_status_report(7, PHONE, 0, timestamp=ManualClock().now())
    memory = ["SM"]

    def select(match):
        memory[0] = match.group(1).decode()
        return b"\r\n+CPMS: 0,30,0,30,0,30\r\nOK\r\n"

    def read(match):
        if memory[0] != "SR":
            return b"\r\n+CMS ERROR: 321\r\n"
        return b"\r\n+CMGR: 0,,25\r\n" + report.encode() + b"\r\nOK\r\n"

    port = ScriptedPort().on(r"AT.*", OK).on(r'AT\+CPIN\?', b"\r\n+CPIN: READY\r\nOK\r\n")
    port.on(r'AT\+CPMS="(\w+)"', select).on(r"AT\+CMGR=0", read)
    reports = Collected()
    modem = scripted_modem(port, on_report=reports.append)
    request.addfinalizer(modem.close)
    start = len(port.writes)
    port.push(b'\r\n+CDSI: "SR",0\r\n')
    assert reports.wait().reference == 7
    settle(modem)
    assert port.commands()[start:] == ['AT+CPMS="SR"', "AT+CMGR=0", 'AT+CPMS="SM"',
                                       'AT+CPMS="SR"', "AT+CMGD=0", 'AT+CPMS="SM"']


@pytest.mark.parametrize("pdu, reason", [
    ("07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977",
     "PDU ends early: user data needs 11 octet(s)"),  # a user-data length longer than the data
    ("07911326040000F0040B911346610089F60039208062917314080CC8F71D14969741F977FD07",
     "compressed user data (TP-DCS 0x39)"),
    ("91911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07",
     "SMSC length 145 octets"),
])
def test_an_undecodable_sms_is_handed_over_raw_before_it_leaves_the_sim(bench, pdu, reason):
    modem = receiver(bench)
    bench.sim().machine.card.store(pdu)
    modem.maintain()
    message = modem.sms.wait()
    assert reason in message.undecodable and message.pdu == pdu and message.text == ""
    assert bench.sim().machine.card.used == 1  # still there until the receiver stored it
    message.ack()
    assert bench.sim().machine.card.used == 0


def test_the_sender_of_an_undecodable_sms_is_read_when_its_header_is_whole(bench):
    modem = receiver(bench)
    pdu = "07911326040000F0040B911346610089F60039208062917314080CC8F71D14969741F977FD07"
    bench.sim().machine.card.store(pdu)
    modem.maintain()
    assert modem.sms.wait().sender == "+31641600986"


def test_a_decoding_bug_is_logged_with_its_traceback_and_the_sms_stays_on_the_sim(
        bench, monkeypatch, caplog):
    modem = receiver(bench)
    bench.sim().machine.card.store(encode_deliver(PHONE, "hello", timestamp=bench.clock.now())[0])

    def broken(data):
        raise KeyError("a bug of ours")

    monkeypatch.setattr(decoding, "_decode", broken)
    with caplog.at_level(logging.ERROR, logger="modem.inbox"):
        modem.maintain()
        settle(modem)
    [record] = [r for r in caplog.records if "a bug" in r.getMessage()]
    assert record.exc_info and record.exc_info[0] is KeyError
    assert len(modem.sms) == 0 and bench.sim().machine.card.used == 1
    with caplog.at_level(logging.ERROR, logger="modem.inbox"):
        modem.maintain()  # claimed: not tried again in this run, and not deleted
        settle(modem)
    assert len([r for r in caplog.records if "a bug" in r.getMessage()]) == 1
    assert bench.sim().machine.card.used == 1


def test_a_direct_sms_that_meets_a_decoding_bug_is_refused_so_that_it_comes_again(
        bench, monkeypatch):
    modem = receiver(bench, cnmi=DIRECT)
    real = decoding._decode
    calls = []

    def broken_once(data):
        calls.append(data)
        if len(calls) == 1:
            raise TypeError("a bug of ours")
        return real(data)

    monkeypatch.setattr(decoding, "_decode", broken_once)
    bench.phone().send(modem.identity.own_number, "after the fix")
    bench.deliver()
    modem.transcript.wait_until(lambda t: ("->", "AT+CNMA=2") in t)
    assert cnma_sent(modem) == ["AT+CNMA=2"] and len(calls) == 1
    bench.net.advance(bench.net.retry_interval)
    assert modem.sms.wait().text == "after the fix"


def test_an_sms_submit_on_the_sim_is_left_there(bench, caplog):
    modem = receiver(bench)
    bench.sim().machine.card.store("00" + "11000B915155214365F7000000" + "01" + "61", 2)
    with caplog.at_level(logging.WARNING, logger="modem.inbox"):
        modem.maintain()
        settle(modem)
    assert "SMS-SUBMIT" in caplog.text
    assert len(modem.sms) == 0 and bench.sim().machine.card.used == 1


def test_inbound_sms_and_reports_are_plain_data_with_their_claims_hidden(bench):
    modem = receiver(bench)
    bench.phone().send(modem.identity.own_number, "plain")
    bench.deliver()
    message = modem.sms.wait()
    assert isinstance(message, InboundSms) and "claim" not in repr(message)
    assert message.undecodable is None and message.pdu is None

"""The real driver and engine over ``modemsim://``: every feature (faults: test_driver_sim_faults)."""
import threading
from datetime import timedelta

import pytest

from modem.exceptions import PinRequired, PukRequired, WrongPin
from modem.pdu.codec import encode_deliver
from modem.sim.card import REC_READ
from fakes import set_registration

try:
    from tests.modem.sim_bench import PHONE, DriverBench, bench_fixture, sent_commands, settle
    from tests.modem.scripted_port import Collected
except ImportError:  # tests/ is not a package: pytest put this directory on sys.path
    from sim_bench import PHONE, DriverBench, bench_fixture, sent_commands, settle
    from scripted_port import Collected

bench = bench_fixture(DriverBench)
PROFILES = ["generic", "sim800", "sim7600", "ec25", "e3372"]


# ---------------------------------------------------------------- init, identity, transcript
@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_initialises_and_identifies_itself(bench, profile):
    modem = bench.modem(profile=profile)
    sim = bench.sim()
    identity = modem.identity
    assert (identity.imei, identity.imsi, identity.own_number) == (sim.imei, sim.imsi, sim.number)
    assert identity.iccid == sim.machine.card.iccid
    assert identity.manufacturer == sim.machine.profile.manufacturer
    assert identity.revision == sim.machine.profile.revision
    assert identity.smsc == "+10000000000" and identity.home_network == "00101"
    assert modem.status.registration == "home" and modem.status.signal_dbm == -73
    assert modem.status.operator == "00101" and not modem.status.storage_full


def test_transcript_pins_the_init_and_send_at_sequences(bench):
    modem = bench.modem()
    init = sent_commands(modem)
    assert init == [
        "AT", "ATE0", "AT+CMEE=1", "AT+CPIN?", "AT+CMGF=0", 'AT+CPMS="SM","SM","SM"',
        "AT+CSMS=1", "AT+CNMI=2,1,0,1,0", "AT+CREG=1", "AT+CEREG=1",
        "AT+CIMI", "AT+CGMI", "AT+CGMM", "AT+CGMR", "AT+CGSN", "AT+CCID", "AT+CNUM", "AT+CSCA?",
        "AT+CREG?", "AT+CEREG?", "AT+COPS=3,2", "AT+COPS?", "AT+CPMS?", "AT+CSQ",
    ]
    before = len(modem.transcript)
    [receipt] = modem.send(PHONE, "hello")
    assert modem.transcript[before:before + 5] == [
        ("->", "AT+CMGS=18"), ("<-", "> "),
        ("->", "0021000B915155214365F7000005E8329BFD06<Ctrl-Z>"),
        ("<-", f"+CMGS: {receipt.reference}"), ("<-", "OK"),
    ]


def test_roaming_and_denied_registration_are_reported(bench):
    modem = bench.modem(query="registration=roaming")
    assert modem.status.registration == "roaming" and modem.status.registered
    set_registration(bench.sim(), "denied")
    assert modem.refresh_status().registration == "denied" and not modem.status.registered


def test_a_registration_urc_updates_the_status_at_once(bench):
    modem = bench.modem()
    set_registration(bench.sim(), "searching")
    modem.transcript.wait_until(lambda t: ("<-", "+CREG: 2") in t)
    settle(modem)
    assert modem.status.registration == "searching"


def test_own_number_from_the_configuration_wins_over_cnum(bench):
    modem = bench.modem(query="no_number", own_number="+4915112345678")
    assert modem.identity.own_number == "+4915112345678"


# ---------------------------------------------------------------- PIN
def test_a_sim_pin_is_entered_from_the_configuration(bench):
    modem = bench.modem(query="pin=1234", pin="1234")
    # the transcript hides the PIN; the SIM unlocking (an IMSI read) shows it was right
    assert 'AT+CPIN=****' in sent_commands(modem) and modem.identity.imsi


def test_a_pin_locked_sim_without_a_configured_pin_says_so(bench):
    with pytest.raises(PinRequired, match="PIN required"):
        bench.modem(query="pin=1234")


def test_a_wrong_pin_is_reported_and_three_of_them_leave_the_puk(bench):
    for _ in range(3):
        with pytest.raises(WrongPin, match="refused"):
            bench.modem(query="pin=1234", pin="0000")
    with pytest.raises(PukRequired, match="PUK"):
        bench.modem(query="pin=1234", pin="1234")


# ---------------------------------------------------------------- sending
@pytest.mark.parametrize("text", [
    "Your code is 123456",
    "Extension table: € [ ] { } ~ ^ | \\",
    "Ünïcödé ĉĥàŕś and an emoji 😀 in UCS-2",
])
def test_a_single_part_sms_reaches_the_phone_intact(bench, text):
    modem = bench.modem()
    [receipt] = modem.send(PHONE, text)
    bench.deliver()
    assert bench.phone().texts == [text] and receipt.part_count == 1


@pytest.mark.parametrize("text", ["x" * 400, "😀" * 100 + " emoji everywhere"])
def test_a_long_sms_goes_out_in_parts_with_a_receipt_each(bench, text):
    modem = bench.modem()
    receipts = modem.send(PHONE, text)
    bench.deliver()
    assert len(receipts) > 1 and [r.part_number for r in receipts] == list(range(1, len(receipts) + 1))
    assert len({r.concat_reference for r in receipts}) == 1
    assert len({r.reference for r in receipts}) == len(receipts)
    assert bench.phone().texts == [text]


def test_concurrent_sends_from_several_threads_never_interleave(bench):
    modem = bench.modem()
    errors, start = [], threading.Barrier(6)

    def send(n):
        start.wait()
        try:
            modem.send(f"+1555000{n:04d}", f"message {n} " + "y" * 170)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(Collected.WAIT)
    bench.deliver()
    assert not errors
    for n in range(6):
        assert bench.phone(f"+1555000{n:04d}").texts == [f"message {n} " + "y" * 170]
    writes = [w for w in sent_commands(modem) if w.startswith("AT+CMGS=") or w.endswith("<Ctrl-Z>")]
    assert len(writes) == 24  # 6 messages of 2 parts: each prompt followed by its own PDU
    assert all(w.startswith("AT+CMGS=") for w in writes[::2])
    assert all(w.endswith("<Ctrl-Z>") for w in writes[1::2])


@pytest.mark.parametrize("status, outcome", [
    (0x00, "delivered"), (0x30, "temporary_failure"), (0x45, "permanent_failure")])
def test_delivery_reports_carry_the_reference_and_recipient_of_their_part_and_are_classified(
        bench, status, outcome):
    modem = bench.modem()
    bench.phone().report_status = status
    [receipt] = modem.send(PHONE, "hello")
    bench.deliver()
    report = modem.reports.wait()
    assert (report.modem, report.reference, report.recipient) == (
        receipt.modem, receipt.reference, receipt.destination)
    assert (report.outcome, report.status) == (outcome, status)


def test_stored_status_reports_come_through_cdsi_and_are_deleted(bench):
    modem = bench.modem(cnmi="2,1,0,2,0")
    [receipt] = modem.send(PHONE, "hello")
    bench.deliver()
    report = modem.reports.wait()
    assert (report.reference, report.recipient, report.outcome) == (
        receipt.reference, receipt.destination, "delivered")
    settle(modem)
    assert bench.sim().machine.card.used == 0
    assert any(t.startswith("+CDSI:") for d, t in modem.transcript if d == "<-")


# ---------------------------------------------------------------- receiving
def test_a_received_sms_is_handed_over_then_deleted_from_the_sim(bench):
    modem = bench.modem()
    bench.phone().send(modem.identity.own_number, "ping")
    bench.deliver()
    message = modem.sms.wait()
    assert (message.sender, message.text, message.recipient) == (PHONE, "ping", modem.identity.own_number)
    settle(modem)
    assert bench.sim().machine.card.used == 0
    assert sent_commands(modem)[-2:] == ["AT+CMGR=1", "AT+CMGD=1"]


def test_a_failing_receiver_leaves_the_sms_on_the_sim_for_the_next_sweep(bench):
    calls = Collected()

    def flaky(message):
        calls.append(message)
        if len(calls) == 1:
            raise RuntimeError("database down")

    modem = bench.modem(on_sms=flaky)
    bench.phone().send(modem.identity.own_number, "ping")
    bench.deliver()
    calls.wait(1)
    settle(modem)
    assert bench.sim().machine.card.used == 1
    modem.maintain()
    assert calls.wait(2).text == "ping"
    settle(modem)
    assert bench.sim().machine.card.used == 0


def test_direct_cmt_delivery_is_acknowledged_with_cnma(bench):
    modem = bench.modem(cnmi="2,2,0,1,0")
    bench.phone().send(modem.identity.own_number, "direct")
    bench.deliver()
    assert modem.sms.wait().text == "direct"
    settle(modem)
    assert "AT+CNMA" in sent_commands(modem)
    bench.net.advance(60)  # past the modem's acknowledgement timer: nothing bounces back
    assert bench.sim().machine.cnmi[1] == 2 and len(modem.sms) == 1


def test_a_multipart_sms_is_reassembled_and_all_its_parts_deleted(bench):
    modem = bench.modem()
    text = "part " * 100
    bench.phone().send(modem.identity.own_number, text)
    bench.deliver()
    assert modem.sms.wait().text == text
    settle(modem)
    assert bench.sim().machine.card.used == 0 and len(modem.sms) == 1


def test_missing_parts_are_given_up_after_the_timeout_and_the_rest_delivered(bench):
    modem = bench.modem()
    parts = encode_deliver(PHONE, "abc" * 120, timestamp=bench.clock.now(), concat_reference=7)
    card = bench.sim().machine.card
    card.store(parts[0]), card.store(parts[2])
    modem.maintain()
    settle(modem)
    assert len(modem.sms) == 0 and card.used == 2
    bench.clock.advance(301)
    modem.maintain()
    message = modem.sms.wait()
    assert message.partial and "…" in message.text
    settle(modem)
    assert card.used == 0


def test_each_partial_message_keeps_its_own_sim_parts_when_its_receiver_fails(bench):
    other = "+15557654321"
    received = Collected()

    def refuse_other(message):
        received.append(message)
        if message.sender == other:
            raise RuntimeError("not now")

    modem = bench.modem(on_sms=refuse_other)
    mine = encode_deliver(PHONE, "abc" * 120, timestamp=bench.clock.now(), concat_reference=7)
    theirs = encode_deliver(other, "xyz" * 120, timestamp=bench.clock.now(), concat_reference=7)
    card = bench.sim().machine.card
    for pdu in (theirs[2], mine[0], theirs[0], mine[2]):
        card.store(pdu)
    modem.maintain()
    settle(modem)
    bench.clock.advance(301)
    modem.maintain()
    received.wait(2)
    settle(modem)
    assert {(m.sender, m.partial) for m in received} == {(PHONE, True), (other, True)}
    left = sorted(stored.pdu_hex for _, stored in card.listing(4))
    assert left == sorted([theirs[0], theirs[2]])


def test_the_sweep_finds_messages_whose_notice_was_lost(bench):
    first = bench.modem()
    number = first.identity.own_number
    first.close()
    bench.phone().send(number, "while nobody listened")
    bench.deliver()
    modem = bench.modem()  # attaching drops what the modem printed meanwhile
    modem.maintain()
    assert modem.sms.wait().text == "while nobody listened"


def test_the_sweep_hands_over_old_read_messages_with_their_smsc_timestamp(bench):
    modem = bench.modem()
    sent = bench.clock.now() - timedelta(days=7)
    bench.sim().machine.card.store(encode_deliver(PHONE, "last week", timestamp=sent)[0], REC_READ)
    modem.maintain()
    message = modem.sms.wait()
    assert (message.text, message.smsc_timestamp) == ("last week", sent)
    assert message.received_at == bench.clock.now()


def test_an_undecodable_stored_message_is_handed_over_raw_then_deleted_not_left_to_clog_the_store(bench):
    modem = bench.modem()
    bench.sim().machine.card.store("0791FFFF")
    modem.maintain()
    message = modem.sms.wait()
    settle(modem)
    assert (message.undecodable, message.pdu, message.text) == (
        "PDU ends early: SMSC needs 6 octet(s) at offset 2, 2 left", "0791FFFF", "")
    assert bench.sim().machine.card.used == 0 and len(modem.sms) == 1

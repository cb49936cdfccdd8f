"""The real driver and engine over ``modemsim://``: every feature and every named fault."""
import itertools
import threading

import pytest

from modem.driver import Modem
from modem.errors import (ModemGone, ModemTimeout, PinRequired, PukRequired, SendOutcomeUnknown,
                          SendRejected, WrongPin)
from modem.pdu import encode_deliver
from modem.sim import ManualClock, create_network, reset_networks
from modem.transport import ModemConfig

try:
    from tests.modem.scripted_port import Collected
except ImportError:  # tests/ is not a package: pytest put this directory on sys.path
    from scripted_port import Collected

PROFILES = ["generic", "sim800", "sim7600", "ec25", "e3372"]
PHONE = "+15551234567"
_networks = itertools.count()


class Bench:
    """A virtual network on a manual clock, and the modems a test opened on it."""

    def __init__(self):
        self.name = f"driver-{next(_networks)}"
        self.net = create_network(self.name, ManualClock())
        self.clock = self.net.clock
        self.modems = []

    def url(self, name, profile="generic", query=""):
        extra = f"&{query}" if query else ""
        return f"modemsim://{name}?network={self.name}&profile={profile}{extra}"

    def modem(self, name="m0", profile="generic", *, query="", on_sms=None, open=True, **config):
        config.setdefault("command_timeout", 2.0)
        sms, reports, transcript, waits = Collected(), Collected(), Collected(), []
        modem = Modem(ModemConfig(url=self.url(name, profile, query), name=name, **config),
                      clock=self.clock, on_sms=on_sms or sms.append, on_report=reports.append,
                      transcript=lambda d, t: transcript.append((d, t)), backoff_wait=waits.append)
        modem.sms, modem.reports, modem.transcript, modem.waits = sms, reports, transcript, waits
        self.modems.append(modem)
        if open:
            modem.open()
        return modem

    def sim(self, name="m0"):
        return self.net.modem(name)

    def phone(self, number=PHONE):
        return self.net.phone(number)

    def deliver(self):
        """Let the network run what is due now (deliveries with zero delay)."""
        self.net.tick()


@pytest.fixture
def bench():
    made = Bench()
    yield made
    for modem in made.modems:
        modem.close()
    reset_networks()


def settle(modem):
    """Wait until the modem's events thread has run everything queued so far."""
    done = threading.Event()
    assert modem.engine.post(done.set)
    assert done.wait(Collected.WAIT)


def sent_commands(modem):
    return [text for direction, text in modem.transcript if direction == "->"]


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
        "AT+CNMI=2,1,0,1,0", "AT+CREG=1", "AT+CEREG=1",
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
    bench.sim().set_registration("denied")
    assert modem.refresh_status().registration == "denied" and not modem.status.registered


def test_a_registration_urc_updates_the_status_at_once(bench):
    modem = bench.modem()
    bench.sim().set_registration("searching")
    modem.transcript.wait_until(lambda t: ("<-", "+CREG: 2") in t)
    settle(modem)
    assert modem.status.registration == "searching"


def test_own_number_from_the_configuration_wins_over_cnum(bench):
    modem = bench.modem(query="no_number", own_number="+4915112345678")
    assert modem.identity.own_number == "+4915112345678"


# ---------------------------------------------------------------- PIN
def test_a_sim_pin_is_entered_from_the_configuration(bench):
    modem = bench.modem(query="pin=1234", pin="1234")
    assert 'AT+CPIN="1234"' in sent_commands(modem) and modem.identity.imsi


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
def test_delivery_reports_are_matched_to_their_part_and_classified(bench, status, outcome):
    modem = bench.modem()
    bench.phone().report_status = status
    [receipt] = modem.send(PHONE, "hello")
    bench.deliver()
    report = modem.reports.wait()
    assert (report.outcome, report.status, report.receipt) == (outcome, status, receipt)


def test_stored_status_reports_come_through_cdsi_and_are_deleted(bench):
    modem = bench.modem(cnmi="2,1,0,2,0")
    [receipt] = modem.send(PHONE, "hello")
    bench.deliver()
    assert modem.reports.wait().receipt == receipt
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


def test_the_sweep_finds_messages_whose_notice_was_lost(bench):
    first = bench.modem()
    number = first.identity.own_number
    first.close()
    bench.phone().send(number, "while nobody listened")
    bench.deliver()
    modem = bench.modem()  # attaching drops what the modem printed meanwhile
    modem.maintain()
    assert modem.sms.wait().text == "while nobody listened"


def test_undecodable_stored_messages_are_deleted_not_left_to_clog_the_store(bench):
    modem = bench.modem()
    bench.sim().machine.card.store("0791FFFF")
    modem.maintain()
    settle(modem)
    assert bench.sim().machine.card.used == 0 and len(modem.sms) == 0


# ---------------------------------------------------------------- faults
def test_fault_no_answer_times_out_and_sends_nothing(bench):
    modem = bench.modem(prompt_timeout=0.1, command_timeout=0.1)
    bench.sim().inject("no_answer")
    with pytest.raises(ModemTimeout):
        modem.command("AT+CSQ", timeout=0.1)
    with pytest.raises(ModemTimeout):
        modem.send(PHONE, "hello")
    assert bench.net.messages(kind="MT") == []


def test_fault_no_answer_at_open_is_a_timeout(bench):
    with pytest.raises(ModemTimeout):
        bench.modem(query="fault=no_answer", command_timeout=0.05)


def test_fault_cms_error_on_send_is_a_rejection_with_its_code(bench):
    modem = bench.modem()
    bench.sim().inject("cms_error", 500)
    with pytest.raises(SendRejected) as caught:
        modem.send(PHONE, "hello")
    assert caught.value.cms_code == 500 and caught.value.accepted == ()


@pytest.mark.parametrize("profile, code", [("generic", 14), ("e3372", 515)])
def test_fault_sim_busy_is_retried_with_backoff(bench, profile, code):
    modem = bench.modem(profile=profile)
    bench.sim().inject("sim_busy", 3)
    assert modem.command("AT+CPMS?")[0].startswith("+CPMS:")
    assert modem.waits == [0.5, 1.0, 2.0]
    assert sum(1 for d, t in modem.transcript if t == f"+CME ERROR: {code}") == 3


def test_fault_sim_busy_at_power_on_is_waited_out_before_numeric_errors(bench):
    modem = bench.modem(query="fault=sim_busy:3")  # before AT+CMEE=1 busy is a bare ERROR
    assert modem.identity.imsi and modem.waits == [0.5, 1.0, 2.0]


def test_fault_slow_submit_past_the_send_timeout_is_an_unknown_outcome(bench):
    modem = bench.modem(send_timeout=0.2)
    bench.sim().inject("slow_submit", 30)
    with pytest.raises(SendOutcomeUnknown):
        modem.send(PHONE, "hello")
    assert len(bench.net.messages(kind="MT")) == 1  # it did go out


def test_fault_slow_submit_within_the_send_timeout_is_accepted(bench):
    modem = bench.modem(send_timeout=Collected.WAIT)
    bench.sim().inject("slow_submit", 30)
    result = Collected()
    thread = threading.Thread(target=lambda: result.append(modem.send(PHONE, "hello")))
    thread.start()
    modem.transcript.wait_until(lambda t: t and t[-1][1].endswith("<Ctrl-Z>"))
    bench.net.advance(30)
    [receipt] = result.wait()
    thread.join(Collected.WAIT)
    assert receipt.reference is not None


def test_fault_unplug_makes_the_modem_gone_and_replug_lets_it_reopen(bench):
    gone = Collected()
    modem = bench.modem()
    modem._on_gone = gone.append
    imsi = modem.identity.imsi
    bench.sim().inject("unplug")
    gone.wait()
    with pytest.raises(ModemGone):
        modem.send(PHONE, "hello")
    bench.sim().clear_faults("unplug")
    assert bench.modem().identity.imsi == imsi


def test_fault_no_network_shows_searching_and_sends_are_rejected(bench):
    modem = bench.modem()
    bench.sim().inject("no_network")
    status = modem.refresh_status()
    assert (status.registration, status.signal_dbm) == ("searching", None)
    with pytest.raises(SendRejected) as caught:
        modem.send(PHONE, "hello")
    assert caught.value.cms_code == 331


def test_fault_smsc_unknown_shows_no_smsc_and_sends_fail_with_330(bench):
    modem = bench.modem(query="fault=smsc_unknown")
    assert modem.identity.smsc is None
    with pytest.raises(SendRejected) as caught:
        modem.send(PHONE, "hello")
    assert caught.value.cms_code == 330


def test_fault_storage_full_is_detected_and_drained(bench):
    modem = bench.modem()
    bench.sim().inject("storage_full")
    bench.phone().send(modem.identity.own_number, "waiting in the network")
    bench.deliver()
    assert modem.refresh_status().storage_full
    modem.maintain()
    modem.sms.wait(30)
    settle(modem)
    assert bench.sim().machine.card.used == 0
    bench.net.advance(bench.net.retry_interval)  # the SMSC tries again
    assert modem.sms.wait(31).text == "waiting in the network"


def test_fault_urc_in_response_is_still_handled(bench):
    modem = bench.modem()
    bench.sim().inject("urc_in_response")
    bench.phone().send(modem.identity.own_number, "inside")
    bench.deliver()
    assert modem.command("AT+CSQ") == ["+CSQ: 20,99"]
    assert modem.sms.wait().text == "inside"


def test_fault_garbage_bytes_neither_break_answers_nor_the_reader(bench):
    modem = bench.modem(query="fault=garbage:3")
    assert modem.identity.manufacturer == "MSISDN-GATEWAY"
    assert modem.command("AT+CSQ") == ["+CSQ: 20,99"]

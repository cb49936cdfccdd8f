"""The real driver and engine over ``modemsim://``: every named fault of the simulator.

Modems keep their production timeouts; they pass in virtual time (``bench.time``).
"""

import pytest

from modem.exceptions import ModemGone, ModemOutOfSync, ModemTimeout, SendOutcomeUnknown, SendRejected

try:
    from tests.modem.sim_bench import PHONE, DriverBench, bench_fixture, settle
    from tests.modem.scripted_port import Collected
except ImportError:  # tests/ is not a package: pytest put this directory on sys.path
    from sim_bench import PHONE, DriverBench, bench_fixture, settle
    from scripted_port import Collected

bench = bench_fixture(DriverBench)

# ---------------------------------------------------------------- faults
def test_fault_no_answer_times_out_and_sends_nothing(bench):
    modem = bench.modem()  # production timeouts: command and prompt 10 s
    bench.sim().inject("no_answer")
    with pytest.raises(ModemTimeout):
        modem.command("AT+CSQ", timeout=30)
    assert bench.time.now == 30  # the command's own timeout
    with pytest.raises(ModemOutOfSync):  # the probe after the timeout got no answer
        modem.send(PHONE, "hello")
    assert bench.time.now == 30 + 10  # the probe's timeout; AT+CMGS was never written
    assert modem.gone and "AT+CMGS" not in " ".join(t for d, t in modem.transcript)
    assert bench.net.messages(kind="MT") == []


def test_fault_no_answer_at_open_fails_the_open(bench):
    with pytest.raises(ModemOutOfSync):
        bench.modem(query="fault=no_answer")
    # AT, a back-off, then one more chance: the resynchronising probe, unanswered
    assert bench.time.sleeps == [0.5] and bench.time.now == 10 + 0.5 + 10


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
    assert bench.time.sleeps == [0.5, 1.0, 2.0] and bench.time.now == 3.5
    assert sum(1 for d, t in modem.transcript if t == f"+CME ERROR: {code}") == 3


def test_fault_sim_busy_at_power_on_is_waited_out_before_numeric_errors(bench):
    modem = bench.modem(query="fault=sim_busy:3")  # before AT+CMEE=1 busy is a bare ERROR
    assert modem.identity.imsi and bench.time.sleeps == [0.5, 1.0, 2.0] and bench.time.now == 3.5


def test_fault_slow_submit_past_the_send_timeout_is_an_unknown_outcome(bench):
    modem = bench.modem()  # send_timeout 120 s, an LTE module's limit
    bench.sim().inject("slow_submit", 150)
    with pytest.raises(SendOutcomeUnknown):
        modem.send(PHONE, "hello")
    assert bench.time.now == 120  # exactly the send timeout
    assert len(bench.net.messages(kind="MT")) == 1  # it did go out


def test_fault_slow_submit_within_the_send_timeout_is_accepted(bench):
    modem = bench.modem()
    bench.sim().inject("slow_submit", 30)
    [receipt] = modem.send(PHONE, "hello")
    assert receipt.reference is not None and bench.time.now == 30  # when the answer came


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

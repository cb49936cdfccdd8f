"""Late answers over ``modemsim://`` with the real driver and pool: the ``late_answer`` fault.

Modems keep their production timeouts (command 10 s, send 120 s); they pass in virtual time.
"""
import pytest

from modem.exceptions import ModemOutOfSync, ModemTimeout, SendOutcomeUnknown

try:
    from tests.modem.sim_bench import (PHONE, DriverBench, PoolBench, bench_fixture, health_of,
                                       sent_commands, settle)
    from tests.modem.scripted_port import Collected
except ImportError:  # tests/ is not a package: pytest put this directory on sys.path
    from sim_bench import (PHONE, DriverBench, PoolBench, bench_fixture, health_of,
                           sent_commands, settle)
    from scripted_port import Collected

driver_bench = bench_fixture(DriverBench)
pool_bench = bench_fixture(PoolBench)


def test_a_late_cmgs_reaches_on_late_and_the_next_command_gets_its_own_answer(driver_bench):
    bench = driver_bench
    modem = bench.modem()
    late = Collected()
    bench.sim().inject("late_answer", 150)  # the modem answers the PDU 30 s after our limit
    with pytest.raises(SendOutcomeUnknown):
        modem.send(PHONE, "hello", on_late=late.append)
    assert bench.time.now == 120
    [signal] = modem.command("AT+CSQ")  # waits for the probe: the modem is still sending
    assert signal.startswith("+CSQ:") and bench.time.now == 150
    receipt = late.wait()
    [sent] = bench.net.messages(kind="MT")
    assert (receipt.modem, receipt.destination, receipt.part_number) == ("m0", PHONE, 1)
    assert receipt.reference == sent.reference is not None
    # The delivery report may already have come and been acknowledged (AT+CNMA, whenever
    # it arrives): the commands of the send and the probe are the rest.
    commands = [command for command in sent_commands(modem) if command != "AT+CNMA"]
    assert commands[-3:] == ["<ESC>", "AT+CMEE?", "AT+CSQ"]
    report = modem.reports.wait()  # its delivery report names the same TP-MR
    assert report.reference == receipt.reference
    settle(modem)


def test_a_modem_out_of_sync_is_skipped_by_the_pool_and_reopened(pool_bench):
    bench = pool_bench
    pool = bench.pool(bench.config("a", "plmn=20801"), bench.config("b"), supervise=False)
    late = Collected()
    bench.sim("a").inject("late_answer", 150)
    with pytest.raises(SendOutcomeUnknown):
        pool.send(PHONE, "one", mcc="208", mnc="01", on_late=late.append)
    assert bench.time.now == 120
    bench.sim("a").inject("late_answer", 500)  # and now the probe's answer is held too
    result = pool.send(PHONE, "two", mcc="208", mnc="01")
    assert result.modem == "b" and bench.time.now == 120 + 120  # the probe's patience
    assert late.wait().reference is not None  # the late +CMGS came meanwhile, at 150
    a = health_of(pool, "a")
    assert a.state == "gone" and "out of sync" in a.last_error
    assert pool.send(PHONE, "three", mcc="208", mnc="01").modem == "b"  # a is skipped
    assert bench.time.now == 240
    bench.net.advance(500)  # the held answers go out (to nobody who still listens)
    assert pool.reopen_due() == 1 and health_of(pool, "a").state == "ready"
    assert pool.send(PHONE, "four", mcc="208", mnc="01").modem == "a"
    texts = sorted(m.text for m in bench.net.messages(kind="MT"))
    assert texts == ["four", "one", "three", "two"]  # each SMS once


def test_a_probe_that_times_out_leaves_the_next_command_unwritten(driver_bench):
    bench = driver_bench
    gone = Collected()
    modem = bench.modem()
    modem._on_gone = gone.append
    bench.sim().inject("late_answer", 30, 2)  # this answer and the probe's come late
    with pytest.raises(ModemTimeout):
        modem.command("AT+CSQ")
    with pytest.raises(ModemOutOfSync, match="out of sync"):
        modem.command("AT+CMGD=1")
    assert sent_commands(modem)[-3:] == ["AT+CSQ", "<ESC>", "AT+CMEE?"]
    assert modem.gone and isinstance(gone.wait(), ModemOutOfSync)
    assert bench.time.now == 10 + 10

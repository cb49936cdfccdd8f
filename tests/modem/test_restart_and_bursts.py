"""A modem that restarts (``RDY``) is initialised again off its events thread, and no message
or report notice is lost however many notices come at once (chatter may be, counted).

The real driver over a scripted port, then over the simulator in virtual time."""
import threading

import pytest

from modem.driver import Modem
from modem.pdu.codec import encode_deliver, encode_status_report
from modem.sim import ManualClock
from modem.transport import ModemConfig

try:
    from tests.modem.scripted_port import Collected, ScriptedPort
    from tests.modem.sim_bench import WAIT, DriverBench, bench_fixture, settle
except ImportError:  # tests/ is not a package: pytest put this directory on sys.path
    from scripted_port import Collected, ScriptedPort
    from sim_bench import WAIT, DriverBench, bench_fixture, settle

OK = b"\r\nOK\r\n"
PHONE = "+15551234567"
bench = bench_fixture(DriverBench)


def report_pdu(reference: int) -> str:
    return encode_status_report(reference, PHONE, 0, timestamp=ManualClock().now())


@pytest.fixture
def scripted_modem():
    made = []

    def make(port, **callbacks):
        modem = Modem(ModemConfig(url="scripted", name="s"), clock=ManualClock(),
                      opener=lambda config: port, **callbacks)
        made.append(modem)
        modem.open()
        return modem

    yield make
    for modem in made:
        modem.close()


def test_a_report_is_handled_while_the_restarted_modem_is_set_up_again(scripted_modem):
    """The restarted modem's first ``AT`` gets a ``+CDS`` and no answer; the answer comes
    only once the report was handed over. With the set-up on the events thread the report
    would wait behind it, and the set-up would wait for the report: neither would end."""
    port = ScriptedPort()
    port.on(r"AT.*", OK)
    port.on(r"AT\+CPIN\?", b"\r\n+CPIN: READY\r\nOK\r\n")
    seen, modems = Collected(), []

    def on_report(report):
        seen.append((modems[0].reinitialising, threading.current_thread().name,
                     report.reference))
        port.push(OK)  # the answer to the restarted modem's first AT

    modems.append(scripted_modem(port, on_report=on_report))
    port.expect("AT", b"\r\n+CDS: 25\r\n" + report_pdu(9).encode() + b"\r\n")
    port.push(b"\r\nRDY\r\n")
    assert seen.wait() == (True, "modem-events-s", 9)
    port.writes.wait_until(lambda writes: writes.count(b"AT+CMGF=0\r") == 2)
    modems[0]._restarts.join(WAIT)
    assert not modems[0].reinitialising and not port.unexpected


def burst_of_1000(sim, machine):
    """1,000 notice lines in one block after the modem's RDY: 200 for SMS and reports (20
    stored SMS, 5 stored reports, 125 SMS and 50 reports given directly) among 800 chatter
    (signal, registration); returns (lines, texts expected, report references expected)."""
    card, first = machine.card, machine.profile.first_index
    kinds = ["cmti"] * 20 + ["cdsi"] * 5 + ["cmt"] * 125 + ["cds"] * 50
    chatter = ["^RSSI: 17", "+CREG: 1", '^HCSQ: "LTE",50,50,120,20', "+CEREG: 1"]
    lines, texts, references = [], [], []
    for n in range(1000):
        if n % 5:
            lines.append(chatter[n % 4])
            continue
        kind = kinds[n // 5]
        if kind in ("cmti", "cmt"):
            texts.append(f"burst {n}")
            pdu = encode_deliver(f"+3361234{n:04d}", texts[-1], timestamp=ManualClock().now())[0]
        else:
            references.append(n % 256)
            pdu = report_pdu(references[-1])
        if kind in ("cmti", "cdsi"):
            index = card.store(pdu) + first
            lines.append(f'+{"CMTI" if kind == "cmti" else "CDSI"}: "SM",{index}')
        else:
            length = len(pdu) // 2 - 1 - int(pdu[:2], 16)
            lines += [f"+{'CMT: ,' if kind == 'cmt' else 'CDS: '}{length}", pdu]
    return lines, texts, references


def test_a_burst_of_1000_notices_during_a_reinitialisation_loses_no_sms_or_report(bench):
    sms, reports, dropped = Collected(), Collected(), Collected()
    modem = Modem(ModemConfig(url=bench.url("m0"), name="m0"), clock=bench.clock,
                  on_sms=sms.append, on_report=reports.append, on_chatter_dropped=dropped.append,
                  opener=bench.open_port, waits=bench.time)
    bench.modems.append(modem)
    modem.open()
    sim = bench.sim("m0")
    with bench.net.lock:  # the modem restarts (settings lost, RDY) and prints a burst
        sim.machine.power_on(bench.clock.monotonic())
        lines, texts, references = burst_of_1000(sim, sim.machine)
    sim.emit_urc(*lines)

    sms.wait(len(texts))
    reports.wait(len(references))
    modem._restarts.join(WAIT)
    settle(modem)  # the maintenance pass that follows a re-initialisation
    assert sorted(m.text for m in sms) == sorted(texts)
    assert sorted(r.reference for r in reports) == sorted(references)
    assert sim.machine.card.used == 0  # every stored SMS and report handled, then deleted
    assert (sim.machine.echo, sim.machine.cmee) == (False, 1)  # initialised again
    assert not modem.reinitialising
    assert len(dropped) == modem.engine.dropped_events <= 800  # chatter only, counted

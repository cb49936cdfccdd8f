"""``python -m modem.probe URL``: identity, network, signal and the AT transcript."""
import io
import subprocess
import sys

import pytest

from modem.probe import main
from modem.sim import ManualClock, create_network, reset_networks


@pytest.fixture
def network():
    yield create_network("probe", ManualClock())
    reset_networks()


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    return main(argv, out, err), out.getvalue(), err.getvalue()


def test_the_probe_prints_identity_network_signal_and_the_transcript(network):
    sim = network.add_modem("m0", "ec25")
    code, out, err = run(["modemsim://m0?network=probe"])
    assert code == 0 and err == ""
    assert f"IMEI:         {sim.imei}" in out and f"IMSI:         {sim.imsi}" in out
    assert "Registration: home" in out and "Signal:       -73 dBm" in out
    assert "Modem:        Quectel EC25" in out
    assert "  -> AT+CGSN" in out and f"  <- {sim.imei}" in out
    assert ("SMS routing:  messages stored (+CMTI), reports direct (+CDS); AT+CNMA after the "
            "commit (AT+CNMI=2,1,0,1,0)") in out


def test_a_pin_locked_sim_fails_with_a_clear_message_and_the_transcript(network):
    network.add_modem("m0", pin="1234")
    code, out, err = run(["modemsim://m0?network=probe"])
    assert code == 1 and "SIM PIN required" in err
    assert "  -> AT+CPIN?" in out and "  <- +CPIN: SIM PIN" in out
    assert run(["modemsim://m0?network=probe", "--pin", "1234"])[0] == 0


def test_a_missing_device_fails_with_exit_status_one():
    code, _, err = run(["/dev/no-such-modem-here"])
    assert code == 1 and "cannot open /dev/no-such-modem-here" in err


def test_python_dash_m_modem_probe_runs_as_a_program():
    done = subprocess.run([sys.executable, "-m", "modem.probe", "modemsim://cli?profile=e3372"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Modem:        huawei E3372" in done.stdout and "AT transcript:" in done.stdout

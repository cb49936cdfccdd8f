"""The driver over a real pseudo-terminal (a posix serial port), and over real hardware.

The pty test puts a simulated modem behind ``/dev/pts/N`` (``modem.sim.pty``) and opens it
as a device path, so the native pyserial port, its exclusive lock and ``cancel_read`` are
exercised. The hardware test reads a port URL from ``GSM_TEST_PORT`` and skips without it.
"""
import os

import pytest

from modem.driver import Modem
from modem.exceptions import ModemGone
from modem.sim import SystemClock, create_network, reset_networks
from modem.sim.pty import PtyBridge
from modem.transport import ModemConfig, open_port

try:
    from tests.modem.scripted_port import Collected
except ImportError:  # tests/ is not a package: pytest put this directory on sys.path
    from scripted_port import Collected


@pytest.fixture
def pty_modem():
    network = create_network("driver-pty", SystemClock())
    sim = network.add_modem("p0", "sim7600")
    bridge = PtyBridge(network, sim)
    path = bridge.start()
    yield network, sim, path
    bridge.stop()
    reset_networks()


def test_the_driver_sends_and_receives_over_a_real_pseudo_terminal(pty_modem):
    network, sim, path = pty_modem
    sms = Collected()
    modem = Modem(ModemConfig(url=path, name="pty", command_timeout=5.0), on_sms=sms.append)
    try:
        assert modem.open().imsi == sim.imsi
        [receipt] = modem.send("+15551234567", "over a pty 😀")
        network.phone("+15557654321").send(sim.number, "back over the pty")
        assert sms.wait().text == "back over the pty"
    finally:
        modem.close()
    assert receipt.reference is not None
    with network.lock:
        assert network.phone("+15551234567").texts == ["over a pty 😀"]


def test_an_exclusive_device_cannot_be_opened_twice(pty_modem):
    _, _, path = pty_modem
    first = open_port(ModemConfig(url=path, exclusive=True))
    try:
        with pytest.raises(ModemGone, match="cannot open"):
            open_port(ModemConfig(url=path, exclusive=True))
    finally:
        first.close()


@pytest.mark.hardware
@pytest.mark.skipif(not os.environ.get("GSM_TEST_PORT"), reason="set GSM_TEST_PORT to a modem's port URL")
def test_a_real_modem_initialises_and_identifies_itself():
    config = ModemConfig(url=os.environ["GSM_TEST_PORT"], name="hardware",
                         pin=os.environ.get("GSM_TEST_PIN") or None)
    modem = Modem(config)
    try:
        identity = modem.open()
    finally:
        modem.close()
    assert identity.imei and identity.imsi
    assert modem.status.registration in ("home", "roaming", "searching", "denied", "not_registered",
                                         "unknown")

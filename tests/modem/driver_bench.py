"""A virtual network on a manual clock and real drivers over ``modemsim://`` (shared fixture)."""
import itertools
import threading

import pytest

from modem.driver import Modem
from modem.sim import ManualClock, create_network, reset_networks
from modem.transport import ModemConfig

try:
    from tests.modem.scripted_port import Collected
except ImportError:  # tests/ is not a package: pytest put this directory on sys.path
    from scripted_port import Collected

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

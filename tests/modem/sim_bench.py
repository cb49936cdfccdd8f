"""Virtual networks in virtual time, with real drivers or pools over ``modemsim://``.

Each test module picks its bench with ``bench = bench_fixture(DriverBench)`` (or PoolBench);
every bench gets a network of its own and tears down what it opened. Every modem's engine
waits in the bench's :class:`VirtualTime` (``bench.time``), whose clock is the network's:
timeouts, back-offs and the simulator's delays pass in virtual seconds, so modems keep
their production timeouts and a test can assert how long something took (``bench.time.now``).
"""
import itertools
import threading

import pytest

from modem.driver import Modem
from fakes import WatchedPool
from modem.sim import ManualClock, create_network, reset_networks
from modem.transport import ModemConfig, open_port

try:
    from tests.modem.scripted_port import Collected
    from tests.modem.virtual_time import VirtualTime
except ImportError:  # tests/ is not a package: pytest put this directory on sys.path
    from scripted_port import Collected
    from virtual_time import VirtualTime

PHONE = "+15551234567"
WAIT = Collected.WAIT
_networks = itertools.count()


class NetworkBench:
    """A virtual network of its own on a manual clock, which is also ``time``'s."""

    def __init__(self, prefix):
        self.name = f"{prefix}-{next(_networks)}"
        self.net = create_network(self.name, ManualClock())
        self.clock = self.net.clock
        self.time = VirtualTime(network=self.net)

    def open_port(self, config):
        """A modem's opener: the real one, each port watched by ``time``."""
        return self.time.watch(open_port(config))

    def close(self):
        reset_networks()


class DriverBench(NetworkBench):
    """The network and the modems a test opened on it."""

    def __init__(self):
        super().__init__("driver")
        self.modems = []

    def url(self, name, profile="generic", query=""):
        extra = f"&{query}" if query else ""
        return f"modemsim://{name}?network={self.name}&profile={profile}{extra}"

    def modem(self, name="m0", profile="generic", *, query="", on_sms=None, open=True, **config):
        """A modem with the production timeouts unless ``config`` says otherwise."""
        sms, reports, transcript = Collected(), Collected(), Collected()
        modem = Modem(ModemConfig(url=self.url(name, profile, query), name=name, **config),
                      clock=self.clock, on_sms=on_sms or sms.append, on_report=reports.append,
                      transcript=lambda d, t: transcript.append((d, t)),
                      opener=self.open_port, waits=self.time)
        modem.sms, modem.reports, modem.transcript = sms, reports, transcript
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

    def close(self):
        for modem in self.modems:
            modem.close()
        super().close()


class PoolBench(NetworkBench):
    """The network and the pools a test made on it."""

    def __init__(self):
        super().__init__("pool")
        self.pools = []

    def config(self, name, query="", **options):
        """A modem's settings: the production timeouts unless ``options`` say otherwise."""
        extra = f"&{query}" if query else ""
        return ModemConfig(url=f"modemsim://{name}?network={self.name}{extra}", name=name, **options)

    def pool(self, *configs, start=True, **options):
        options.setdefault("reopen_backoff", (1.0, 8.0))
        options.setdefault("maintenance_interval", 3600.0)
        pool = WatchedPool(configs, clock=self.clock, modem_factory=self.modem, **options)
        self.pools.append(pool)
        if start:
            pool.start()
        return pool

    def modem(self, config, **callbacks):
        """The pool's modem factory: a real Modem waiting in ``time``."""
        return Modem(config, opener=self.open_port, waits=self.time, **callbacks)

    def sim(self, name):
        return self.net.modem(name)

    def close(self):
        for pool in self.pools:
            pool.stop()
        super().close()


def bench_fixture(kind):
    """A ``bench`` fixture making a ``kind`` bench for each test."""

    @pytest.fixture
    def bench():
        made = kind()
        yield made
        made.close()

    return bench


def settle(modem):
    """Wait until the modem's events thread has run everything queued so far."""
    done = threading.Event()
    assert modem.engine.post(done.set)
    assert done.wait(WAIT)


def sent_commands(modem):
    return [text for direction, text in modem.transcript if direction == "->"]


def health_of(pool, name):
    return next(h for h in pool.health() if h.name == name)


def wait_state(pool, name, state):
    assert pool.wait_for(lambda hs: any(h.name == name and h.state == state for h in hs), WAIT)

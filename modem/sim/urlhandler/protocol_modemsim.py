"""pyserial URL handler for simulated modems (``modem.sim.register()`` plugs it in).

URL grammar::

    modemsim://NAME[?OPTION=VALUE[&OPTION=VALUE...]]

    NAME            the modem's name within its network (letters, digits, - _ .)
    network=NET     named virtual network (default "default": made on first use, real clock)
    profile=P       generic | sim800 | sim7600 | ec25 | e3372 (aliases: simcom, quectel, huawei)
    number=+E164    the SIM's own number          imsi= imei= iccid=   identities
    plmn=MCCMNC     network the modem is on       pin=NNNN     SIM PIN lock
    registration=R  home | roaming | searching | denied | none
    signal=N        AT+CSQ rssi 0..31             no_number    AT+CNUM returns nothing
    delay=SECONDS   delivery delay of what this modem sends
    fault=F[:ARG]   a named fault (repeatable or comma separated), see modem.sim.faults

Options describe the modem when the URL creates it (first open in that network); a later
open of the same NAME reattaches to the existing modem (same IMSI/IMEI) and ignores them.
Reads block up to ``timeout`` like a real port; after an unplug, reads and writes raise
SerialException until the modem is replugged and the port opened again.

How a port waits: a ``read()`` with nothing to return sleeps on a condition of its own,
woken by the network only when its modem has output or the port was unplugged, closed or
cancelled; on a real-time network the one port that keeps the time also wakes when the next
timed thing is due (:mod:`modem.sim.wakeups`). An idle port wakes only at its read timeout.

Running the simulator in virtual time: a port says when it is at rest (``at_rest``: a
``read()`` is blocked with nothing to return, so every byte the modem produced so far was read
and handed on), and calls the listeners added with ``on_rest`` each time a read comes to
rest. Whoever owns the network's ManualClock may then advance it, knowing that the host has
seen everything the modem said until now (the test suite's ``VirtualTime`` does so).
"""
from __future__ import annotations

import math
import re
import threading
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from serial.serialutil import PortNotOpenError, SerialBase, SerialException, Timeout

from modem.sim.network import get_network
from modem.sim.simmodem import PortUnavailable, SimModem

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_STRING_OPTIONS = ("profile", "number", "imsi", "imei", "iccid", "plmn", "pin", "registration")


def _modem_for_url(url: str) -> SimModem:
    parts = urlsplit(url)
    if parts.scheme.lower() != "modemsim":
        raise SerialException(f"expected a modemsim:// URL, got {url!r}")
    name = parts.netloc or parts.path.lstrip("/")
    if not _NAME.match(name):
        raise SerialException(f"bad modem name in {url!r}")
    query = parse_qs(parts.query, keep_blank_values=True)
    known = {"network", "signal", "no_number", "delay", "fault", *_STRING_OPTIONS}
    unknown = set(query) - known
    if unknown:
        raise SerialException(f"unknown modemsim option(s): {', '.join(sorted(unknown))}")
    network = get_network(query.get("network", ["default"])[-1])
    with network.lock:
        if name in network.modems:
            return network.modems[name]
        options: dict[str, object] = {k: query[k][-1] for k in _STRING_OPTIONS if k in query}
        try:
            if "signal" in query:
                options["signal"] = int(query["signal"][-1])
            if "delay" in query:
                options["delivery_delay"] = float(query["delay"][-1])
            options["number_on_sim"] = "no_number" not in query
            faults = [f for value in query.get("fault", []) for f in value.split(",") if f]
            return network.add_modem(name, faults=faults, **options)  # type: ignore[arg-type]
        except (ValueError, KeyError) as exc:
            raise SerialException(f"cannot create simulated modem from {url!r}: {exc}") from exc


class Serial(SerialBase):
    """A port onto a simulated modem; usable from one reader and several writer threads."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self._modem: SimModem | None = None
        self._generation = -1
        self._cancel = False
        self._resting = False  # a read() waits with nothing read (guarded by the network's lock)
        self._rest_listeners: list[Callable[[], object]] = []
        self._ready: threading.Condition | None = None  # on the network's lock, once open
        self.waiting_until: float | None = None  # see modem.sim.wakeups.Watcher
        self.wakeups = 0  # how many times a waiting read() woke up (tests, benchmarks)
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        if self.is_open:
            raise SerialException("Port is already open.")
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        modem = _modem_for_url(self._port)
        try:
            self._generation = modem.attach()
        except PortUnavailable as exc:
            raise SerialException(str(exc)) from exc
        self._modem = modem
        self._ready = threading.Condition(modem.network.lock)
        modem.network.watch(self)
        self.is_open = True

    def close(self) -> None:
        if self._modem is not None and self.is_open:
            self.is_open = False
            with self._modem.network.lock:
                self._modem.detach(self._generation)
                self._modem.network.unwatch(self)
                self.wake()

    def _live_modem(self) -> SimModem:
        if not self.is_open or self._modem is None:
            raise PortNotOpenError()
        if not self._modem.alive(self._generation):
            raise SerialException("device disconnected (simulated unplug)")
        return self._modem

    @property
    def in_waiting(self) -> int:
        modem = self._live_modem()
        with modem.network.lock:
            modem.network.tick()
            return modem.machine.output_waiting

    def read(self, size: int = 1) -> bytes:
        modem = self._live_modem()
        network, data = modem.network, bytearray()
        timeout = Timeout(self._timeout)
        self._cancel = False
        announced = False  # the rest listeners heard that this read came to rest
        while True:
            with network.lock:
                while True:
                    self._resting = False
                    if not self.is_open or self._cancel:
                        return bytes(data)
                    self._live_modem()
                    network.tick()
                    data += modem.machine.read_output(size - len(data))
                    if len(data) >= size or timeout.expired():
                        return bytes(data)
                    self._resting = not data
                    if self._resting and not announced and self._rest_listeners:
                        break  # tell the listeners first, outside the lock
                    self._wait(network, timeout)
            announced = True
            for listener in tuple(self._rest_listeners):
                listener()

    def _wait(self, network, timeout: Timeout) -> None:
        """Called with the lock held: sleep until poked (output, unplug, close, cancel), the
        read timeout, or, when this port keeps the network's time, the next due time."""
        left = timeout.time_left()
        left = math.inf if left is None else left
        now = network.clock.monotonic()
        due = network.timekeeper_due(self)
        if due is not None:
            left = min(left, max(0.0, due - now))
        self.waiting_until = now + left
        try:
            self._ready.wait(None if left == math.inf else left)
        finally:
            self.waiting_until = None
            self.wakeups += 1

    # ------------------------------------------------------------ network side (lock held)
    def poke(self) -> None:
        """The network changed: wake the reader if it has something to take."""
        if self.waiting_until is None:
            return
        modem = self._modem
        if (self._cancel or not self.is_open or modem is None or not modem.alive(self._generation)
                or modem.machine.output_waiting):
            self._ready.notify_all()

    def wake(self) -> None:
        """Wake the reader now (time to tick, or the port closed)."""
        if self._ready is not None:
            self._ready.notify_all()

    # ------------------------------------------------------------ virtual time
    def on_rest(self, listener: Callable[[], object]) -> None:
        """Call ``listener()`` each time a ``read()`` comes to rest (see :attr:`at_rest`): on
        the reading thread, with no lock of the port or the network held, once per ``read()``
        call that has to wait with nothing read."""
        self._rest_listeners.append(listener)

    @property
    def at_rest(self) -> bool:
        """True when the port has nothing more to give its reader until the network's clock
        moves or someone writes: a ``read()`` waits with nothing read, the modem has no output
        pending, and the port is neither cancelled nor unplugged (an unplugged port is not at
        rest while open: its reader has an error to take). A closed port is at rest."""
        modem = self._modem
        if modem is None or not self.is_open:
            return True
        with modem.network.lock:
            return (self._resting and not self._cancel and modem.alive(self._generation)
                    and modem.machine.output_waiting == 0)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        modem = self._live_modem()
        payload = bytes(data)
        with modem.network.lock:
            modem.machine.receive(payload, modem.network.clock.monotonic())
            modem.network.changed.notify_all()  # the answer, and maybe a new timer
        return len(payload)

    def cancel_read(self) -> None:
        if self._modem is not None:
            with self._modem.network.lock:
                self._cancel = True
                self.wake()

    def reset_input_buffer(self) -> None:
        modem = self._live_modem()
        with modem.network.lock:
            modem.machine.read_output()

    def reset_output_buffer(self) -> None:
        self._live_modem()

    def flush(self) -> None:
        self._live_modem()

    @property
    def out_waiting(self) -> int:
        return 0

    def send_break(self, duration: float = 0.25) -> None:
        self._live_modem()

    def _reconfigure_port(self) -> None:
        """Baud rate, flow control and the like mean nothing to a simulated modem."""

    def _update_break_state(self) -> None:
        """Nothing to do."""

    def _update_rts_state(self) -> None:
        """Nothing to do."""

    def _update_dtr_state(self) -> None:
        """Nothing to do."""

    @property
    def cts(self) -> bool:
        return True

    @property
    def dsr(self) -> bool:
        return True

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return True

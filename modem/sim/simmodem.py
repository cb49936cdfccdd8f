"""One simulated modem as the network sees it: its AT machine, its SIM, its faults, its plug.

All methods take the network's lock; a port (``modemsim://``) attaches to a modem by
name, and an unplug invalidates the attached port (its reads and writes raise) until the
modem is replugged and the port reopened: the same card, IMSI and IMEI come back.
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from modem.pdu.codec import SubmittedSms
from modem.sim.faults import Faults, apply_fault, parse_fault
from modem.sim.machine import ModemMachine

if TYPE_CHECKING:
    from modem.sim.network import VirtualNetwork


class PortUnavailable(Exception):
    """The modem cannot be opened now (unplugged, or already open)."""


def _digits(seed: str, count: int) -> str:
    value = int(hashlib.sha256(seed.encode()).hexdigest(), 16)
    return str(value)[-count:].rjust(count, "0")


def luhn(body: str) -> str:
    """``body`` with its Luhn check digit appended (IMEI, ICCID)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


def derived_identity(name: str, plmn: str) -> dict[str, str]:
    """Stable IMSI, IMEI, ICCID and number made from a modem name (same name, same ids)."""
    return {
        "imsi": plmn + _digits("imsi" + name, 15 - len(plmn)),
        "imei": luhn("35" + _digits("imei" + name, 12)),
        "iccid": luhn("8901" + _digits("iccid" + name, 14)),
        "number": "+1555" + _digits("msisdn" + name, 7),
    }


class _Uplink:
    """The machine's radio: submitted PDUs and bounced deliveries go to the network."""

    def __init__(self, modem: SimModem) -> None:
        self._modem = modem

    def submit(self, reference: int, sms: SubmittedSms, pdu_hex: str) -> None:
        self._modem.network._submitted(self._modem, reference, sms)

    def bounce(self, pdu_hex: str, kind: str = "sms") -> None:
        self._modem.network._retry_later(self._modem, kind, pdu_hex)


class SimModem:
    def __init__(self, network: VirtualNetwork, name: str, machine: ModemMachine) -> None:
        self.network, self.name, self.machine = network, name, machine
        machine.radio.uplink = _Uplink(self)
        self.delivery_delay: float | None = None  # None: the network's
        self.generation = 0  # bumped by each unplug; a port opened before it is dead
        self.port_open = False

    @property
    def faults(self) -> Faults:
        return self.machine.faults

    @property
    def number(self) -> str | None:
        return self.machine.card.number

    @property
    def imsi(self) -> str:
        return self.machine.card.imsi

    @property
    def imei(self) -> str:
        return self.machine.imei

    @property
    def unplugged(self) -> bool:
        return self.faults.unplug

    def inject(self, fault: str, *args: object) -> None:
        """Switch on a named fault (see :mod:`modem.sim.faults`), e.g. ``inject("sim_busy", 3)``."""
        name, parsed = parse_fault(":".join([fault, *map(str, args)]))
        with self.network.lock:
            if name == "unplug":
                self.unplug()
                return
            apply_fault(self.faults, name, parsed)
            if name == "storage_full":
                self.machine.card.fill(self.network.clock.now())
            self.machine.refresh_registration()
            self.network._changed()

    def clear_faults(self, *names: str) -> None:
        """Switch off the named faults (all when none named); clearing unplug replugs."""
        with self.network.lock:
            defaults = Faults()
            for name in names or tuple(vars(defaults)):
                if name == "unplug" and self.faults.unplug:
                    self.replug()
                elif name != "unplug":
                    setattr(self.faults, name, getattr(defaults, name))
            self.machine.refresh_registration()
            self.machine.tick(self.network.clock.monotonic())  # release held URCs
            self.network._changed()

    def unplug(self) -> None:
        with self.network.lock:
            self.faults.unplug = True
            self.generation += 1
            self.port_open = False
            self.machine.power_off()
            self.network._changed()

    def replug(self) -> None:
        with self.network.lock:
            self.faults.unplug = False
            self.machine.power_on(self.network.clock.monotonic())
            self.network._changed()

    def emit_urc(self, *lines: str) -> None:
        """Make the modem print unsolicited lines now, e.g. ``emit_urc("UNDER-VOLTAGE WARNING")``
        (with the urc_in_response fault on, they come inside the next response)."""
        with self.network.lock:
            self.machine.urc(list(lines))
            self.network._changed()

    # ---------------------------------------------------------------- port side

    def attach(self) -> int:
        """Open the modem's port; returns the generation the port belongs to."""
        with self.network.lock:
            if self.unplugged:
                raise PortUnavailable(f"modem {self.name} is unplugged")
            if self.port_open:
                raise PortUnavailable(f"modem {self.name} is already open")
            self.port_open = True
            self.machine.read_output()  # what came while nobody listened is gone, as on a tty
            return self.generation

    def detach(self, generation: int) -> None:
        with self.network.lock:
            if generation == self.generation:
                self.port_open = False

    def alive(self, generation: int) -> bool:
        return generation == self.generation and not self.unplugged

"""Helpers for the simulator tests: a machine driven line by line, and a port on a fresh network."""
from __future__ import annotations

import itertools

import serial

import modem.sim
from modem.pdu.codec import encode_submit
from modem.sim import ManualClock, VirtualNetwork

_names = itertools.count()


class Driver:
    """Talks to a ModemMachine directly: bytes in, bytes out, time passed in."""

    def __init__(self, profile: str = "generic", **modem_options: object) -> None:
        self.network = VirtualNetwork(ManualClock())
        self.modem = self.network.add_modem("m0", profile, **modem_options)
        self.machine = self.modem.machine
        self.machine.read_output()  # boot lines

    def now(self) -> float:
        return self.network.clock.monotonic()

    def send(self, data: bytes) -> bytes:
        self.machine.receive(data, self.now())
        return self.machine.read_output()

    def at(self, line: str) -> str:
        return self.send(line.encode() + b"\r").decode("utf-8", "replace")

    def advance(self, seconds: float) -> str:
        self.network.advance(seconds)
        return self.machine.read_output().decode("utf-8", "replace")

    def submit(self, destination: str, text: str, **options: object) -> list[str]:
        answers = []
        for part in encode_submit(destination, text, **options):
            assert self.at(f"AT+CMGS={part.tpdu_length}").endswith("> ")
            answers.append(self.send(part.pdu_hex.encode() + b"\x1a").decode())
        return answers


def open_port(query: str = "", *, timeout: float = 0.5, name: str | None = None):
    """A fresh named network on a ManualClock and a modemsim:// port onto it."""
    modem.sim.register()
    net_name = f"test{next(_names)}"
    network = modem.sim.create_network(net_name, clock=ManualClock())
    url = f"modemsim://{name or 'm0'}?network={net_name}" + (f"&{query}" if query else "")
    port = serial.serial_for_url(url, timeout=timeout)
    return network, port, url


FINALS = (b"OK\r\n", b"ERROR\r\n", b"COMMAND NOT SUPPORT\r\n", b"> ")


def command(port, line: str, *, until: bytes | None = None, limit: int = 4096) -> bytes:
    """Write one AT line and read until ``until`` or a final result (or the port's timeout)."""
    port.write(line.encode() + b"\r")
    return read_until(port, until, limit)


def _done(data: bytes, token: bytes | None) -> bool:
    if token is not None:
        return token in data
    if data.endswith(FINALS):
        return True
    tail = data.rsplit(b"\r\n", 2)
    return data.endswith(b"\r\n") and len(tail) == 3 and tail[1].startswith((b"+CME ERROR:", b"+CMS ERROR:"))


def read_until(port, token: bytes | None = None, limit: int = 4096) -> bytes:
    data = b""
    while not _done(data, token) and len(data) < limit:
        chunk = port.read(1)
        if not chunk:
            break
        data += chunk
    return data

"""A simulated modem on a pseudo-terminal, for programs that want a device path.

Usage::

    python -m modem.sim.pty [--name m0] [--profile generic] [--number +15550000001]
                            [--pin 1234] [--registration home] [--delay SECONDS]
                            [--fault NAME[:ARG]]... [--link PATH]

It prints ``modemsim NAME (PROFILE, NUMBER) on /dev/pts/N`` and serves AT commands on
that path (minicom, a gateway configured with the path) until interrupted. ``--link``
also makes a symlink to the pty (a stable name, like /dev/gsm-modem-0). Commands on
stdin while it runs::

    send FROM TEXT      an SMS-MO from virtual phone FROM to the modem
    inbox [NUMBER]      what the virtual phones received (one phone, or all)
    log                 the network's message log
    fault NAME[:ARG]    switch a fault on (see modem.sim.faults); clear [NAME] switches off
    status              identity, registration, faults
    help | quit

Real time: the network runs on the system clock, ticked by the pump thread.
"""
from __future__ import annotations

import argparse
import os
import select
import signal
import sys
import threading
import time
import tty
from typing import TextIO

from modem.sim.network import VirtualNetwork
from modem.sim.simmodem import SimModem

POLL_SECONDS = 0.05
STOP_CHECK_SECONDS = 0.5  # after stdin closed: how soon Ctrl-C is seen at worst


class PtyBridge:
    """Pumps bytes between a pty master and a simulated modem (one thread, named)."""

    def __init__(self, network: VirtualNetwork, modem: SimModem) -> None:
        self.network, self.modem = network, modem
        self._master = self._slave = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending = b""

    def start(self) -> str:
        """Open the pty and start pumping; returns the path programs open."""
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo or CR/LF translation by the line discipline
        os.set_blocking(self._master, False)
        self._thread = threading.Thread(target=self._pump, name=f"modemsim-pty-{self.modem.name}", daemon=True)
        self._thread.start()
        return os.ttyname(self._slave)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = -1

    def _pump(self) -> None:
        while not self._stop.is_set():
            readable, _, _ = select.select([self._master], [], [], POLL_SECONDS)
            data = b""
            if readable:
                try:
                    data = os.read(self._master, 4096)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:  # EIO while no program has the slave open
                    self._stop.wait(POLL_SECONDS)
            with self.network.lock:
                if data:
                    self.modem.machine.receive(data, self.network.clock.monotonic())
                self.network.tick()
                self._pending += self.modem.machine.read_output()
            if self._pending:
                try:
                    written = os.write(self._master, self._pending)
                    self._pending = self._pending[written:]
                except (BlockingIOError, InterruptedError):
                    pass


def run_command(line: str, network: VirtualNetwork, modem: SimModem, out: TextIO) -> bool:
    """One stdin command; False when it asks to quit."""
    word, _, rest = line.strip().partition(" ")
    word = word.lower()
    try:
        if word in ("quit", "exit"):
            return False
        if word == "send":
            sender, _, text = rest.strip().partition(" ")
            network.send_sms(sender, modem.number or "", text)
            print(f"queued SMS from {sender} to {modem.number}", file=out)
        elif word == "inbox":
            with network.lock:
                phones = [network.phone(rest.strip())] if rest.strip() else list(network.phones.values())
                for phone in phones:
                    for message in phone.inbox:
                        print(f"{phone.number} <- {message.sender}: {message.text}", file=out)
        elif word == "log":
            for entry in network.messages():
                print(f"{entry.at:%H:%M:%S} {entry.kind} {entry.sender} -> {entry.recipient} "
                      f"[{entry.status}] {entry.text}", file=out)
        elif word == "fault":
            modem.inject(*rest.strip().split(":"))
            print(f"faults: {', '.join(modem.faults.active())}", file=out)
        elif word == "clear":
            modem.clear_faults(*rest.split())
            print(f"faults: {', '.join(modem.faults.active()) or 'none'}", file=out)
        elif word == "status":
            m = modem.machine
            print(f"{modem.name} {m.profile.name} number={modem.number} imsi={modem.imsi} imei={modem.imei} "
                  f"iccid={m.card.iccid} registration={m.reg_state()} faults={modem.faults.active()}", file=out)
        elif word:
            print(__doc__.split("Commands on\nstdin while it runs::")[1].split("Real time")[0].rstrip(), file=out)
    except (ValueError, KeyError) as exc:
        print(f"error: {exc}", file=out)
    out.flush()
    return True


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modem.sim.pty", description="A simulated modem on a pty.")
    parser.add_argument("--name", default="m0")
    parser.add_argument("--profile", default="generic")
    parser.add_argument("--number")
    parser.add_argument("--pin")
    parser.add_argument("--registration", default="home")
    parser.add_argument("--delay", type=float, default=0.0, help="delivery delay per SMS, seconds")
    parser.add_argument("--fault", action="append", default=[], help="NAME[:ARG], repeatable")
    parser.add_argument("--link", help="also make this symlink to the pty")
    args = parser.parse_args(argv)
    network = VirtualNetwork(delivery_delay=args.delay)
    try:
        modem = network.add_modem(args.name, args.profile, number=args.number, pin=args.pin,
                                  registration=args.registration, faults=args.fault)
    except ValueError as exc:
        parser.error(str(exc))
    # SIGTERM stops it as Ctrl-C does (the link is removed); set before the banner, which
    # tells a script that it may stop it.
    signal.signal(signal.SIGTERM, _interrupt)
    bridge = PtyBridge(network, modem)
    try:
        path = bridge.start()
        if args.link:
            if os.path.islink(args.link):
                os.unlink(args.link)
            os.symlink(path, args.link)
        print(f"modemsim {modem.name} ({modem.machine.profile.name}, {modem.number}) on {path}",
              flush=True)
        for line in sys.stdin:
            if not run_command(line, network, modem, sys.stdout):
                break
        else:  # stdin closed: keep serving until interrupted
            while True:
                # Short sleeps, not an Event.wait(): Python runs signal handlers in the
                # main thread only, and a SIGINT the kernel gives to the bridge's thread
                # would not wake a main thread blocked in a lock.
                time.sleep(STOP_CHECK_SECONDS)
    except KeyboardInterrupt:
        pass
    finally:
        bridge.stop()
        if args.link and os.path.islink(args.link):
            os.unlink(args.link)
    return 0


if __name__ == "__main__":
    sys.exit(main())

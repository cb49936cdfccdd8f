"""``python -m modem.probe URL``: open one modem, print who it is, its network and the AT talk.

The first thing to run when a new modem is plugged in::

    python -m modem.probe /dev/ttyUSB2
    python -m modem.probe 'modemsim://m0?profile=e3372' --pin 1234
    python -m modem.probe 'spy:///dev/ttyUSB2?file=wire.txt' --rtscts

Exit status: 0 when the modem was initialised and identified, 1 when it was not (the reason
goes to stderr, after the transcript so far), 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import sys
import threading
from typing import TextIO

from modem.driver import Modem
from modem.exceptions import ModemError
from modem.transport import ModemConfig


class Transcript:
    """Collects ``(direction, text)`` pairs from the engine's threads."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, direction: str, text: str) -> None:
        with self._lock:
            self.entries.append((direction, text))

    def lines(self) -> list[str]:
        with self._lock:
            return [f"  {direction} {text}" for direction, text in self.entries]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m modem.probe", description=__doc__.split("\n")[0])
    parser.add_argument("url", help="a device path or pyserial URL (modemsim://, spy://, socket://)")
    parser.add_argument("--pin", help="SIM PIN, if the SIM asks for one")
    parser.add_argument("--baudrate", type=int, default=115200)
    parser.add_argument("--rtscts", action="store_true", help="hardware flow control")
    parser.add_argument("--dsrdtr", action="store_true", help="DSR/DTR flow control")
    parser.add_argument("--xonxoff", action="store_true", help="software flow control")
    parser.add_argument("--shared", action="store_true", help="do not lock the device")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per command")
    return parser


def _report(modem: Modem) -> list[str]:
    identity, status = modem.identity, modem.status
    signal = f"{status.signal_dbm} dBm" if status.signal_dbm is not None else "unknown"
    storage = (f"{status.storage_used}/{status.storage_total}"
               if status.storage_total is not None else "unknown")
    rows = [
        ("Modem", " ".join(filter(None, (identity.manufacturer, identity.model)))),
        ("Revision", identity.revision), ("IMEI", identity.imei), ("IMSI", identity.imsi),
        ("ICCID", identity.iccid), ("Own number", identity.own_number), ("SMSC", identity.smsc),
        ("Home network", identity.home_network), ("Registration", status.registration),
        ("Operator", status.operator), ("Signal", signal), ("SMS storage", storage),
        ("SMS routing", _routing(modem)),
    ]
    return [f"{label + ':':<14}{value or 'unknown'}" for label, value in rows]


def _routing(modem: Modem) -> str:
    """What the modem agreed to (modem.routing): how SMS and delivery reports arrive."""
    routing = modem.routing
    if routing.cnmi is None:
        return "no new-message indications (only the sweep finds SMS)"
    sms = "direct (+CMT)" if routing.direct_sms else "stored (+CMTI)"
    reports = ("none" if not routing.reports else
               "direct (+CDS)" if routing.direct_reports else "stored (+CDSI)")
    ack = "AT+CNMA after the commit" if routing.phase2plus else "no AT+CNMA (phase 2)"
    return f"messages {sms}, reports {reports}; {ack} (AT+CNMI={routing.cnmi})"


def probe(config: ModemConfig, out: TextIO, err: TextIO) -> int:
    """Open, identify and close the modem of ``config``; the exit status."""
    transcript = Transcript()
    modem = Modem(config, transcript=transcript)
    try:
        modem.open()
        report = _report(modem)
    except ModemError as exc:
        print("AT transcript:", *transcript.lines(), sep="\n", file=out)
        print(f"probe failed on {config.url}: {exc}", file=err)
        return 1
    finally:
        modem.close()
    print(*report, "", "AT transcript:", *transcript.lines(), sep="\n", file=out)
    return 0


def main(argv: list[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    args = _parser().parse_args(argv)
    config = ModemConfig(url=args.url, name="probe", baudrate=args.baudrate, rtscts=args.rtscts,
                         dsrdtr=args.dsrdtr, xonxoff=args.xonxoff, exclusive=not args.shared,
                         pin=args.pin, command_timeout=args.timeout)
    return probe(config, out, err)


if __name__ == "__main__":
    sys.exit(main())

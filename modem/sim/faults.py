"""Named faults of the simulated modem, switchable at run time or from a ``modemsim://`` URL.

URL / text form (``fault=`` query parameter, repeatable, or comma separated)::

    no_answer               swallow every command: no echo, no result
    cms_error:N             every send (AT+CMGS) fails with +CMS ERROR: N
    sim_busy:K[:CODE]       the next K commands fail with +CME ERROR: CODE (14 or 515;
                            default: the profile's busy code)
    slow_submit:T           the +CMGS answer comes only after the clock advanced T seconds
    unplug                  the port raises SerialException; replug() lets a reopen succeed
    no_network              registration "searching", CSQ 99, sends fail with +CMS ERROR: 331
    smsc_unknown            AT+CSCA? is empty, sends fail with +CMS ERROR: 330
    storage_full            the SIM store is filled to capacity with old messages (CPMS
                            shows it full, new SMS wait in the network, AT+CMGW gets CMS 322)
    urc_in_response         unsolicited lines wait and come out in the middle of the next
                            command's response (between its lines and its final result)
    garbage[:N]             the next N responses (default 1) start with non-UTF-8 bytes

A :class:`Faults` is plain mutable state owned by one modem; change it under the
network's lock (``SimModem.inject`` does).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

GARBAGE = b"\xff\xfe\x80\xc3\x28"  # invalid UTF-8 whichever way it is cut


@dataclass
class Faults:
    no_answer: bool = False
    cms_error: int | None = None
    sim_busy: int = 0
    busy_code: int | None = None
    slow_submit: float = 0.0
    unplug: bool = False
    no_network: bool = False
    smsc_unknown: bool = False
    storage_full: bool = False
    urc_in_response: bool = False
    garbage: int = 0

    def clear(self) -> None:
        for f in fields(self):
            setattr(self, f.name, f.default)

    def active(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) not in (f.default, None)]


FAULT_NAMES = tuple(f.name for f in fields(Faults) if f.name != "busy_code")


def parse_fault(spec: str) -> tuple[str, tuple[str, ...]]:
    """``"sim_busy:3:515"`` -> ``("sim_busy", ("3", "515"))``; raises ValueError if unknown."""
    name, *args = spec.strip().split(":")
    name = name.strip().lower().replace("-", "_")
    if name not in FAULT_NAMES:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULT_NAMES)}")
    return name, tuple(args)


def apply_fault(faults: Faults, name: str, args: tuple[str, ...] = ()) -> None:
    """Switch one fault on in ``faults`` (storage filling and unplugging are done by the owner)."""
    try:
        if name in ("no_answer", "unplug", "no_network", "smsc_unknown", "storage_full", "urc_in_response"):
            setattr(faults, name, True)
        elif name == "cms_error":
            faults.cms_error = int(args[0]) if args else 500
        elif name == "sim_busy":
            faults.sim_busy = int(args[0]) if args else 1
            faults.busy_code = int(args[1]) if len(args) > 1 else None
        elif name == "slow_submit":
            faults.slow_submit = float(args[0]) if args else 30.0
        elif name == "garbage":
            faults.garbage = int(args[0]) if args else 1
    except ValueError:
        raise ValueError(f"bad value for fault {name}: {':'.join(args)!r}") from None

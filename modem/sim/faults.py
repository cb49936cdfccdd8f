"""Named faults of the simulated modem, switchable at run time or from a ``modemsim://`` URL.

URL / text form (``fault=`` query parameter, repeatable, or comma separated)::

    no_answer               swallow every command: no echo, no result
    cms_error:N             every send (AT+CMGS) fails with +CMS ERROR: N (0-999)
    sim_busy:K[:CODE]       the next K commands (1-1000) fail with +CME ERROR: CODE (14
                            or 515; default: the profile's busy code)
    slow_submit:T           the +CMGS answer comes only after the clock advanced T seconds
                            (0-600, decimals allowed)
    late_answer:T[:N]       the next N answers (1-1000, default 1) come only after the clock
                            advanced T seconds (0-600, decimals allowed, default 30); the
                            modem reads nothing more meanwhile. The prompt of AT+CMGS is no
                            answer: its answer is the result after the PDU (+CMGS: <mr>)
    unplug                  the port raises SerialException; replug() lets a reopen succeed
    no_network              registration "searching", CSQ 99, sends fail with +CMS ERROR: 331
    smsc_unknown            AT+CSCA? is empty, sends fail with +CMS ERROR: 330
    storage_full            the SIM store is filled to capacity with old messages (CPMS
                            shows it full, new SMS wait in the network, AT+CMGW gets CMS 322)
    urc_in_response         unsolicited lines wait and come out in the middle of the next
                            command's response (between its lines and its final result)
    garbage[:N]             the next N responses (1-1000, default 1) start with non-UTF-8 bytes

Arguments are plain decimal digits (a fraction only for T) inside those ranges; faults
without an argument take none. Anything else (``nan``, ``inf``, ``-10``, ``1e300``, extra
arguments) raises ValueError naming what is allowed, in :func:`parse_fault` and again in
:func:`apply_fault`.

A :class:`Faults` is plain mutable state owned by one modem; change it under the
network's lock (``SimModem.inject`` does).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields

GARBAGE = b"\xff\xfe\x80\xc3\x28"  # invalid UTF-8 whichever way it is cut


@dataclass
class Faults:
    no_answer: bool = False
    cms_error: int | None = None
    sim_busy: int = 0
    busy_code: int | None = None
    slow_submit: float = 0.0
    late_answer: int = 0  # answers still to hold back
    late_delay: float = 0.0  # seconds each of them is held
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
        return [f.name for f in fields(self) if f.name not in _SETTINGS
                and getattr(self, f.name) not in (f.default, None)]


_SETTINGS = ("busy_code", "late_delay")  # arguments of a fault, not faults
FAULT_NAMES = tuple(f.name for f in fields(Faults) if f.name not in _SETTINGS)


@dataclass(frozen=True)
class _Argument:
    """One argument of a fault as the grammar names it, and the values it takes."""

    label: str
    meaning: str
    kind: type  # int or float
    low: int
    high: int
    only: tuple[int, ...] = ()  # when set, the only values allowed

    def check(self, fault: str, grammar: str, text: str) -> None:
        pattern = _DECIMAL if self.kind is float else _WHOLE
        value = self.kind(text) if pattern.fullmatch(text) else None
        if value is None or not self.low <= value <= self.high or (
                self.only and value not in self.only):
            allowed = (" or ".join(map(str, self.only)) if self.only
                       else f"between {self.low} and {self.high}")
            raise ValueError(f"bad value for fault {fault}: {text!r}; {self.label} ({grammar}) "
                             f"is {self.meaning}, {allowed}")


_WHOLE = re.compile(r"[0-9]{1,7}")
_DECIMAL = re.compile(r"[0-9]{1,7}(?:\.[0-9]{1,6})?")
# The faults that take arguments, in order; every other fault takes none.
_ARGUMENTS: dict[str, tuple[str, tuple[_Argument, ...]]] = {
    "cms_error": ("cms_error:N", (_Argument("N", "a CMS error code", int, 0, 999),)),
    "sim_busy": ("sim_busy:K[:CODE]", (
        _Argument("K", "a number of commands", int, 1, 1000),
        _Argument("CODE", "a CME error code", int, 14, 515, only=(14, 515)))),
    "slow_submit": ("slow_submit:T", (_Argument("T", "seconds", float, 0, 600),)),
    "late_answer": ("late_answer:T[:N]", (
        _Argument("T", "seconds", float, 0, 600),
        _Argument("N", "a number of answers", int, 1, 1000))),
    "garbage": ("garbage[:N]", (_Argument("N", "a number of responses", int, 1, 1000),)),
}


def _check_arguments(name: str, args: tuple[str, ...]) -> None:
    grammar, expected = _ARGUMENTS.get(name, (name, ()))
    if len(args) > len(expected):
        if not expected:
            raise ValueError(f"bad value for fault {name}: it takes no argument")
        raise ValueError(f"bad value for fault {name}: {':'.join(args)!r}; it takes at most "
                         f"{len(expected)} ({grammar})")
    for argument, text in zip(expected, args):
        argument.check(name, grammar, text)


def parse_fault(spec: str) -> tuple[str, tuple[str, ...]]:
    """``"sim_busy:3:515"`` -> ``("sim_busy", ("3", "515"))``; raises ValueError, saying
    what is allowed, for an unknown fault or a bad argument (see the module docstring)."""
    name, *args = spec.strip().split(":")
    name = name.strip().lower().replace("-", "_")
    if name not in FAULT_NAMES:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULT_NAMES)}")
    arguments = tuple(arg.strip() for arg in args)
    _check_arguments(name, arguments)
    return name, arguments


def apply_fault(faults: Faults, name: str, args: tuple[str, ...] = ()) -> None:
    """Switch one fault on in ``faults`` (storage filling and unplugging are done by the
    owner); raises ValueError for an argument :func:`parse_fault` would refuse."""
    _check_arguments(name, args)
    if name in ("no_answer", "unplug", "no_network", "smsc_unknown", "storage_full",
                "urc_in_response"):
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
    elif name == "late_answer":
        faults.late_delay = float(args[0]) if args else 30.0
        faults.late_answer = int(args[1]) if len(args) > 1 else 1

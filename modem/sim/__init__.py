"""The simulated modem: develop and test without hardware, running the same driver code.

Three layers: an AT state machine (:mod:`modem.sim.machine`, with the commands in
:mod:`modem.sim.basic_commands`, its radio side in :mod:`modem.sim.radio` and vendor quirks as
data in :mod:`modem.sim.profiles`), a virtual network of modems and phones
(:mod:`modem.sim.network`), and a pyserial URL handler ``modemsim://NAME?options``
(:mod:`modem.sim.urlhandler.protocol_modemsim`).
Faults are in :mod:`modem.sim.faults`; ``python -m modem.sim.pty`` puts a simulated
modem on a pseudo-terminal.

Importing this package changes nothing; call :func:`register` once before opening
``modemsim://`` URLs with ``serial.serial_for_url``.

May import the rest of ``modem`` (the PDU codec, the clock); never ``gateway``, Flask or
SQLAlchemy, like all of ``modem``.
"""
from __future__ import annotations

from modem.sim.manual_clock import ManualClock, SystemClock
from modem.sim.faults import FAULT_NAMES, Faults
from modem.sim.network import (
    LogEntry,
    Phone,
    PhoneMessage,
    VirtualNetwork,
    create_network,
    get_network,
    reset_networks,
)
from modem.sim.profiles import PROFILES, Profile, get_profile
from modem.sim.simmodem import SimModem

HANDLER_PACKAGE = "modem.sim.urlhandler"


def register() -> None:
    """Make ``serial.serial_for_url`` understand ``modemsim://`` (idempotent)."""
    import serial

    if HANDLER_PACKAGE not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(HANDLER_PACKAGE)


__all__ = [
    "FAULT_NAMES", "Faults", "HANDLER_PACKAGE", "LogEntry", "ManualClock", "PROFILES", "Phone", "PhoneMessage",
    "Profile", "SimModem", "SystemClock", "VirtualNetwork", "create_network", "get_network", "get_profile",
    "register", "reset_networks",
]

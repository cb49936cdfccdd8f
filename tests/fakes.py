"""What tests control at the edges of the box: time, and the radio network of a simulated
modem. (tests/ is on sys.path, so any test imports this as ``fakes``.)"""
from __future__ import annotations

from datetime import datetime, timezone

from modem.sim.clock import ManualClock

START = datetime(2026, 1, 1, tzinfo=timezone.utc)


class FakeClock(ManualClock):
    """The simulator's manual clock, starting on 2026-01-01 unless told otherwise:
    ``now()``, ``monotonic()`` and ``advance(seconds)``. Thread-safe."""

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__(start or START)


def set_registration(sim_modem, state: str) -> None:
    """Move a simulated modem (:class:`modem.sim.SimModem`) to network registration
    ``state`` (home, roaming, searching, denied or none), announced by +CREG/+CEREG when
    the driver enabled them, as a real network would."""
    with sim_modem.network.lock:
        sim_modem.machine.registration = state
        sim_modem.machine.refresh_registration()
        sim_modem.network.changed.notify_all()

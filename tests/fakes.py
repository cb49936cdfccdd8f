"""What tests control at the edges of the box: time, and the radio network of a simulated
modem. (tests/ is on sys.path, so any test imports this as ``fakes``.)"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

from modem.pool import ModemPool
from modem.sim.manual_clock import ManualClock

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


class HealthWatch:
    """Wait, without polling, until a :class:`modem.pool.ModemPool`'s health satisfies a
    predicate: build the pool with ``on_change=watch.changed``. The predicate is always
    evaluated outside the watch's lock (the pool may call ``changed`` with its own lock
    held), and again after every change."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._changes = 0

    def changed(self) -> None:
        with self._cond:
            self._changes += 1
            self._cond.notify_all()

    def wait_for(self, pool, predicate, timeout: float) -> bool:
        """Whether ``predicate(pool.health())`` held within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                seen = self._changes
            if predicate(pool.health()):
                return True
            with self._cond:
                left = deadline - time.monotonic()
                if left <= 0 or not self._cond.wait_for(lambda: self._changes != seen, left):
                    return predicate(pool.health())


def refresh_status(pool) -> None:
    """Read every ready modem's network status now, on this thread, as the pool's own
    maintenance does every ``maintenance_interval`` seconds on the modems' threads."""
    for modem in (slot.modem for slot in pool._slots if slot.state == "ready"):
        modem.refresh_status()


class WatchedPool(ModemPool):
    """The real pool, plus ``wait_for(predicate, timeout)`` over its health for tests."""

    def __init__(self, *args, **kwargs) -> None:
        self.watch = HealthWatch()
        super().__init__(*args, on_change=self.watch.changed, **kwargs)

    def wait_for(self, predicate, timeout: float) -> bool:
        return self.watch.wait_for(self, predicate, timeout)

"""Who wakes when something changes in a virtual network: its watchers and its timekeeper.

The watchers are the ``modemsim://`` ports (:class:`Watcher`). After every change (a tick,
a write, a fault, an unplug...) the network pokes each one; a port wakes its own reader
only when the change concerns it (its modem has output, or the port was unplugged, closed
or cancelled), so an idle network wakes nobody and a busy modem does not wake the others.

Timers: on a real clock, time must be made to pass (held answers, deliveries, +CNMA
deadlines, reassembly timeouts). One waiting port at a time keeps the time: it sleeps until
the network's next due time (:meth:`Wakeups.keeper_due`) and ticks then; when something due
earlier is scheduled it is woken (:meth:`Wakeups.tell`), and when it is busy reading the
role passes to another waiting port. The others sleep until they have output or their read
timeout. On a manual clock nobody keeps the time: it moves only when its owner advances it.

Not thread-safe by itself: every method is called with the network's lock held.
"""
from __future__ import annotations

import math
import threading
from typing import Callable, Protocol


class Watcher(Protocol):
    """What a network tells of its changes (a ``modemsim://`` port); called with the
    network's lock held, and must not block."""

    #: Clock seconds (the network clock's ``monotonic()``) until which it sleeps,
    #: ``math.inf`` without a deadline, None while it is not waiting.
    waiting_until: float | None

    def poke(self) -> None:
        """Something changed: wake up if it concerns you (output, unplug...)."""

    def wake(self) -> None:
        """Wake up now (time to tick)."""


class Wakeups:
    """The watchers of one network. ``next_due()`` is the network's (clock seconds or None);
    ``manual``: the network's clock only moves when told (no timekeeper then)."""

    def __init__(self, next_due: Callable[[], float | None], manual: bool) -> None:
        self._next_due, self._manual = next_due, manual
        self._watchers: list[Watcher] = []
        self._keeper: Watcher | None = None

    def add(self, watcher: Watcher) -> None:
        self._watchers.append(watcher)

    def remove(self, watcher: Watcher) -> None:
        if watcher in self._watchers:
            self._watchers.remove(watcher)
        if self._keeper is watcher:
            self._keeper = None

    def keeper_due(self, watcher: Watcher) -> float | None:
        """For ``watcher`` about to wait: the clock time to wake at and tick (``math.inf``:
        nothing is timed) if it keeps the time, which it does unless another waiting watcher
        does; None if it need not, or on a manual clock."""
        if self._manual:
            return None
        keeper = self._keeper
        if keeper is not None and keeper is not watcher and keeper.waiting_until is not None:
            return None
        self._keeper = watcher
        due = self._next_due()
        return math.inf if due is None else due

    def tell(self) -> None:
        """Something changed: poke every watcher; wake the timekeeper if something is due
        before it planned to wake (handing the role to a waiting watcher if it is busy)."""
        for watcher in self._watchers:
            watcher.poke()
        if self._manual:
            return
        due = self._next_due()
        if due is None:
            return
        keeper = self._keeper
        if keeper is None or keeper.waiting_until is None:
            keeper = next((w for w in self._watchers if w.waiting_until is not None), None)
            self._keeper = keeper
        if keeper is not None and keeper.waiting_until > due:
            keeper.wake()


class ChangeCondition(threading.Condition):
    """A condition on the network's lock whose ``notify_all`` also tells ``wakeups``."""

    def __init__(self, lock, wakeups: Wakeups) -> None:
        super().__init__(lock)
        self._wakeups = wakeups

    def notify_all(self) -> None:
        super().notify_all()
        self._wakeups.tell()

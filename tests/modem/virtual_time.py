"""Virtual time for the AT engine: its timeouts pass in a simulation, not on the wall clock.

:class:`VirtualTime` is a :class:`modem.at.inflight.Waits` over ports that say when they are
at rest: a :class:`ScriptedPort`, or the ``modemsim://`` ports of a simulated network (each
port opened is added with :meth:`VirtualTime.watch`). A port is at rest when it has nothing
more to deliver: no bytes pending and its reader blocked in ``read()``, so every byte it
delivered so far has been read, split into lines and offered to the command in flight.

Its clock is a ManualClock (:attr:`VirtualTime.clock`; :attr:`VirtualTime.now` counts
seconds from 0.0): its own, or the network's, so that the engine's timeouts, the
simulator's delays and faults (``slow_submit:30``) and whatever else reads that clock (a
pool's back-offs and limits) share one time. The clock moves only during a wait of the
engine, only when every watched port is at rest and no other thread waits in virtual
time; a wait whose predicate is still false then moves it towards the earliest of:

- its deadline: the wait times out there (a command's timeout, the resynchronisation
  probe's, a back-off), however many virtual seconds that is, once nothing else happens then;
- the next action scheduled with :meth:`VirtualTime.call_later` (a late answer pushed by
  a scripted port): it runs, and the wait goes on;
- with a network, ``step`` seconds on (STEP): the simulator does not tell when its modems'
  own timers are due (a held slow answer, a +CNMA deadline, vendor spam), so its clock moves
  by at most a step at a time, each followed by the network's tick and a new look at the
  ports. Such a timer fires at the first step at or after its due time: exactly on it when
  the step divides the times involved (whole seconds from a whole second).

This is the "autojump" clock of trio's test suite. Its outcomes do not depend on how fast
threads are scheduled: a jump happens only when nothing else can happen without it, and a
slow machine only makes the same run take longer. A port wakes the waiting threads when its
reader comes to rest (``on_rest``); nothing polls the wall clock.

What it cannot see, and how it says so:

- Several threads may wait at once (a pool opens its modems in parallel), but time passes
  for one alone: a thread that needs a jump while another waits too stays parked until the
  other leaves. Two threads that both need time to pass would make the order of their jumps
  depend on scheduling: they stay parked and fail as stuck (below).
- What the test thread, an events thread or a pool thread does between two waits is
  invisible to it: whatever a test wants to happen during a wait is scheduled with
  ``call_later``, not done from the test.
- A wait that is woken by nothing for STUCK real seconds (a reader thread that died on a
  port that is still open, two threads that both need time) raises AssertionError instead
  of hanging.
"""
from __future__ import annotations

import heapq
import itertools
import math
import threading
from typing import Callable

from modem.sim.manual_clock import ManualClock


class VirtualTime:
    """Waits whose timeouts elapse in virtual seconds (see the module docstring)."""

    STUCK = 5.0  # real seconds: an upper bound for "the reader comes to rest"
    STEP = 1.0  # virtual seconds: the longest single move of a simulated network's clock

    def __init__(self, port=None, *, network=None, step: float = STEP):
        """``port``: a ScriptedPort (anything with ``at_rest`` and ``on_rest``), or None to
        :meth:`watch` ports later. ``network``: a VirtualNetwork on a ManualClock, whose clock
        becomes this one and which ticks at each move, ``step`` seconds at most."""
        self._network = network
        self.clock = network.clock if network is not None else ManualClock()
        self._step = step if network is not None else math.inf
        self._origin = self.clock.monotonic()
        self.sleeps: list[float] = []  # every back-off asked for, in seconds
        self._lock = threading.Lock()  # guards the timers, the ports and the waiters
        self._timers: list[tuple[float, int, Callable[[], object]]] = []
        self._order = itertools.count()  # actions due at the same moment run in order
        self._ports: list = []
        self._waiters: list[threading.Condition] = []
        self._parked: list[threading.Condition] = []  # waiters that need time while others wait
        if port is not None:
            self.watch(port)

    @property
    def now(self) -> float:
        """Virtual seconds since this VirtualTime was made (its clock's monotonic time)."""
        return self.clock.monotonic() - self._origin

    def watch(self, port):
        """Let time pass only while ``port`` (``at_rest``, ``on_rest``) is at rest too; returns
        it, so that a modem's opener can be ``lambda config: time.watch(open_port(config))``."""
        port.on_rest(self._wake)
        with self._lock:
            self._ports.append(port)
        return port

    def call_later(self, delay: float, action: Callable[[], object]) -> None:
        """Run ``action()`` once virtual time reached ``now + delay`` seconds, while the
        engine waits. It runs on the waiting thread with the engine's condition held: keep it
        to ``port.push`` or the network's own calls. Time does not pass, and nothing runs,
        while nobody waits."""
        with self._lock:
            heapq.heappush(self._timers, (self.now + delay, next(self._order), action))

    # ------------------------------------------------------------ Waits
    def wait_for(self, cond: threading.Condition, predicate: Callable[[], bool],
                 timeout: float | None) -> bool:
        """As ``cond.wait_for``, ``timeout`` in virtual seconds. Raises AssertionError when
        the wait would never end, or is stuck (see the module docstring)."""
        deadline = math.inf if timeout is None else self.now + timeout
        self._enter(cond)
        try:
            while not predicate():
                if not self._quiet(cond):
                    if not cond.wait(self.STUCK):  # woken by a line, a rest or a leaving waiter
                        raise AssertionError(self._stuck(cond))
                elif not self._jump(deadline):
                    return predicate()
            return True
        finally:
            self._leave(cond)

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        """A back-off of ``seconds`` virtual seconds (recorded in ``sleeps``); none once
        ``stop`` is set."""
        self.sleeps.append(seconds)
        cond = threading.Condition()
        with cond:
            self.wait_for(cond, stop.is_set, seconds)

    # ------------------------------------------------------------ the clock
    def _quiet(self, cond: threading.Condition) -> bool:
        """Whether time may pass for the waiter on ``cond``: it waits alone (else it is
        parked, and woken when another leaves) and every port is at rest."""
        with self._lock:
            alone = self._waiters == [cond]
            if alone and cond in self._parked:
                self._parked.remove(cond)
            elif not alone and cond not in self._parked:
                self._parked.append(cond)
            ports = list(self._ports)
        return alone and all(port.at_rest for port in ports)

    def _jump(self, deadline: float) -> bool:
        """With every port at rest: run the next action due by ``deadline``, or move the
        clock towards ``deadline`` by a step at most (True: keep waiting); False once the
        clock is at ``deadline`` (the wait timed out)."""
        with self._lock:
            now = self.now
            horizon = min(deadline, now + self._step)
            action = None
            if self._timers and self._timers[0][0] <= horizon:
                due, _, action = heapq.heappop(self._timers)
                target = max(now, due)
            elif now >= deadline:
                return False
            elif horizon == math.inf:
                raise AssertionError("a wait without timeout and nothing scheduled: it never ends")
            else:
                target = horizon
        self._advance(target - now)
        if action is not None:
            action()
        return True

    def _advance(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self._network is not None:
            self._network.advance(seconds)  # the network's timers and deliveries run too
        else:
            self.clock.advance(seconds)

    def _enter(self, cond: threading.Condition) -> None:
        with self._lock:
            self._waiters.append(cond)

    def _leave(self, cond: threading.Condition) -> None:
        """With ``cond`` held: forget its waiter and wake the parked ones, which may be alone
        now. A parked waiter never takes another waiter's condition while still parked, so
        taking theirs here cannot deadlock."""
        with self._lock:
            self._waiters.remove(cond)
            if cond in self._parked:
                self._parked.remove(cond)
            parked = list(self._parked)
        for other in parked:
            with other:
                other.notify_all()

    def _stuck(self, cond: threading.Condition) -> str:
        with self._lock:
            if cond in self._parked:
                return "virtual time is stuck: two threads wait in virtual time and need it to pass"
        return "virtual time is stuck: a port never came to rest"

    def _wake(self) -> None:
        """On a reader thread, with no lock held, when it comes to rest: let every waiter
        look again (a waiter holds its condition from its at-rest check to its wait, so this
        is never lost)."""
        with self._lock:
            waiters = list(self._waiters)
        for cond in waiters:
            with cond:
                cond.notify_all()

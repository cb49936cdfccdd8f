"""Virtual time for the AT engine: its timeouts pass in a simulation, not on the wall clock.

:class:`VirtualTime` is a :class:`modem.at.inflight.Waits` bound to one
:class:`ScriptedPort`. Its clock (:attr:`VirtualTime.now`, seconds) starts at 0.0 and moves
only during a wait of the engine, and only when the port is at rest: no bytes pending and
the reader thread blocked in ``read()``, so every byte the script delivered so far has been
read, split into lines and offered to the command in flight. A wait whose predicate is
still false then jumps the clock to the earlier of two moments:

- its deadline: the wait times out there (a command's timeout, the SYNC_QUIET window, a
  back-off), however many virtual seconds that is;
- the next action scheduled with :meth:`VirtualTime.call_later` (a late answer pushed by
  the port): it runs, and the wait goes on.

This is the "autojump" clock of trio's test suite. Its outcomes do not depend on how fast
threads are scheduled: a jump happens only when nothing else can happen without it, and a
slow machine only makes the same run take longer. The port wakes a waiting engine when
its reader comes to rest (``ScriptedPort.on_rest``); nothing polls the wall clock.

What it cannot see, and how it says so:

- One thread waits in virtual time at once (the engine's lock gives that, except a busy
  back-off racing another caller's command); a second waiter raises AssertionError, since
  which of two jumps first would depend on scheduling.
- The test thread and the engine's events thread are invisible to it: whatever a test
  wants to happen during a wait is scheduled with ``call_later``, not done from the test.
- A wait that is woken by nothing for STUCK real seconds (a reader thread that died on a
  port that is still marked busy) raises AssertionError instead of hanging.
"""
from __future__ import annotations

import heapq
import itertools
import math
import threading
from typing import Callable


class VirtualTime:
    """Waits whose timeouts elapse in virtual seconds (see the module docstring)."""

    STUCK = 5.0  # real seconds: an upper bound for "the reader comes to rest"

    def __init__(self, port):
        """``port`` is a ScriptedPort (anything with ``at_rest`` and ``on_rest``)."""
        self.now = 0.0
        self.sleeps: list[float] = []  # every back-off asked for, in seconds
        self._port = port
        self._lock = threading.Lock()  # guards now, the timers and the waiter
        self._timers: list[tuple[float, int, Callable[[], object]]] = []
        self._order = itertools.count()  # actions due at the same moment run in order
        self._waiter: threading.Condition | None = None
        port.on_rest(self._wake)

    def call_later(self, delay: float, action: Callable[[], object]) -> None:
        """Run ``action()`` once virtual time reached ``now + delay`` seconds, while the
        engine waits. It runs on the waiting thread with the engine's condition held: keep it
        to ``port.push``. Time does not pass, and nothing runs, while nobody waits."""
        with self._lock:
            heapq.heappush(self._timers, (self.now + delay, next(self._order), action))

    # ------------------------------------------------------------ Waits
    def wait_for(self, cond: threading.Condition, predicate: Callable[[], bool],
                 timeout: float | None) -> bool:
        """As ``cond.wait_for``, ``timeout`` in virtual seconds. Raises AssertionError when
        another thread already waits, or when the wait would never end."""
        deadline = math.inf if timeout is None else self.now + timeout
        self._enter(cond)
        try:
            while not predicate():
                if not self._port.at_rest:
                    if not cond.wait(self.STUCK):  # woken by a new line or by the rest
                        raise AssertionError("virtual time is stuck: the port never came to rest")
                elif not self._jump(deadline):
                    return predicate()
            return True
        finally:
            self._leave()

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        """A back-off of ``seconds`` virtual seconds (recorded in ``sleeps``); none once
        ``stop`` is set."""
        self.sleeps.append(seconds)
        cond = threading.Condition()
        with cond:
            self.wait_for(cond, stop.is_set, seconds)

    # ------------------------------------------------------------ the clock
    def _jump(self, deadline: float) -> bool:
        """With the port at rest: run the next action due by ``deadline`` (True: keep
        waiting), or move the clock to ``deadline`` (False: the wait timed out)."""
        with self._lock:
            if self._timers and self._timers[0][0] <= deadline:
                due, _, action = heapq.heappop(self._timers)
                self.now = max(self.now, due)
            elif deadline == math.inf:
                raise AssertionError("a wait without timeout and nothing scheduled: it never ends")
            else:
                self.now = max(self.now, deadline)
                return False
        action()
        return True

    def _enter(self, cond: threading.Condition) -> None:
        with self._lock:
            if self._waiter is not None:
                raise AssertionError("two threads wait in virtual time at once")
            self._waiter = cond

    def _leave(self) -> None:
        with self._lock:
            self._waiter = None

    def _wake(self) -> None:
        """On the reader thread, with no lock held, when it comes to rest: let the waiter
        look again (it holds ``cond`` from its at-rest check to its wait, so this is never
        lost)."""
        with self._lock:
            cond = self._waiter
        if cond is not None:
            with cond:
                cond.notify_all()

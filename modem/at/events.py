"""The events queue of one modem's engine: notices are never dropped, chatter is bounded.

The reader thread puts each URC here (and any thread the engine's posted tasks); the events
thread takes them one at a time, in the order they came. Two kinds share that order:

- **Kept** (never dropped, however deep the queue): the notices that carry or announce a
  message or a delivery report (``+CMTI``, ``+CDSI``, ``+CMT``, ``+CDS``), a restart (``RDY``,
  ``^SYSSTART``), a full store (``^SMMEMFULL``) or a power problem
  (:data:`modem.at.results.POWER_NOTICES`), and every posted task. Memory stays bounded in
  practice: a modem cannot write notices faster than its serial line (a few thousand a
  second at 115200 baud), the events thread handles each in milliseconds, and what it
  cannot handle stays on the SIM or in the network, not here.
- **Chatter** (every other URC: signal reports ``^RSSI``/``^HCSQ``/``+CSQ``, registration
  ``+CREG``/``+CEREG``/``+CGREG``, ``^BOOT``, ``+QIND``, ``RING``...): at most
  ``chatter_limit`` wait at once. When one more comes, the oldest waiting chatter is dropped
  (the newest state is the one worth acting on) and ``on_drop(urc)`` is called, on the
  putting thread, outside the queue's lock; it must not block.

Thread-safe. ``put`` never blocks and never fails; ``get`` blocks until an item is there.
"""
from __future__ import annotations

import collections
import itertools
import threading
from typing import Callable

from modem.at.results import POWER_NOTICES, Urc

#: URC names that are never dropped (see the module docstring).
KEPT_NOTICES = frozenset({"+CMTI", "+CDSI", "+CMT", "+CDS", "RDY", "^SYSSTART",
                          "^SMMEMFULL"}) | POWER_NOTICES


def is_chatter(item: object) -> bool:
    """Whether ``item`` may be dropped: a URC that is not one of KEPT_NOTICES."""
    return isinstance(item, Urc) and item.name not in KEPT_NOTICES


class EventQueue:
    """A FIFO of URCs and tasks whose chatter is bounded (see the module docstring).

    ``dropped`` counts the chatter dropped so far. ``put_nowait`` is ``put`` (the name
    :class:`queue.Queue` users expect)."""

    def __init__(self, chatter_limit: int = 256,
                 on_drop: Callable[[Urc], None] | None = None):
        self._limit = max(1, chatter_limit)
        self._on_drop = on_drop
        self._cond = threading.Condition()
        self._order = itertools.count()
        self._kept: collections.deque[tuple[int, object]] = collections.deque()
        self._chatter: collections.deque[tuple[int, object]] = collections.deque()
        self.dropped = 0

    def put(self, item: object) -> bool:
        """Queue ``item`` (a chatter URC may push out the oldest waiting one); True."""
        dropped = None
        with self._cond:
            entry = (next(self._order), item)
            if is_chatter(item):
                if len(self._chatter) >= self._limit:
                    dropped = self._chatter.popleft()[1]
                    self.dropped += 1
                self._chatter.append(entry)
            else:
                self._kept.append(entry)
            self._cond.notify()
        if dropped is not None and self._on_drop is not None:
            self._on_drop(dropped)
        return True

    put_nowait = put

    def get(self) -> object:
        """The oldest item, waiting for one if there is none."""
        with self._cond:
            while not (self._kept or self._chatter):
                self._cond.wait()
            if not self._chatter or (self._kept and self._kept[0][0] < self._chatter[0][0]):
                return self._kept.popleft()[1]
            return self._chatter.popleft()[1]

    def __len__(self) -> int:
        with self._cond:
            return len(self._kept) + len(self._chatter)

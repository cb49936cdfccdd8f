"""The modem's message memories as the inbox uses them, and the claims on what it handed over.

A stored message is found at a :data:`Location`: the memory its notice named (``+CMTI:
"SM",3``; ``+CDSI: "SR",0`` on modems that keep status reports apart) and its index. The
primary memory is the one the modem was configured with (``AT+CPMS``); reading, listing or
deleting in another one selects it for that command and selects the primary one again
after, under one lock, so that no other command of the store meets the wrong memory.

A :class:`Claim` is what one handed-over SMS or status report holds until the receiver
acknowledges it (:meth:`Claim.ack`: its stored copies deleted, a direct delivery
acknowledged) or gives it back (:meth:`Claim.release`: left on the SIM for the next sweep,
a direct delivery refused so that the network delivers it again). Both are idempotent.

Threads: any thread may call every method (the inbox reads on the modem's events thread,
receivers acknowledge on theirs). AT failures raise ModemError.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable, Iterable

from modem.at import commands as at

if TYPE_CHECKING:
    from modem.driver import Modem

#: Where a stored message is: (memory, as the modem names it, upper-case; index).
Location = tuple[str, int]
SELECT_FIRST_MEMORY = 'AT+CPMS="{mem}"'  # only <mem1>: what AT+CMGR, CMGL and CMGD use


class MessageStore:
    """The memories of one modem (see the module docstring)."""

    def __init__(self, modem: Modem):
        self._modem = modem
        self._memory_lock = threading.RLock()  # one memory selection at a time
        self._claims_lock = threading.Lock()
        self._claimed: set[Location] = set()
        self._others: set[str] = set()  # other memories a notice named: swept too

    @property
    def primary(self) -> str:
        return self._modem.config.storage.upper()

    def location(self, memory: str | None, index: int) -> Location:
        """The location of ``index`` in ``memory`` (None or empty: the primary one)."""
        memory = (memory or "").strip().upper() or self.primary
        if memory != self.primary:
            self._others.add(memory)
        return (memory, index)

    def memories(self) -> list[str]:
        """The primary memory, then every other one a notice named."""
        return [self.primary, *sorted(self._others - {self.primary})]

    def read(self, location: Location) -> str | None:
        """The PDU stored at ``location`` (AT+CMGR), None if the slot is empty."""
        memory, index = location
        return at.read_pdu(self._in(memory, at.READ.format(index=index)))

    def listing(self, memory: str) -> list[tuple[Location, str]]:
        """Every message stored in ``memory``, read or not, however old (AT+CMGL=4)."""
        listing = at.listed_pdus(self._in(memory, at.LIST_ALL))
        return [((memory, index), pdu) for index, pdu in listing]

    def delete(self, locations: Iterable[Location]) -> None:
        """Delete stored messages (AT+CMGD) and forget their claims."""
        for location in locations:
            memory, index = location
            self._in(memory, at.DELETE.format(index=index))
            self.unclaim((location,))

    def _in(self, memory: str, command: str) -> list[str]:
        # Under the lock even in the primary memory: another thread may have selected
        # another one for its own command (a delete after a commit, a read on the events
        # thread), and this command must not run in between.
        with self._memory_lock:
            if memory == self.primary:
                return self._modem.command(command)
            self._modem.command(SELECT_FIRST_MEMORY.format(mem=memory))
            try:
                return self._modem.command(command)
            finally:
                self._modem.command(SELECT_FIRST_MEMORY.format(mem=self.primary))

    # ------------------------------------------------------------ claims
    def claimed(self, location: Location) -> bool:
        with self._claims_lock:
            return location in self._claimed

    def claim(self, locations: Iterable[Location]) -> None:
        with self._claims_lock:
            self._claimed.update(locations)

    def unclaim(self, locations: Iterable[Location]) -> None:
        with self._claims_lock:
            self._claimed.difference_update(locations)


class Claim:
    """Stored locations and/or a direct delivery held by one handed-over item."""

    def __init__(self, store: MessageStore | None, locations: tuple[Location, ...] = (),
                 on_ack: Callable[[], None] | None = None,
                 on_release: Callable[[], None] | None = None):
        self._store, self._locations = store, locations
        self._on_ack, self._on_release = on_ack, on_release
        self._done = False
        self._lock = threading.Lock()

    def _take(self) -> bool:
        with self._lock:
            done, self._done = self._done, True
            return not done

    def ack(self) -> None:
        """Delete the stored copies, then acknowledge a direct delivery. Raises ModemError
        (the stored copies then stay claimed until the modem is opened again)."""
        if not self._take():
            return
        if self._locations and self._store is not None:
            self._store.delete(self._locations)
        if self._on_ack is not None:
            self._on_ack()

    def release(self) -> None:
        """Leave the stored copies for the next sweep; refuse a direct delivery."""
        if not self._take():
            return
        if self._store is not None:
            self._store.unclaim(self._locations)
        if self._on_release is not None:
            self._on_release()

    def __deepcopy__(self, memo):  # dataclasses.asdict() of what holds it must not copy the modem
        return self

"""The SIM card of a simulated modem: identity, PIN/PUK state and the message store.

The card outlives power cycles (an unplugged and replugged modem keeps its SIM, so its
IMSI, ICCID and stored messages stay); the PIN has to be entered again after each one.
Message slots are numbered from 0 here; the modem adds its profile's first index.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from modem.pdu.codec import encode_deliver

# <stat> values of AT+CMGR / AT+CMGL in PDU mode (3GPP TS 27.005)
REC_UNREAD, REC_READ, STO_UNSENT, STO_SENT = 0, 1, 2, 3
MAX_PIN_ATTEMPTS, MAX_PUK_ATTEMPTS = 3, 10


@dataclass
class StoredMessage:
    pdu_hex: str  # with the SMSC field first, as AT+CMGR shows it
    stat: int = REC_UNREAD

    @property
    def tpdu_length(self) -> int:
        octets = len(self.pdu_hex) // 2
        return octets - 1 - int(self.pdu_hex[:2] or "0", 16)


@dataclass
class SimCard:
    imsi: str
    iccid: str
    number: str | None = None
    number_on_sim: bool = True  # many SIMs do not carry their own number (AT+CNUM empty)
    pin: str | None = None  # None: no PIN lock
    puk: str = "12345678"
    smsc: str = "+10000000000"
    capacity: int = 30
    pin_attempts: int = MAX_PIN_ATTEMPTS
    puk_attempts: int = MAX_PUK_ATTEMPTS
    slots: list[StoredMessage | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.slots) < self.capacity:
            self.slots.extend([None] * (self.capacity - len(self.slots)))

    @property
    def home_plmn(self) -> str:
        return self.imsi[:5]

    @property
    def used(self) -> int:
        return sum(1 for slot in self.slots if slot is not None)

    @property
    def full(self) -> bool:
        return self.used >= self.capacity

    def store(self, pdu_hex: str, stat: int = REC_UNREAD) -> int | None:
        """Slot of the newly stored message, or None when the store is full."""
        for index, slot in enumerate(self.slots):
            if slot is None:
                self.slots[index] = StoredMessage(pdu_hex, stat)
                return index
        return None

    def read(self, index: int) -> StoredMessage | None:
        return self.slots[index] if 0 <= index < self.capacity else None

    def delete(self, index: int) -> None:
        if 0 <= index < self.capacity:
            self.slots[index] = None

    def delete_by_flag(self, flag: int) -> None:
        """AT+CMGD=<i>,<flag>: 1 read, 2 read+sent, 3 read+sent+unsent, 4 all."""
        doomed = {1: {REC_READ}, 2: {REC_READ, STO_SENT}, 3: {REC_READ, STO_SENT, STO_UNSENT}}.get(flag)
        for index, slot in enumerate(self.slots):
            if slot is not None and (doomed is None or slot.stat in doomed):
                self.slots[index] = None

    def listing(self, stat: int) -> list[tuple[int, StoredMessage]]:
        return [(i, s) for i, s in enumerate(self.slots) if s is not None and stat in (4, s.stat)]

    def fill(self, timestamp: datetime) -> None:
        """The storage_full fault: every free slot gets an old, read message."""
        serial = 0
        while not self.full:
            serial += 1
            self.store(encode_deliver("+10000000001", f"old message {serial}", timestamp=timestamp)[0], REC_READ)

"""The virtual network: simulated modems, virtual phones, routing, delays and a message log.

- A modem is added with ``add_modem(name, profile=..., number=...)``; unset identities
  (IMSI, IMEI, ICCID, number) are derived from its name, so they are stable.
- A phone is any E.164 number: ``phone(number)`` makes it on first use. An SMS a modem
  sends to a number that is not a modem's lands in that phone's ``inbox`` (parts are
  reassembled); ``phone(n).send(to, text)`` sends an SMS-MO to a modem (or phone).
- Every SMS takes ``delivery_delay`` seconds (per network, or per modem for what it
  sends); status reports are made on delivery, from the phone's ``report_status``.
- A modem that cannot take an SMS now (unplugged, no network, full store, +CMT not
  acknowledged) gets it again ``retry_interval`` seconds later, as an SMSC retries.

Time only moves through the injected clock: ``advance(seconds)`` with a ManualClock,
or real time with a SystemClock (ports call ``tick()`` while they wait). One lock
guards everything; ``changed`` (a Condition on it) is notified when output may exist.

An idle network costs nothing: ``tick()`` runs only what is due (scheduled events, each
modem's timers, the reassembly timeouts of phones with parts pending), and a change wakes
only the port it concerns, plus on a SystemClock the one port that keeps the time until
``next_due()`` (:mod:`modem.sim.wakeups`; ports ``watch`` the network).
"""
from __future__ import annotations

import heapq
import itertools
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from modem.pdu.codec import DeliveredSms, Reassembler, SubmittedSms, encode_deliver, encode_status_report
from modem.sim.card import SimCard
from modem.sim.manual_clock import ManualClock, SystemClock
from modem.sim.faults import Faults
from modem.sim.machine import ModemMachine
from modem.sim.profiles import get_profile
from modem.sim.simmodem import SimModem, derived_identity
from modem.sim.wakeups import ChangeCondition, Wakeups, Watcher


@dataclass
class LogEntry:
    at: datetime
    kind: str  # "MT" (modem to phone: one entry per part) or "MO" (phone to modem)
    sender: str
    recipient: str
    text: str
    status: str = "pending"  # pending, delivered, failed
    reference: int | None = None  # TP-MR given by the sending modem
    part: tuple[int, int] = (1, 1)


@dataclass
class PhoneMessage:
    sender: str
    text: str
    received_at: datetime


@dataclass
class Phone:
    number: str
    network: VirtualNetwork
    report_status: int = 0x00  # TP-Status of the reports for SMS to this phone (0x20+: failure)
    inbox: list[PhoneMessage] = field(default_factory=list)
    reassembler: Reassembler = field(default_factory=lambda: Reassembler(timeout=300.0))

    @property
    def texts(self) -> list[str]:
        return [m.text for m in self.inbox]

    def send(self, to: str, text: str, *, delay: float | None = None,
             timestamp: datetime | None = None) -> LogEntry:
        """An SMS-MO from this phone; it reaches ``to`` after the delivery delay."""
        return self.network.send_sms(self.number, to, text, delay=delay, timestamp=timestamp)


class VirtualNetwork:
    def __init__(
        self,
        clock: ManualClock | SystemClock | None = None,
        *,
        delivery_delay: float = 0.0,
        retry_interval: float = 10.0,
        smsc: str = "+10000000000",
        plmn: str = "00101",
        operator_name: str = "SIMNET",
    ) -> None:
        self.clock = clock or SystemClock()
        self.delivery_delay, self.retry_interval = delivery_delay, retry_interval
        self.smsc, self.plmn, self.operator_name = smsc, plmn, operator_name
        self.lock = threading.RLock()
        self._wakeups = Wakeups(self.next_due, manual=getattr(self.clock, "manual", False))
        self.changed = ChangeCondition(self.lock, self._wakeups)
        # Called (under the lock, must not block) whenever something is scheduled, e.g. a
        # delivery: whoever drives ``tick()`` in real time can wake up for it.
        self.on_schedule: Callable[[], None] | None = None
        # Called (under the lock) when the network accepts a part a modem submitted, before
        # the modem answers +CMGS: with its log entry, the decoded submit and its delivery
        # delay in seconds. A store that must outlive this process (the gateway's --simulate
        # keeps what phones receive in its database) records the part before returning.
        self.on_submit: Callable[[LogEntry, SubmittedSms, float], None] | None = None
        self.modems: dict[str, SimModem] = {}
        self.phones: dict[str, Phone] = {}
        self.log: list[LogEntry] = []
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._concat = itertools.count(1)
        self._reassembly = Reassembler(timeout=300.0)  # modem-to-modem traffic

    # ---------------------------------------------------------------- building

    def add_modem(
        self, name: str, profile: str = "generic", *, number: str | None = None, imsi: str | None = None,
        imei: str | None = None, iccid: str | None = None, plmn: str | None = None, pin: str | None = None,
        registration: str = "home", signal: int = 20, number_on_sim: bool = True,
        faults: list[str] | tuple[str, ...] = (), delivery_delay: float | None = None,
    ) -> SimModem:
        """Create and power on a modem; raises ValueError if the name or number is taken."""
        with self.lock:
            if name in self.modems:
                raise ValueError(f"modem {name!r} already exists")
            home = (imsi or "")[:5] or plmn or self.plmn
            ids = derived_identity(name, home)
            the_profile = get_profile(profile)
            card = SimCard(imsi=imsi or ids["imsi"], iccid=iccid or ids["iccid"], number=number or ids["number"],
                           number_on_sim=number_on_sim, pin=pin, smsc=self.smsc,
                           capacity=the_profile.storage_capacity)
            if self.modem_by_number(card.number or "") is not None:
                raise ValueError(f"number {card.number} already belongs to a modem")
            machine = ModemMachine(the_profile, card, imei or ids["imei"], faults=Faults(),
                                   plmn=plmn or self.plmn, operator_name=self.operator_name,
                                   registration=registration, signal=signal)
            modem = SimModem(self, name, machine)
            modem.delivery_delay = delivery_delay
            self.modems[name] = modem
            machine.power_on(self.clock.monotonic())
            for spec in faults:
                modem.inject(*spec.split(":"))
            return modem

    def modem(self, name: str) -> SimModem:
        with self.lock:
            if name not in self.modems:
                raise KeyError(f"no simulated modem named {name!r}")
            return self.modems[name]

    def modem_by_number(self, number: str) -> SimModem | None:
        return next((m for m in self.modems.values() if m.number == number), None)

    def phone(self, number: str) -> Phone:
        """The virtual phone with this number, made on first use."""
        with self.lock:
            if number not in self.phones:
                self.phones[number] = Phone(number, self)
            return self.phones[number]

    # ---------------------------------------------------------------- time

    def advance(self, seconds: float) -> None:
        """Move a ManualClock on and let everything due happen (deliveries, timers)."""
        if not getattr(self.clock, "manual", False):
            raise TypeError("only a network on a ManualClock can be advanced")
        with self.lock:
            self.clock.advance(seconds)
            self.tick()

    def tick(self) -> None:
        """Run what is due now: scheduled events (deliveries, retries, reassembly timeouts)
        and each modem's timers; then tell the watchers, if anything happened (ports call
        this each time they look: an idle tick must cost next to nothing)."""
        with self.lock:
            now = self.clock.monotonic()
            happened = False
            while self._events and self._events[0][0] <= now:
                _, _, action = heapq.heappop(self._events)
                action()
                happened = True
            for modem in self.modems.values():
                machine = modem.machine
                before = machine.output_waiting
                machine.tick(now)
                happened = happened or machine.output_waiting != before
            if happened:
                self._changed()

    def next_due(self) -> float | None:
        """When ``tick()`` next has something to do (clock seconds, maybe already past),
        or None when nothing is timed."""
        with self.lock:
            times = [self._events[0][0]] if self._events else []
            times += [due for modem in self.modems.values()
                      if (due := modem.machine.next_due()) is not None]
            return min(times, default=None)

    def _schedule(self, delay: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._events, (self.clock.monotonic() + delay, next(self._seq), action))
        if self.on_schedule is not None:
            self.on_schedule()
        self._changed()  # the timekeeper may have to wake earlier

    def _changed(self) -> None:
        with self.lock:  # a machine may be driven directly, without the lock (tests)
            self.changed.notify_all()

    # ---------------------------------------------------------------- watchers

    def watch(self, watcher: Watcher) -> None:
        """Tell ``watcher`` of every change until :meth:`unwatch` (:mod:`modem.sim.wakeups`)."""
        with self.lock:
            self._wakeups.add(watcher)

    def unwatch(self, watcher: Watcher) -> None:
        with self.lock:
            self._wakeups.remove(watcher)

    def timekeeper_due(self, watcher: Watcher) -> float | None:
        """For a watcher about to wait (lock held): the clock time to wake at and tick if it
        keeps the time, else None (:meth:`modem.sim.wakeups.Wakeups.keeper_due`)."""
        return self._wakeups.keeper_due(watcher)

    # ---------------------------------------------------------------- traffic

    def send_sms(self, sender: str, recipient: str, text: str, *, delay: float | None = None,
                 timestamp: datetime | None = None) -> LogEntry:
        """An SMS-MO from phone ``sender`` to ``recipient`` (a modem's number, or another phone).
        ``timestamp`` is its SMSC time stamp (default: now): an SMS sent again with its first
        stamp is the same SMS to a receiver that deduplicates (sender, stamp, text)."""
        with self.lock:
            self.phone(sender)
            entry = LogEntry(timestamp or self.clock.now(), "MO", sender, recipient, text)
            self.log.append(entry)
            pdus = encode_deliver(sender, text, smsc=self.smsc, timestamp=entry.at,
                                  concat_reference=next(self._concat) % 256)
            wait = self.delivery_delay if delay is None else delay
            self._schedule(wait, lambda: self._arrive_mo(entry, pdus))
            return entry

    def _arrive_mo(self, entry: LogEntry, pdus: list[str]) -> None:
        target = self.modem_by_number(entry.recipient)
        if target is None:
            self.phone(entry.recipient).inbox.append(PhoneMessage(entry.sender, entry.text, self.clock.now()))
        else:
            for pdu in pdus:
                self._offer(target, "sms", pdu)
        entry.status = "delivered"

    def _offer(self, modem: SimModem, kind: str, pdu: str) -> None:
        radio, now = modem.machine.radio, self.clock.monotonic()
        taken = radio.deliver_sms(pdu, now) if kind == "sms" else radio.deliver_status_report(pdu, now)
        if not taken:
            self._retry_later(modem, kind, pdu)

    def _retry_later(self, modem: SimModem, kind: str, pdu: str) -> None:
        self._schedule(self.retry_interval, lambda: self._offer(modem, kind, pdu))

    def _submitted(self, modem: SimModem, reference: int, sms: SubmittedSms) -> None:
        """A modem's AT+CMGS went through: log the part and deliver it after the delay."""
        recipient = sms.destination if sms.destination.startswith("+") else "+" + sms.destination
        part = (sms.concat[2], sms.concat[1]) if sms.concat else (1, 1)
        entry = LogEntry(self.clock.now(), "MT", modem.number or modem.name, recipient, sms.text,
                         reference=reference, part=part)
        self.log.append(entry)
        delay = modem.delivery_delay if modem.delivery_delay is not None else self.delivery_delay
        if self.on_submit is not None:
            self.on_submit(entry, sms, delay)
        self._schedule(delay, lambda: self._arrive_mt(modem, entry, sms))

    def _arrive_mt(self, source: SimModem, entry: LogEntry, sms: SubmittedSms) -> None:
        target = self.modem_by_number(entry.recipient)
        status = 0x00 if target is not None else self.phone(entry.recipient).report_status
        entry.status = "delivered" if status < 0x20 else ("pending" if status < 0x40 else "failed")
        if status < 0x20:
            part = DeliveredSms(entry.sender, sms.text, entry.at, self.smsc, sms.concat)
            if target is None:
                phone = self.phone(entry.recipient)
                whole = phone.reassembler.add(part, self.clock.monotonic())
                if whole is not None:
                    phone.inbox.append(PhoneMessage(whole.sender, whole.text, self.clock.now()))
                else:  # a part waits for the others: give them until the timeout
                    self._schedule(phone.reassembler.timeout, lambda: self._expire_parts(phone))
            else:
                whole = self._reassembly.add(part, self.clock.monotonic())
                if whole is not None:
                    self.send_sms(whole.sender, entry.recipient, whole.text, delay=0)
        if sms.status_report_requested:
            report = encode_status_report(entry.reference or 0, entry.recipient, status,
                                          timestamp=self.clock.now(), smsc=self.smsc)
            self._offer(source, "report", report)

    def _expire_parts(self, phone: Phone) -> None:
        """A reassembly timeout: what is incomplete lands in the inbox as it is."""
        for _, partial in phone.reassembler.expire(self.clock.monotonic()):
            phone.inbox.append(PhoneMessage(partial.sender, partial.text, self.clock.now()))

    # ---------------------------------------------------------------- reading

    def messages(self, *, kind: str | None = None, recipient: str | None = None) -> list[LogEntry]:
        with self.lock:
            return [e for e in self.log if (kind is None or e.kind == kind)
                    and (recipient is None or e.recipient == recipient)]


# ---------------------------------------------------------------- named networks (like loop://)

_registry: dict[str, VirtualNetwork] = {}
_registry_lock = threading.Lock()


def create_network(name: str = "default", clock: ManualClock | SystemClock | None = None,
                   **options: object) -> VirtualNetwork:
    """A new network under ``name`` (replacing any old one); options as VirtualNetwork's."""
    network = VirtualNetwork(clock, **options)  # type: ignore[arg-type]
    with _registry_lock:
        _registry[name] = network
    return network


def get_network(name: str = "default") -> VirtualNetwork:
    """The named network, made on first use with the real clock."""
    with _registry_lock:
        if name not in _registry:
            _registry[name] = VirtualNetwork()
        return _registry[name]


def reset_networks() -> None:
    """Forget every named network (tests call this between cases)."""
    with _registry_lock:
        _registry.clear()


__all__ = ["LogEntry", "Phone", "PhoneMessage", "VirtualNetwork", "create_network", "get_network",
           "reset_networks"]

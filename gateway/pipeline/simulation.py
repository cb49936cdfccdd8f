"""--simulate: simulated modems on a virtual network inside the worker, and the
simulator's mailboxes in the database (what virtual phones received; SMS-MO they are
asked to send; faults asked for), so that the API processes reach them like everything
else, through the database only, and so that they outlive the worker.

Simulated modem N (from 0) is ``simN``, number ``+33700000<N+1>`` (3 digits), on the
network ``simulated_network``, reachable at ``modemsim://simN?network=gateway``.

What a worker killed at any instruction (kill -9) leaves, and what the next one does:

- **What phones receive is in the database before the gateway can know it was sent.**
  The network's ``on_submit`` hook stores each part a modem submits for a phone
  (``sim_pending_parts``), in a transaction of its own, before the modem answers
  ``+CMGS``. ``sync`` makes whole messages of the due parts (``sim_phone_messages``) and
  deletes those parts in one transaction: a message reaches its phone exactly once, and
  parts left by a worker that died are delivered by the next one. A message of one part
  with no delivery delay (``simulated_delay = 0``, the default) is whole and due at once:
  the hook stores it in ``sim_phone_messages`` directly, so the phone has it before
  ``+CMGS`` is answered, without waiting for a pass of ``sync`` (if that write fails, it
  is kept in memory as a part, as below). (The network in memory
  delivers too, for its delivery reports; its phones' inboxes are not read.)
- **SMS-MO asked for** (``sim_mo_requests``) are handed to the network, then marked sent:
  at least once. One handed over by a worker that died before marking it is sent again by
  the next, with the same SMSC time stamp (the request's ``created_at``), sender and text:
  the gateway's inbox takes that copy as a redelivery (its dedupe key), so it is stored
  and acted on once. (Not "marked sent, then sent": a worker dying in between would lose
  it. Not both in one transaction: that would hold the database's write lock while taking
  the network's, the order opposite to the ``on_submit`` hook's.) An SMS-MO to a number
  that is no simulated modem's goes straight to that phone: a part, stored in the
  transaction that marks it sent.
- **Faults** are applied, then marked applied (at least once: applying one twice changes
  nothing). They live in the worker's memory: a new worker's modems start plugged in,
  without faults.

Not kept: what a simulated modem holds in memory (an SMS-MO on its simulated SIM that the
gateway has not stored yet, a delivery report not yet given) is lost with the worker.

Cost: the worker's pump runs ``run`` when the virtual network has something to do (a
delivery report to give: once or twice per SMS), when the doorbell rings for the
simulator (a phone or fault request committed: ``requests_arrived``) and every second.
It reads the database only for requests rung for, or a second after its last read (a
ring is only a hint), or when parts may be due; then in a read-only transaction (no
write lock on SQLite), and it writes only when there is something to write.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy.exc import SQLAlchemyError

import modem.sim
from gateway.config.settings import Settings
from gateway.deps import Deps
from modem.numbers import mask_number
from modem.sim.network import LogEntry
from modem.transport import ModemConfig

log = logging.getLogger(__name__)
NETWORK = "gateway"
# As the network's phones: an incomplete concatenated SMS is shown as it is after this.
REASSEMBLY_TIMEOUT = timedelta(seconds=300)
FAILED_REPORT = 0x20  # a phone whose report status is this or more does not receive
#: Seconds after which ``run`` reads the requests though no ring came (rings are hints).
READ_EVERY = 1.0


def simulated_number(index: int) -> str:
    return f"+33700000{index + 1:03d}"


class Simulation:
    """The virtual network of a --simulate worker. ``attach(deps)`` before the modems
    are used (gateway.process.worker does); ``sync`` runs on the worker's pump."""

    def __init__(self, settings: Settings, clock=None, send_timeout: float = 30.0) -> None:
        modem.sim.register()
        self.network = modem.sim.create_network(NETWORK, clock=clock,
                                                delivery_delay=settings.simulated_delay,
                                                plmn=settings.simulated_network)
        configs = []
        for index in range(settings.simulated_modems):
            name = f"sim{index}"
            self.network.add_modem(name, "generic", number=simulated_number(index),
                                   plmn=settings.simulated_network)
            configs.append(ModemConfig(url=f"modemsim://{name}?network={NETWORK}", name=name,
                                       send_timeout=send_timeout))
        self.modem_configs = tuple(configs)
        self._deps: Deps | None = None
        self._lock = threading.Lock()  # guards the two below (hook threads, the pump)
        self._unsaved: list[dict] = []  # parts the hook could not store (database down)
        # When pending parts may next be due (None: none known); at once at the start, for
        # parts a worker that died left behind.
        self._parts_due: datetime | None = datetime.min.replace(tzinfo=timezone.utc)
        self._rung = True  # requests may wait in the database (at the start: may)
        self._last_read: float | None = None  # deps.clock.monotonic() of the last read

    def attach(self, deps: Deps) -> None:
        """Keep what the network accepts for phones in ``deps``' database from now on."""
        self._deps = deps
        self.network.on_submit = self._store_part

    # ------------------------------------------------------------ on the modems' threads

    def _store_part(self, entry: LogEntry, sms, delay: float) -> None:
        """The network's on_submit hook (its lock held, on the thread writing to the
        modem): store a part for a phone before the modem answers +CMGS. If the database
        fails, the part is kept in memory for ``sync`` to store (logged)."""
        if self.network.modem_by_number(entry.recipient) is not None:
            return  # to another simulated modem: an SMS-MO for the gateway, not a phone's
        reference, count, number = sms.concat or (None, 1, 1)
        part = dict(phone=entry.recipient, sender=entry.sender, text=entry.text,
                    concat_reference=reference, part_number=number, part_count=count,
                    submitted_at=entry.at, due_at=entry.at + timedelta(seconds=delay))
        at_once = count == 1 and delay <= 0  # a whole message, due now: no pass to wait for
        try:
            with self._deps.uow() as uow:
                if not at_once:
                    uow.sim.add_parts([part])
                elif self._receives(entry.recipient):
                    uow.sim.add_messages([dict(phone=entry.recipient, sender=entry.sender,
                                               text=entry.text, received_at=entry.at)])
                uow.commit()
            if at_once:
                return
        except SQLAlchemyError:
            log.exception("simulated network: an SMS part for %s kept in memory until the "
                          "database answers", mask_number(entry.recipient))
            with self._lock:
                self._unsaved.append(part)
        self._due(part["due_at"])

    def _due(self, when: datetime) -> None:
        with self._lock:
            self._parts_due = when if self._parts_due is None else min(self._parts_due, when)

    # ------------------------------------------------------------ on the pump

    def requests_arrived(self) -> None:
        """The doorbell rang for the simulator: the next ``run`` reads the requests."""
        with self._lock:
            self._rung = True

    def run(self, deps: Deps) -> float | None:
        """``sync``, reading the requests only when rung for (``requests_arrived``) or
        READ_EVERY seconds after the last read; else the network's time passes, and due
        parts are delivered. Returns what ``sync`` returns."""
        now = deps.clock.monotonic()
        with self._lock:
            read = (self._rung or self._last_read is None
                    or now - self._last_read >= READ_EVERY)
            self._rung = False
        if read:
            self._last_read = now
        try:
            return self.sync(deps, read_requests=read)
        except BaseException:
            if read:
                self.requests_arrived()  # read again at the next run
            raise

    def sync(self, deps: Deps, read_requests: bool = True) -> float | None:
        """Let simulated time pass, apply the faults and send the SMS-MO asked for, and
        deliver the due parts to their phones (see the module docstring); without
        ``read_requests``, the faults and SMS-MO are not looked for. Returns the seconds
        until parts known to be pending are due (None: none known)."""
        self.network.tick()
        now = self.network.clock.now()
        with self._lock:
            unsaved, self._unsaved = self._unsaved, []
            look = self._parts_due is not None and self._parts_due <= now
            if look:
                self._parts_due = None
        if not (read_requests or look or unsaved):
            return self._seconds_to_due()
        stored = False
        try:
            with deps.uow(read_only=True) as uow:
                work = uow.sim.pending(with_parts=look, with_requests=read_requests)
            outcomes = {c.id: self._apply(c.modem, c.action, c.fault) for c in work.commands}
            handed, direct = self._hand_over(work.mo_requests, now)
            mail = Mail.of(work.parts, now, self._receives)
            if outcomes or handed or direct or unsaved or mail.deliveries:
                with deps.uow() as uow:
                    uow.sim.record_outcomes(outcomes, deps.now())
                    uow.sim.record_mo_sent(handed, deps.now())
                    uow.sim.add_parts([*unsaved, *direct])
                    uow.sim.deliver(mail.deliveries)
                    uow.commit()
            stored = True
        finally:
            if not stored:  # the read or the write failed: try again at the next run
                with self._lock:
                    self._unsaved[:0] = unsaved
                self._due(now)
        for part in (*unsaved, *direct):
            self._due(part["due_at"])
        if mail.next_due is not None:
            self._due(mail.next_due)
        return self._seconds_to_due()

    def _seconds_to_due(self) -> float | None:
        with self._lock:
            due = self._parts_due
        return None if due is None else (due - self.network.clock.now()).total_seconds()

    def _hand_over(self, requests, now: datetime) -> tuple[list[int], list[dict]]:
        """Send the SMS-MO asked for; returns their ids and, for those to a phone (no
        simulated modem has that number), the parts to store for it."""
        handed, direct = [], []
        for request in requests:
            if self.network.modem_by_number(request.recipient) is None:
                due = now + timedelta(seconds=self.network.delivery_delay)
                direct.append(dict(phone=request.recipient, sender=request.phone,
                                   text=request.text, concat_reference=None, part_number=1,
                                   part_count=1, submitted_at=now, due_at=due))
            else:
                self.network.phone(request.phone).send(request.recipient, request.text,
                                                       timestamp=request.created_at)
            handed.append(request.id)
        return handed, direct

    def _receives(self, phone: str) -> bool:
        """Whether ``phone`` takes SMS (its report status, a test's knob, says success)."""
        return self.network.phone(phone).report_status < FAILED_REPORT

    def _apply(self, name: str, action: str, fault: str | None) -> str:
        """Switch a fault on or off on a simulated modem; returns what happened."""
        try:
            modem_ = self.network.modem(name)
            if action == "inject":
                modem_.inject(*fault.split(":"))
            else:
                modem_.clear_faults(*([fault.split(":")[0]] if fault else []))
        except (KeyError, ValueError) as exc:
            log.warning("simulated modem %s: cannot %s %s: %s", name, action, fault, exc)
            return f"error: {exc}"
        log.info("simulated modem %s: %s %s", name, action, fault or "all faults")
        return "applied"


@dataclass
class Mail:
    """What the pending parts make at ``now``: ``deliveries``, each a whole message for a
    phone (columns of sim_phone_messages; None when its phone refuses SMS) with the ids
    of its parts; and when the earliest part still waiting may be done (None: nothing
    waits)."""

    deliveries: list[tuple[dict | None, list[int]]] = field(default_factory=list)
    next_due: datetime | None = None

    @property
    def messages(self) -> list[dict]:
        return [message for message, _ in self.deliveries if message is not None]

    @property
    def done(self) -> list[int]:
        return [part_id for _, part_ids in self.deliveries for part_id in part_ids]

    @classmethod
    def of(cls, parts, now: datetime, receives) -> Mail:
        """``parts`` oldest first (rows of sim_pending_parts); ``receives(phone)`` says
        whether a phone takes SMS. A message is delivered when all its parts are there
        and due, or, when some never came, REASSEMBLY_TIMEOUT after its first part, or
        as soon as a later message reuses its reference (it will not complete: shown as
        it is, as the gateway's own inbox hands such a set over)."""
        mail = cls()
        for group, superseded_at in _groups(parts):
            first, last_due = group[0], max(p.due_at for p in group)
            complete = len(group) == first.part_count
            given_up = first.submitted_at + REASSEMBLY_TIMEOUT
            if superseded_at is not None:
                given_up = min(given_up, superseded_at)
            ready = last_due if complete else max(last_due, given_up)
            if ready > now:
                mail.next_due = ready if mail.next_due is None else min(mail.next_due, ready)
                continue
            message = None
            if receives(first.phone):
                text = "".join(p.text for p in sorted(group, key=lambda p: p.part_number))
                message = dict(phone=first.phone, sender=first.sender, text=text,
                               received_at=ready)
            mail.deliveries.append((message, [p.id for p in group]))
        return mail


def _groups(parts) -> list[list]:
    """The parts by message, each ``[parts, superseded_at]``: same phone, sender,
    concatenation reference and count; ``superseded_at`` when a later message reused its
    reference (None: none did). As the gateway's inbox (modem.inbox) reassembles: one set
    open per reference; a part whose number the open set already holds closes it and
    begins the next."""
    groups: list[list] = []
    open_groups: dict[tuple, list] = {}
    for part in parts:
        if part.concat_reference is None:
            groups.append([[part], None])
            continue
        key = (part.phone, part.sender, part.concat_reference, part.part_count)
        group = open_groups.get(key)
        if group is None or any(p.part_number == part.part_number for p in group[0]):
            if group is not None:
                group[1] = part.submitted_at
            group = open_groups[key] = [[], None]
            groups.append(group)
        group[0].append(part)
    return groups

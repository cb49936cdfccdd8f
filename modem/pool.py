"""Several modems behind one interface: choice by rule, limits, failover, reopening, health.

Threads (named, started by :meth:`ModemPool.start`, joined by :meth:`ModemPool.stop`):
each modem's reader and events threads (and, for a few seconds after a modem restarted,
its ``modem-reinit-NAME``: :mod:`modem.restart`); ``modem-pool-supervisor``, which reopens
modems whose port vanished (with doubling backoff) and queues maintenance passes (sweep,
network status); and, when handlers are given, ``modem-pool-inbound``, which runs them.

Inbound SMS and delivery reports go through one bounded queue. A stored SMS is deleted from
its SIM only after the inbound handler returned (or after the puller called ``ack()``).

Sends run in parallel, one per modem: the pool's lock covers only the choice of a modem
(:mod:`modem.choice`: an idle suitable modem before a busy one), its limits and counters;
the send itself holds that modem's own lock (its AT engine), never the pool's.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from datetime import timezone
from typing import Callable, Iterable

from modem import choice
from modem.driver import Modem, PowerWarning
from modem.exceptions import (ModemError, ModemGone, ModemTimeout, NoModemAvailable, PinError,
                          SendOutcomeUnknown, SendRejected)
from modem.inbound_queue import InboundQueue
from modem.inbox import InboundSms
from modem.pdu.codec import encode_submit
from modem.delivery import DeliveryReport, PartReceipt
from modem.slot import ModemHealth, Slot
from modem.clock import Clock, SystemClock
from modem.transport import ModemConfig

log = logging.getLogger(__name__)
__all__ = ["ModemHealth", "ModemPool", "SendResult"]


@dataclasses.dataclass(frozen=True)
class SendResult:
    """A message accepted by ``modem``: one receipt per part."""

    modem: str
    receipts: tuple[PartReceipt, ...]


class ModemPool:
    """The modems of one worker process. ``send`` may be called from any thread.

    ``modem_factory(config, **callbacks)`` builds a :class:`Modem` (tests pass their own).
    Times are seconds of ``clock.monotonic()``; the daily quota counts per UTC day
    (:mod:`modem.limits`); the choice of a modem is by :mod:`modem.choice`. With
    ``supervise=False`` no supervisor thread runs: the owner calls :meth:`reopen_due` and
    :meth:`maintain` itself (from scheduler jobs, or a test after advancing its clock).
    ``on_change()`` runs each time a modem becomes ready, records an error or a new state,
    or reports a power warning, on the thread where that happened and possibly with the
    pool's lock held: it must only record or signal the change, never call the pool.
    ``on_chatter_dropped(modem_name)`` runs on that modem's reader thread for each chatter
    notice (signal, registration) its full events queue dropped (also counted in
    ``ModemHealth.chatter_dropped``); it must not block.
    """

    def __init__(self, configs: Iterable[ModemConfig], *, clock: Clock | None = None,
                 modem_factory: Callable[..., Modem] = Modem, inbound_capacity: int = 1000,
                 reopen_backoff: tuple[float, float] = (1.0, 60.0),
                 maintenance_interval: float = 60.0, supervise: bool = True,
                 on_change: Callable[[], None] | None = None,
                 on_chatter_dropped: Callable[[str], None] | None = None):
        self._clock = clock or SystemClock()
        self._factory = modem_factory
        self._slots = [Slot(config) for config in configs]
        names = [slot.config.label for slot in self._slots]
        if len(set(names)) != len(names):
            raise ValueError(f"modem names must be unique: {names}")
        self._inbound = InboundQueue(inbound_capacity)
        self._backoff = reopen_backoff
        self._interval = maintenance_interval
        self._supervise_enabled = supervise
        self._lock = threading.RLock()
        self._on_change = on_change or (lambda: None)
        self._on_chatter_dropped = on_chatter_dropped or (lambda name: None)
        self._reopen_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------ lifecycle
    def start(self, on_sms: Callable[[InboundSms], None] | None = None,
              on_report: Callable[[DeliveryReport], None] | None = None) -> None:
        """Open every modem (a failure marks it gone or failed, never raises) and start the
        supervisor; with handlers, also the inbound thread (else pull with :meth:`receive`).
        Modems are opened in parallel (threads ``modem-open-NAME``, joined before returning)."""
        openers = [threading.Thread(target=self._open, args=(slot,), daemon=True,
                                    name=f"modem-open-{slot.config.label}") for slot in self._slots]
        for thread in openers:
            thread.start()
        for thread in openers:
            thread.join()
        if self._supervise_enabled:
            self._spawn("modem-pool-supervisor", self._supervise)
        if on_sms or on_report:
            self._spawn("modem-pool-inbound",
                        lambda: self._inbound.dispatch(on_sms, on_report, self._stopping))

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the pool's threads and close every modem (idempotent)."""
        self._stopping.set()
        self._wake.set()
        self._inbound.wake()
        for thread in self._threads:
            thread.join(timeout)
        for slot in self._slots:
            with self._lock:
                modem, slot.modem, slot.state = slot.modem, None, "stopped"
            if modem is not None:
                modem.close()

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    # ------------------------------------------------------------ opening and reopening
    def _open(self, slot: Slot) -> bool:
        made: list[Modem] = []
        modem = self._factory(slot.config, clock=self._clock, auto_ack=False,
                              on_sms=lambda m: self._enqueue(slot, m, "received"),
                              on_report=lambda r: self._enqueue(slot, r, "reports"),
                              on_gone=lambda exc: self._mark_gone(slot, exc, made[0]),
                              on_power_warning=lambda warning: self._power_warning(slot, warning),
                              on_chatter_dropped=lambda urc: self._chatter_dropped(slot))
        made.append(modem)
        try:
            identity = modem.open()
        except PinError as exc:
            self._set_error(slot, exc, state="failed")  # retrying could burn the SIM's PIN
            return False
        except ModemError as exc:
            self._schedule_reopen(slot, exc)
            return False
        with self._lock:
            if self._stopping.is_set():
                modem.close()
                return False
            slot.ready(modem, identity)
            self._on_change()
        log.info("%s ready: IMSI %s, IMEI %s", slot.config.label, identity.imsi, identity.imei)
        return True

    def _mark_gone(self, slot: Slot, exc: BaseException, modem: Modem) -> None:
        """``modem`` failed (any thread): the supervisor closes it and reopens the slot
        with backoff. A late notice from a modem the slot no longer uses is ignored."""
        with self._lock:
            if slot.state != "ready" or slot.modem is not modem:
                return
            self._schedule_reopen(slot, exc)
        self._wake.set()

    def _schedule_reopen(self, slot: Slot, exc: BaseException) -> None:
        with self._lock:
            delay = slot.schedule_reopen(self._clock.monotonic(), *self._backoff)
        self._set_error(slot, exc, state="gone")
        log.warning("%s gone (%s); reopening in %.1f s", slot.config.label, exc, delay)

    def reopen_due(self) -> int:
        """Close gone modems and try to reopen those whose backoff elapsed; how many opened."""
        opened = 0
        with self._reopen_lock:
            now = self._clock.monotonic()
            for slot in self._slots:
                with self._lock:
                    due, stale = slot.reopen_due(now), slot.take_stale()
                if stale is not None:
                    stale.close()
                if due and not self._stopping.is_set():
                    opened += self._open(slot)
        return opened

    def maintain(self) -> None:
        """Queue a maintenance pass (network status, sweep, reassembly leftovers) on every
        ready modem's events thread."""
        for slot in self._slots:
            modem = slot.modem
            if slot.state == "ready" and modem is not None:
                modem.maintain()

    def _supervise(self) -> None:
        next_maintenance = self._clock.monotonic() + self._interval
        while not self._stopping.is_set():
            try:
                self.reopen_due()
                if self._clock.monotonic() >= next_maintenance:
                    self.maintain()
                    next_maintenance = self._clock.monotonic() + self._interval
            except Exception:  # noqa: BLE001  top of the thread: log and carry on
                log.exception("modem pool supervisor pass failed")
            self._wake.wait(self._seconds_to_next(next_maintenance))
            self._wake.clear()

    def _seconds_to_next(self, next_maintenance: float) -> float:
        with self._lock:
            times = [s.reopen_at for s in self._slots if s.state == "gone" and s.reopen_at]
        return max(0.05, min(times + [next_maintenance]) - self._clock.monotonic())

    # ------------------------------------------------------------ sending
    def send(self, destination: str, text: str, *, mcc: str | None = None,
             mnc: str | None = None, region: str | None = None,
             on_late: Callable[[PartReceipt], None] | None = None) -> SendResult:
        """Send through the best healthy modem, failing over when a modem rejects the SMS
        before any part went out (or is gone). Idle modems first (not busy with another
        send), then those on the destination's home network (``mcc``+``mnc``, then ``mcc``,
        then ISO ``region`` of the modem's own number), then the least used today.

        Raises ValueError (bad destination), SendOutcomeUnknown (never failed over),
        SendRejected (every modem refused; the last refusal), NoModemAvailable.
        After SendOutcomeUnknown, ``on_late(PartReceipt)`` runs on the modem's events thread
        if the modem accepts the part it was given up on after all (a late ``+CMGS: <mr>``).
        """
        parts = len(encode_submit(destination, text))
        failure: ModemError | None = None
        retry_after: list[float] = []
        tried: set[str] = set()
        while (taken := self._take(mcc, mnc, region, parts, tried, retry_after)) is not None:
            slot, modem = taken
            try:
                receipts = modem.send(destination, text, on_late=on_late)
            except SendOutcomeUnknown as exc:
                self._count(slot, "unknown", exc)
                raise
            except SendRejected as exc:
                self._refund(slot, parts)
                self._count(slot, "rejected", exc)
                if exc.accepted:
                    raise
                failure = exc
            except (ModemGone, ModemTimeout) as exc:  # nothing went out
                self._refund(slot, parts)
                self._mark_gone(slot, exc, modem)  # a mute modem is reopened like a vanished one
                failure = exc
            else:
                self._count(slot, "sent_parts", None, len(receipts))
                return SendResult(slot.config.label, tuple(receipts))
            finally:
                self._done_sending(slot)
        if isinstance(failure, SendRejected):
            raise failure
        reason = f"{failure}" if failure else "no healthy modem under its limits"
        raise NoModemAvailable(reason, min(retry_after) if retry_after else None)

    def _take(self, mcc, mnc, region, parts: int, tried: set[str],
              retry_after: list[float]) -> tuple[Slot, Modem] | None:
        """The best usable modem not yet ``tried`` that has ``parts`` left under its limits
        (taken from them), marked as sending, all under the pool's lock so that concurrent
        sends spread over idle modems; None when none is left. Each modem looked at joins
        ``tried``; one over its limits adds its wait (seconds) to ``retry_after``."""
        now, monotonic = self._clock.now(), self._clock.monotonic()
        with self._lock:
            usable = [s for s in self._slots if s.usable and s.label not in tried]
            usable.sort(key=lambda s: choice.preference(
                s.modem.identity, mcc, mnc, region, sending=s.sending,
                sent_today=s.limits.sent_today))
            for slot in usable:
                tried.add(slot.label)
                wait = slot.limits.reserve(parts, monotonic, now)
                if wait:
                    retry_after.append(wait)
                    continue
                slot.sending += 1
                return slot, slot.modem
        return None

    def _done_sending(self, slot: Slot) -> None:
        with self._lock:
            slot.sending -= 1

    def carry_over_sent_today(self, parts_by_modem: dict[str, int]) -> None:
        """Parts each modem (by name) already sent today (UTC) before this pool existed,
        as recorded by the caller; they count against the daily quotas."""
        today = self._clock.now().astimezone(timezone.utc).date()
        with self._lock:
            for slot in self._slots:
                slot.limits.carry_over(today, parts_by_modem.get(slot.config.label, 0))

    def _refund(self, slot: Slot, parts: int) -> None:
        with self._lock:
            slot.limits.refund(parts)

    def _count(self, slot: Slot, counter: str, exc: BaseException | None, n: int = 1) -> None:
        with self._lock:
            slot.counters[counter] += n
        if exc is not None:
            self._set_error(slot, exc)

    def _chatter_dropped(self, slot: Slot) -> None:
        self._count(slot, "chatter_dropped", None)
        self._on_chatter_dropped(slot.label)

    def _power_warning(self, slot: Slot, warning: PowerWarning) -> None:
        with self._lock:
            slot.power_warning = warning
            self._on_change()

    def _set_error(self, slot: Slot, exc: BaseException, state: str | None = None) -> None:
        with self._lock:
            slot.record_error(exc, self._clock.now(), state)
            self._on_change()

    # ------------------------------------------------------------ receiving
    def _enqueue(self, slot: Slot, item: InboundSms | DeliveryReport, counter: str) -> None:
        """On a modem's events thread. Raises queue.Full: the modem then keeps the SMS
        (left on the SIM, or no +CNMA so that the network delivers it again)."""
        self._inbound.put(item)
        self._count(slot, counter, None)

    def receive(self, timeout: float | None = None) -> InboundSms | DeliveryReport | None:
        """The next inbound SMS or delivery report, or None after ``timeout`` seconds.
        Call ``ack()`` on an InboundSms once it is safely stored (``release()`` if not)."""
        return self._inbound.receive(timeout)

    # ------------------------------------------------------------ health
    def health(self) -> list[ModemHealth]:
        """A snapshot of every modem (any thread; never talks to a modem)."""
        now = self._clock.monotonic()
        with self._lock:
            return [slot.snapshot(now) for slot in self._slots]

"""Several modems behind one interface: choice by rule, limits, failover, reopening, health.

Threads (named, started by :meth:`ModemPool.start`, joined by :meth:`ModemPool.stop`):
each modem's reader and events threads; ``modem-pool-supervisor``, which reopens modems
whose port vanished (with doubling backoff) and queues maintenance passes (sweep, network
status); and, when handlers are given, ``modem-pool-inbound``, which runs them.

Inbound SMS and delivery reports go through one bounded queue. A stored SMS is deleted from
its SIM only after the inbound handler returned (or after the puller called ``ack()``).
"""
from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from datetime import datetime, time, timedelta, timezone
from typing import Callable, Iterable

import phonenumbers

from modem.driver import DeliveryReport, Identity, InboundSms, Modem, NetworkStatus, PartReceipt
from modem.errors import (ModemError, ModemGone, ModemTimeout, NoModemAvailable, PinError,
                          SendOutcomeUnknown, SendRejected)
from modem.pdu import encode_submit
from modem.transport import Clock, ModemConfig, SystemClock

log = logging.getLogger(__name__)
_STOP = object()


@dataclasses.dataclass(frozen=True)
class SendResult:
    """A message accepted by ``modem``: one receipt per part."""

    modem: str
    receipts: tuple[PartReceipt, ...]


@dataclasses.dataclass(frozen=True)
class ModemHealth:
    """A snapshot of one modem, plain data. ``state``: starting, ready, gone (reopened with
    backoff), failed (needs a person: PIN/PUK) or stopped. ``next_reopen_in`` is seconds."""

    name: str
    url: str
    state: str
    identity: Identity
    network: NetworkStatus
    last_error: str | None
    last_error_at: datetime | None
    sent_parts: int
    rejected: int
    unknown: int
    received: int
    reports: int
    sent_today: int
    daily_quota: int | None
    reopen_attempts: int
    next_reopen_in: float | None
    identity_changed: bool

    @property
    def healthy(self) -> bool:
        return self.state == "ready" and self.network.registered


@dataclasses.dataclass
class _Slot:
    """One configured modem and its bookkeeping (guarded by the pool's lock)."""

    config: ModemConfig
    modem: Modem | None = None
    state: str = "starting"
    last_error: str | None = None
    last_error_at: datetime | None = None
    counters: dict = dataclasses.field(default_factory=lambda: dict.fromkeys(
        ("sent_parts", "rejected", "unknown", "received", "reports"), 0))
    day: object = None
    sent_today: int = 0
    tokens: float = 0.0
    tokens_at: float = 0.0
    reopen_attempts: int = 0
    reopen_at: float | None = None
    known: Identity | None = None
    identity_changed: bool = False


class ModemPool:
    """The modems of one worker process. ``send`` may be called from any thread.

    ``modem_factory(config, **callbacks)`` builds a :class:`Modem` (tests pass their own).
    Times are seconds of ``clock.monotonic()``; the daily quota counts per UTC day. With
    ``supervise=False`` no supervisor thread runs: the owner calls :meth:`reopen_due` and
    :meth:`maintain` itself (from scheduler jobs, or a test after advancing its clock).
    """

    def __init__(self, configs: Iterable[ModemConfig], *, clock: Clock | None = None,
                 modem_factory: Callable[..., Modem] = Modem, inbound_capacity: int = 1000,
                 reopen_backoff: tuple[float, float] = (1.0, 60.0),
                 maintenance_interval: float = 60.0, supervise: bool = True):
        self._clock = clock or SystemClock()
        self._factory = modem_factory
        self._slots = [_Slot(config) for config in configs]
        names = [slot.config.label for slot in self._slots]
        if len(set(names)) != len(names):
            raise ValueError(f"modem names must be unique: {names}")
        self.inbound: queue.Queue = queue.Queue(maxsize=inbound_capacity)
        self._backoff = reopen_backoff
        self._interval = maintenance_interval
        self._supervise_enabled = supervise
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)  # notified when a modem's state changes
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
            self._spawn("modem-pool-inbound", lambda: self._dispatch(on_sms, on_report))

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the pool's threads and close every modem (idempotent)."""
        self._stopping.set()
        self._wake.set()
        try:
            self.inbound.put_nowait(_STOP)
        except queue.Full:
            pass  # the inbound thread also watches the stop flag
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
    def _open(self, slot: _Slot) -> bool:
        made: list[Modem] = []
        modem = self._factory(slot.config, clock=self._clock, auto_ack=False,
                              on_sms=lambda m: self._enqueue(slot, m, "received"),
                              on_report=lambda r: self._enqueue(slot, r, "reports"),
                              on_gone=lambda exc: self._mark_gone(slot, exc, made[0]))
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
            changed = slot.known is not None and (slot.known.imsi, slot.known.imei) != (
                identity.imsi, identity.imei)
            if changed:
                log.warning("%s: now IMSI %s IMEI %s (was %s / %s)", slot.config.label,
                            identity.imsi, identity.imei, slot.known.imsi, slot.known.imei)
            if self._stopping.is_set():
                modem.close()
                return False
            slot.identity_changed = slot.identity_changed or changed
            slot.known, slot.modem, slot.state = identity, modem, "ready"
            slot.reopen_attempts, slot.reopen_at = 0, None
            self._changed.notify_all()
        log.info("%s ready: IMSI %s, IMEI %s", slot.config.label, identity.imsi, identity.imei)
        return True

    def _mark_gone(self, slot: _Slot, exc: BaseException, modem: Modem) -> None:
        """``modem`` failed (any thread): the supervisor closes it and reopens the slot
        with backoff. A late notice from a modem the slot no longer uses is ignored."""
        with self._lock:
            if slot.state != "ready" or slot.modem is not modem:
                return
            self._schedule_reopen(slot, exc)
        self._wake.set()

    def _schedule_reopen(self, slot: _Slot, exc: BaseException) -> None:
        first, cap = self._backoff
        with self._lock:
            delay = min(first * 2 ** slot.reopen_attempts, cap)
            slot.reopen_at = self._clock.monotonic() + delay
            slot.reopen_attempts += 1
        self._set_error(slot, exc, state="gone")
        log.warning("%s gone (%s); reopening in %.1f s", slot.config.label, exc, delay)

    def reopen_due(self) -> int:
        """Close gone modems and try to reopen those whose backoff elapsed; how many opened."""
        opened = 0
        with self._reopen_lock:
            now = self._clock.monotonic()
            for slot in self._slots:
                with self._lock:
                    due = slot.state == "gone" and slot.reopen_at is not None and now >= slot.reopen_at
                    stale, slot.modem = (slot.modem, None) if slot.state == "gone" else (None, slot.modem)
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
             mnc: str | None = None, region: str | None = None) -> SendResult:
        """Send through the best healthy modem, failing over when a modem rejects the SMS
        before any part went out (or is gone). Modems on the destination's home network
        (``mcc``+``mnc``, then ``mcc``, then ISO ``region`` of the modem's own number) first.

        Raises ValueError (bad destination), SendOutcomeUnknown (never failed over),
        SendRejected (every modem refused; the last refusal), NoModemAvailable.
        """
        parts = len(encode_submit(destination, text))
        failure: ModemError | None = None
        retry_after: list[float] = []
        for slot, modem in self._candidates(mcc, mnc, region):
            wait = self._reserve(slot, parts)
            if wait:
                retry_after.append(wait)
                continue
            try:
                receipts = modem.send(destination, text)
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
        if isinstance(failure, SendRejected):
            raise failure
        reason = f"{failure}" if failure else "no healthy modem under its limits"
        raise NoModemAvailable(reason, min(retry_after) if retry_after else None)

    def _candidates(self, mcc, mnc, region) -> list[tuple[_Slot, Modem]]:
        """Healthy modems (ready and registered), best first, least used today first."""
        with self._lock:
            ready = [(s, s.modem) for s in self._slots if s.state == "ready"
                     and s.modem is not None and s.modem.status.registered]
            return sorted(ready, key=lambda p: (self._rank(p[1], mcc, mnc, region),
                                                p[0].sent_today))

    @staticmethod
    def _rank(modem: Modem, mcc, mnc, region) -> int:
        home = modem.identity.home_network or ""
        if mcc and mnc and home == f"{mcc}{mnc}":
            return 0
        if mcc and home.startswith(mcc):
            return 1
        number = modem.identity.own_number
        if region and number and _region_of(number) == region.upper():
            return 2
        return 3

    def _reserve(self, slot: _Slot, parts: int) -> float:
        """Take ``parts`` from the slot's quota and rate bucket; 0, or seconds to wait."""
        cfg, now = slot.config, self._clock.monotonic()
        with self._lock:
            today = self._clock.now().date()
            if slot.day != today:
                slot.day, slot.sent_today = today, 0
            if cfg.daily_quota is not None and slot.sent_today + parts > cfg.daily_quota:
                return self._seconds_to_midnight()
            if cfg.rate_limit_per_minute:
                rate = cfg.rate_limit_per_minute / 60.0
                slot.tokens = min(cfg.rate_limit_per_minute,
                                  slot.tokens + (now - slot.tokens_at) * rate)
                slot.tokens_at = now
                if slot.tokens < 1:
                    return (1 - slot.tokens) / rate
                slot.tokens -= parts
            slot.sent_today += parts
        return 0.0

    def _seconds_to_midnight(self) -> float:
        now = self._clock.now().astimezone(timezone.utc)
        midnight = datetime.combine(now.date() + timedelta(days=1), time(), timezone.utc)
        return (midnight - now).total_seconds()

    def _refund(self, slot: _Slot, parts: int) -> None:
        with self._lock:
            slot.sent_today -= parts
            slot.tokens += parts if slot.config.rate_limit_per_minute else 0

    def _count(self, slot: _Slot, counter: str, exc: BaseException | None, n: int = 1) -> None:
        with self._lock:
            slot.counters[counter] += n
        if exc is not None:
            self._set_error(slot, exc)

    def _set_error(self, slot: _Slot, exc: BaseException, state: str | None = None) -> None:
        with self._lock:
            slot.last_error, slot.last_error_at = str(exc), self._clock.now()
            slot.state = state or slot.state
            self._changed.notify_all()

    # ------------------------------------------------------------ receiving
    def _enqueue(self, slot: _Slot, item: object, counter: str) -> None:
        """On a modem's events thread. Raises queue.Full: the modem then keeps the SMS
        (left on the SIM, or no +CNMA so that the network delivers it again)."""
        self.inbound.put_nowait(item)
        self._count(slot, counter, None)

    def receive(self, timeout: float | None = None) -> InboundSms | DeliveryReport | None:
        """The next inbound SMS or delivery report, or None after ``timeout`` seconds.
        Call ``ack()`` on an InboundSms once it is safely stored (``release()`` if not)."""
        try:
            item = self.inbound.get(timeout=timeout)
        except queue.Empty:
            return None
        return None if item is _STOP else item

    def _dispatch(self, on_sms, on_report) -> None:
        while not self._stopping.is_set():
            item = self.receive()
            if item is None:
                continue
            try:
                if isinstance(item, InboundSms):
                    self._handle_sms(item, on_sms)
                elif on_report is not None:
                    on_report(item)
            except Exception:  # noqa: BLE001  top of the thread: one bad item must not stop it
                log.exception("inbound handler failed on %r", item)

    @staticmethod
    def _handle_sms(message: InboundSms, on_sms) -> None:
        if on_sms is None:
            message.release()
            return
        try:
            on_sms(message)
        except Exception:
            message.release()
            raise
        message.ack()

    # ------------------------------------------------------------ health
    def health(self) -> list[ModemHealth]:
        """A snapshot of every modem (any thread; never talks to a modem)."""
        now = self._clock.monotonic()
        with self._lock:
            return [self._snapshot(slot, now) for slot in self._slots]

    def wait_for(self, predicate: Callable[[list[ModemHealth]], bool], timeout: float) -> bool:
        """Block until ``predicate(health())`` holds (checked at each state change) or
        ``timeout`` seconds passed; whether it holds."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self.health()), timeout)

    def refresh_status(self) -> None:
        """Read signal, registration and storage of every ready modem now (this thread)."""
        for slot in self._slots:
            modem = slot.modem
            if slot.state == "ready" and modem is not None:
                try:
                    modem.refresh_status()
                except (ModemGone, ModemTimeout) as exc:
                    self._mark_gone(slot, exc, modem)
                except ModemError as exc:
                    self._set_error(slot, exc)

    def _snapshot(self, slot: _Slot, now: float) -> ModemHealth:
        modem = slot.modem
        return ModemHealth(
            name=slot.config.label, url=slot.config.url, state=slot.state,
            identity=modem.identity if modem else (slot.known or Identity()),
            network=modem.status if modem else NetworkStatus(),
            last_error=slot.last_error, last_error_at=slot.last_error_at,
            sent_today=slot.sent_today, daily_quota=slot.config.daily_quota,
            reopen_attempts=slot.reopen_attempts,
            next_reopen_in=max(0.0, slot.reopen_at - now) if slot.reopen_at else None,
            identity_changed=slot.identity_changed, **slot.counters)


def _region_of(number: str) -> str | None:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return None

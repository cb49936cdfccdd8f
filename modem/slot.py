"""One modem's place in the pool (:class:`Slot`) and its health snapshot (:class:`ModemHealth`).

A slot holds the open :class:`modem.driver.Modem` (if any), its state, counters, send limits,
last error and reopen backoff. It is guarded by the pool's lock: every method and field
access happens under it, and nothing here talks to a modem or raises.
:class:`ModemHealth` is a frozen snapshot, plain data (``dataclasses.asdict`` works), safe
to hand to any thread. Times: ``*_at`` are aware datetimes of the pool's clock,
``next_reopen_in`` and backoffs are seconds, ``reopen_at`` monotonic seconds.
"""
from __future__ import annotations

import dataclasses
import logging
from datetime import datetime

from modem.driver import Modem, PowerWarning
from modem.identity import Identity, NetworkStatus
from modem.limits import SendLimits
from modem.transport import ModemConfig

log = logging.getLogger(__name__)
COUNTERS = ("sent_parts", "rejected", "unknown", "received", "reports", "chatter_dropped")


@dataclasses.dataclass(frozen=True)
class ModemHealth:
    """A snapshot of one modem, plain data. ``state``: starting, ready, gone (reopened with
    backoff), failed (needs a person: PIN/PUK) or stopped. ``next_reopen_in`` is seconds.
    ``last_power_warning`` is the modem's last power notice (``UNDER-VOLTAGE WARNNING``,
    ``NORMAL POWER DOWN``...) as printed, kept across reopens: it often explains them."""

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
    last_power_warning: str | None = None  # the modem's last power notice, as printed
    last_power_warning_at: datetime | None = None
    chatter_dropped: int = 0  # signal/registration notices dropped from a full events queue
    sending: int = 0  # sends in progress on this modem now

    @property
    def healthy(self) -> bool:
        return self.state == "ready" and self.network.registered


@dataclasses.dataclass
class Slot:
    """One configured modem and its bookkeeping (guarded by the pool's lock)."""

    config: ModemConfig
    modem: Modem | None = None
    state: str = "starting"
    last_error: str | None = None
    last_error_at: datetime | None = None
    counters: dict = dataclasses.field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    limits: SendLimits = dataclasses.field(init=False)
    reopen_attempts: int = 0
    reopen_at: float | None = None
    known: Identity | None = None
    identity_changed: bool = False
    power_warning: PowerWarning | None = None  # kept across reopens: it may explain them
    sending: int = 0  # sends the pool handed to this modem that have not returned yet

    def __post_init__(self) -> None:
        self.limits = SendLimits(self.config.rate_limit_per_minute, self.config.daily_quota)

    @property
    def label(self) -> str:
        return self.config.label

    @property
    def usable(self) -> bool:
        """Ready, registered and not being set up again after a restart: a candidate for
        sending."""
        modem = self.modem
        return (self.state == "ready" and modem is not None and modem.status.registered
                and not modem.reinitialising)

    def ready(self, modem: Modem, identity: Identity) -> None:
        """``modem`` opened as ``identity``; a different SIM or modem than before is flagged."""
        known = self.known
        changed = known is not None and (known.imsi, known.imei) != (identity.imsi, identity.imei)
        if changed:
            log.warning("%s: now IMSI %s IMEI %s (was %s / %s)", self.label,
                        identity.imsi, identity.imei, known.imsi, known.imei)
        self.identity_changed = self.identity_changed or changed
        self.known, self.modem, self.state = identity, modem, "ready"
        self.reopen_attempts, self.reopen_at = 0, None

    def schedule_reopen(self, monotonic: float, first: float, cap: float) -> float:
        """Gone: the next reopen after a backoff doubling from ``first`` up to ``cap``
        seconds per attempt; the backoff."""
        delay = min(first * 2 ** self.reopen_attempts, cap)
        self.reopen_at = monotonic + delay
        self.reopen_attempts += 1
        return delay

    def reopen_due(self, monotonic: float) -> bool:
        return self.state == "gone" and self.reopen_at is not None and monotonic >= self.reopen_at

    def take_stale(self) -> Modem | None:
        """The modem of a gone slot, detached (to be closed outside the lock), else None."""
        if self.state != "gone":
            return None
        stale, self.modem = self.modem, None
        return stale

    def record_error(self, exc: BaseException, when: datetime, state: str | None = None) -> None:
        self.last_error, self.last_error_at = str(exc), when
        self.state = state or self.state

    def snapshot(self, now: float) -> ModemHealth:
        """The health of this slot; ``now`` is monotonic seconds."""
        modem = self.modem
        return ModemHealth(
            name=self.label, url=self.config.url, state=self.state,
            identity=modem.identity if modem else (self.known or Identity()),
            network=modem.status if modem else NetworkStatus(),
            last_error=self.last_error, last_error_at=self.last_error_at,
            sent_today=self.limits.sent_today, daily_quota=self.config.daily_quota,
            reopen_attempts=self.reopen_attempts,
            next_reopen_in=max(0.0, self.reopen_at - now) if self.reopen_at else None,
            identity_changed=self.identity_changed,
            last_power_warning=self.power_warning.text if self.power_warning else None,
            last_power_warning_at=self.power_warning.at if self.power_warning else None,
            sending=self.sending, **self.counters)

"""One modem on top of :class:`AtEngine`: init, identity, network status, sending, receiving.

:class:`Modem` initialises (echo off, numeric errors, PIN, PDU mode, storage, indications),
identifies (:mod:`modem.identity`) and sends. What arrives is handled by its
:class:`modem.inbox.Inbox` (SMS: notices, the sweep, reassembly, hand-over; status reports
handed over as they come, unmatched), on the engine's events thread. The message types are
re-exported here.
"""
from __future__ import annotations

import dataclasses
import logging
import random
import threading
from datetime import datetime
from typing import Callable

from modem.at import commands as at
from modem.at import results
from modem.at.engine import AtEngine, Urc, Waits
from modem.exceptions import (CommandRejected, ModemGone, ModemTimeout, PinRequired, PukRequired,
                          SendOutcomeUnknown, SendRejected, SimNotReady, WrongPin)
from modem.identity import (DOMAINS, Identity, NetworkStatus, combined, confirmed_home,
                            read_domains, read_identity, read_status)
from modem.inbox import Inbox, InboundSms
from modem.pdu.codec import encode_submit
from modem.routing import Routing, negotiate as negotiate_routing
from modem.restart import Reinitialiser
from modem.delivery import DeliveryReport, PartReceipt
from modem.clock import Clock, SystemClock
from modem.transport import ModemConfig, open_port

log = logging.getLogger(__name__)
__all__ = ["Modem", "Identity", "NetworkStatus", "PartReceipt", "DeliveryReport", "InboundSms",
           "PowerWarning"]


@dataclasses.dataclass(frozen=True)
class PowerWarning:
    """A power notice from the modem (``UNDER-VOLTAGE WARNNING``, ``NORMAL POWER DOWN``...):
    the line as printed, and when it came (aware UTC, the modem's clock)."""

    text: str
    at: datetime


class Modem:
    """One modem on one port. Thread-safe: any thread may call :meth:`send` or ``command``.

    ``on_sms(InboundSms)`` and ``on_report(DeliveryReport)`` run on the modem's events
    thread; a status report reaches ``on_report`` as it came, not matched to any receipt
    (it may even come before :meth:`send` returned that receipt: matching is the
    receiver's job). With ``auto_ack`` a message is deleted from the SIM once ``on_sms``
    returned; without it the receiver calls ``message.ack()`` itself (after its commit).
    ``on_gone(exc)`` is called once, on the reader thread, when the port fails.
    ``on_power_warning(PowerWarning)`` runs on the events thread for each power notice; the
    last one is also kept in :attr:`power_warning`. ``waits`` does every wait of the engine
    (:class:`modem.at.engine.AtEngine`; default: the wall clock). ``on_chatter_dropped(urc)``
    runs on the reader thread for each chatter notice (signal, registration) dropped from a
    full events queue; message and report notices are never dropped (:mod:`modem.at.events`).
    After a restart (``RDY``, ``^SYSSTART``) the modem is initialised again on a thread of
    its own (:mod:`modem.restart`), :attr:`reinitialising` meanwhile.
    """

    def __init__(self, config: ModemConfig, *, clock: Clock | None = None,
                 on_sms: Callable[[InboundSms], None] | None = None,
                 on_report: Callable[[DeliveryReport], None] | None = None,
                 on_gone: Callable[[BaseException], None] | None = None,
                 on_power_warning: Callable[[PowerWarning], None] | None = None,
                 auto_ack: bool = True, opener: Callable = open_port,
                 transcript: Callable[[str, str], None] | None = None,
                 reassembly_timeout: float = 300.0, waits: Waits | None = None,
                 on_chatter_dropped: Callable[[Urc], None] | None = None):
        self.config = config
        self.name = config.label
        self._clock = clock or SystemClock()
        self._opener = opener
        self._on_gone = on_gone
        self._on_power_warning = on_power_warning
        self._on_chatter_dropped = on_chatter_dropped
        self._restarts = Reinitialiser(self.name, self._after_restart, self._gone)
        self.power_warning: PowerWarning | None = None
        self._transcript = transcript
        self._waits = waits
        self.engine: AtEngine | None = None
        self.identity = Identity()
        self.status = NetworkStatus()
        self.routing = Routing()  # what AT+CSMS and AT+CNMI gave, at each initialisation
        self._domains: dict[str, str | None] = dict.fromkeys(DOMAINS)
        self.inbox = Inbox(self, on_sms=on_sms, on_report=on_report, auto_ack=auto_ack,
                           clock=self._clock, reassembly_timeout=reassembly_timeout)
        self._concat_reference = random.randrange(256)
        self._reference_lock = threading.Lock()

    # ------------------------------------------------------------ lifecycle
    def open(self) -> Identity:
        """Open the port, start the engine, initialise and identify the modem.

        Raises ModemGone (port), ModemTimeout (no answer), PinError subclasses, SimNotReady
        or CommandRejected; the port is closed again on any failure.
        """
        port = self._opener(self.config)
        cfg = self.config
        self.engine = AtEngine(port, name=self.name, on_urc=self._on_urc, on_gone=self._gone,
                               transcript=self._transcript, command_timeout=cfg.command_timeout,
                               busy_retries=cfg.busy_retries, busy_backoff=cfg.busy_backoff,
                               waits=self._waits, on_drop=self._on_chatter_dropped)
        self.engine.start()
        try:
            self.initialise()
            self.identify()
            self.refresh_status()
        except BaseException:  # never leave the engine's threads running
            self.close()
            raise
        return self.identity

    def close(self) -> None:
        """Stop the engine and close the port (idempotent), and wait for a
        re-initialisation in progress to end (its commands now fail at once)."""
        if self.engine is not None:
            self.engine.stop()
        self._restarts.join(5.0)

    @property
    def reinitialising(self) -> bool:
        """True while the modem is set up again after a restart: not a time to send."""
        return self._restarts.running

    @property
    def gone(self) -> bool:
        return self.engine is None or self.engine.gone

    def command(self, command: str, timeout: float | None = None) -> list[str]:
        """Run one AT command (see :meth:`AtEngine.command`); ModemGone if not open."""
        if self.engine is None:
            raise ModemGone(f"{self.name}: not open")
        return self.engine.command(command, timeout)

    def _gone(self, exc: BaseException) -> None:
        if self._on_gone:
            self._on_gone(exc)

    # ------------------------------------------------------------ init and identity
    def initialise(self) -> None:
        """Echo off, numeric errors, PIN, PDU mode, storage, new-message indications."""
        self._prepare()
        self._unlock()
        self.command(at.PDU_MODE)
        self._select_storage()
        self._enable_indications()
        for command in at.REGISTRATION_URCS:
            self.optional(command)

    def _prepare(self) -> None:
        """``AT``, ``ATE0``, ``AT+CMEE=1``, retried with backoff: a booting modem may miss
        one, and before ``AT+CMEE=1`` a busy SIM can only answer a bare ``ERROR``."""
        for attempt in range(self.config.busy_retries + 1):
            try:
                for command in (at.ATTENTION, at.ECHO_OFF, at.NUMERIC_ERRORS):
                    self.command(command)
                return
            except (ModemTimeout, CommandRejected) as exc:
                silent = isinstance(exc, ModemTimeout)  # a mute modem gets one more chance
                if attempt == self.config.busy_retries or (silent and attempt >= 1):
                    raise
                self.engine.pause(attempt)

    def _unlock(self) -> None:
        state = self._pin_state()
        if state == "SIM PIN":
            if not self.config.pin:
                raise PinRequired(self.name)
            self._enter_pin()
            state = self._pin_state()
        if state == "SIM PUK":
            raise PukRequired(self.name)
        if state != "READY":
            raise SimNotReady(f"{self.name}: SIM state is {state!r}")

    def _pin_state(self) -> str | None:
        try:
            return at.pin_state(self.command(at.PIN_STATUS))
        except CommandRejected as exc:
            if exc.code == results.CME_SIM_PIN_REQUIRED:
                return "SIM PIN"
            if exc.code == results.CME_SIM_PUK_REQUIRED:
                return "SIM PUK"
            raise SimNotReady(f"{self.name}: SIM not ready ({exc})") from exc

    def _enter_pin(self) -> None:
        try:
            self.command(at.PIN_ENTER.format(pin=self.config.pin))
        except CommandRejected as exc:
            if exc.code == results.CME_SIM_PUK_REQUIRED:
                raise PukRequired(self.name) from exc
            raise WrongPin(self.name) from exc

    def _select_storage(self) -> None:
        mem = self.config.storage
        usage = at.storage_usage(self.command(at.STORAGE_SELECT.format(mem=mem)))
        if usage:
            self.status = dataclasses.replace(self.status, storage_used=usage[0],
                                              storage_total=usage[1])

    def _enable_indications(self) -> None:
        """The SMS service phase and the indications (:mod:`modem.routing`): what the
        inbox acknowledges with AT+CNMA after the commit, or reads from the SIM."""
        self.routing = negotiate_routing(self.optional, self.command, self.config.cnmi, self.name)

    def optional(self, command: str) -> list[str] | None:
        """Run a command the modem may not support: its lines, or None if rejected."""
        try:
            return self.command(command)
        except CommandRejected as exc:
            log.debug("%s: %s", self.name, exc)
            return None

    def identify(self) -> Identity:
        """Read IMEI, IMSI, ICCID, make, model, revision, own number and SMSC."""
        self.identity = read_identity(self.optional, self.config.own_number)
        return self.identity

    def refresh_status(self) -> NetworkStatus:
        """Read registration (CREG and CEREG), operator (COPS), storage (CPMS), signal (CSQ)."""
        self._domains = read_domains(self.optional)
        self.status = read_status(self.optional, self._domains)
        self.identity = confirmed_home(self.identity, self.status)
        return self.status

    # ------------------------------------------------------------ sending
    def send(self, destination: str, text: str, *, status_report: bool = True,
             on_late: Callable[[PartReceipt], None] | None = None) -> list[PartReceipt]:
        """Send ``text`` to ``destination`` (E.164); one receipt per part, in order.

        Raises ValueError (bad destination), SendRejected (with its CMS code; ``accepted``
        lists parts that went out before), SendOutcomeUnknown (may have been sent),
        ModemTimeout (no prompt: nothing of this part was sent) or ModemGone.
        After SendOutcomeUnknown, a ``+CMGS: <mr>`` that still comes for the part given up
        reaches ``on_late(PartReceipt)`` on the events thread (see AtEngine.submit).
        """
        if self.engine is None:
            raise ModemGone(f"{self.name}: not open")
        parts = encode_submit(destination, text, request_status_report=status_report,
                              concat_reference=self._next_concat_reference())
        receipts: list[PartReceipt] = []
        for part in parts:
            receipts.append(self._send_part(destination, part, tuple(receipts), on_late))
        return receipts

    def _send_part(self, destination: str, part, accepted: tuple,
                   on_late: Callable[[PartReceipt], None] | None = None) -> PartReceipt:
        cfg = self.config
        written_at = self._clock.now()
        late = None if on_late is None else (
            lambda lines: on_late(self._receipt(destination, part, lines, written_at)))
        try:
            lines = self.engine.submit(part.tpdu_length, part.pdu_hex,
                                       prompt_timeout=cfg.prompt_timeout,
                                       result_timeout=cfg.send_timeout, on_late=late)
        except CommandRejected as exc:
            code = exc.code if exc.kind in ("CMS", "CME") else None
            raise SendRejected(code, f"{self.name}: {exc}", accepted) from exc
        except SendOutcomeUnknown as exc:
            raise SendOutcomeUnknown(f"{self.name}: {exc}", accepted) from exc
        except (ModemGone, ModemTimeout) as exc:
            if accepted:  # part of the message is out: never resend it elsewhere
                raise SendOutcomeUnknown(f"{self.name}: part {part.part_number} not sent: {exc}",
                                         accepted) from exc
            raise
        return self._receipt(destination, part, lines, self._clock.now())

    def _receipt(self, destination: str, part, lines: list[str], when) -> PartReceipt:
        return PartReceipt(
            modem=self.name, reference=at.message_reference(lines), destination=destination,
            part_number=part.part_number, part_count=part.part_count,
            concat_reference=part.reference, submitted_at=when)

    def _next_concat_reference(self) -> int:
        with self._reference_lock:
            self._concat_reference = (self._concat_reference + 1) % 256
            return self._concat_reference

    # ------------------------------------------------------------ events thread
    def maintain(self) -> bool:
        """Queue a maintenance pass on the events thread: network status, storage, sweep of
        stored messages, delivery of reassembly leftovers. False if it could not be queued."""
        if self.engine is None or self.engine.gone:
            return False
        return self.engine.post(self._maintenance)

    def _maintenance(self) -> None:
        self.refresh_status()
        self.inbox.sweep()
        self.inbox.expire_parts()

    def _on_urc(self, urc: Urc) -> None:
        if urc.name in ("+CREG", "+CEREG"):  # an LTE-only modem may be on one domain only
            self._domains[urc.name] = at.registration_urc(urc.args, urc.name)
            self.status = dataclasses.replace(self.status, registration=combined(self._domains))
        elif urc.name == "^RSSI":
            self.status = dataclasses.replace(self.status, signal_dbm=at.signal_dbm([f"+CSQ: {urc.args}"]))
        elif urc.name in ("RDY", "^SYSSTART"):
            log.warning("%s: the modem restarted; initialising it again", self.name)
            self._restarts.request()  # off this thread: notices keep being handled
        elif urc.name in results.POWER_NOTICES:
            self._power_notice(urc.line)
        else:
            self.inbox.on_urc(urc)

    def _after_restart(self) -> None:
        """On ``modem-reinit-NAME``: the settings again, then a maintenance pass on the
        events thread (status; a sweep for what came while nothing was announced)."""
        self.initialise()
        self.maintain()

    def _power_notice(self, text: str) -> None:
        log.error("%s: %s", self.name, text)
        self.power_warning = PowerWarning(text, self._clock.now())
        if self._on_power_warning is not None:
            self._on_power_warning(self.power_warning)

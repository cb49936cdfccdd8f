"""One modem on top of :class:`AtEngine`: init, identity, network status, sending, receiving.

:class:`Modem` initialises, identifies and sends; its :class:`Inbox` handles what arrives
(``+CMTI``/``+CMT``/``+CDS``/``+CDSI``, the ``AT+CMGL`` sweep, reassembly of concatenated
parts, delivery reports matched to the part receipts) on the engine's events thread.
"""
from __future__ import annotations

import collections
import dataclasses
import logging
import random
import threading
from datetime import datetime
from typing import Callable

from modem import commands as at
from modem import results
from modem.engine import AtEngine, Urc
from modem.errors import (CommandRejected, ModemError, ModemGone, ModemTimeout, PinRequired,
                          PukRequired, SendOutcomeUnknown, SendRejected, SimNotReady, WrongPin)
from modem.pdu import DeliveredSms, PduError, Reassembler, StatusReport, decode_pdu, encode_submit
from modem.transport import Clock, ModemConfig, SystemClock, open_port

log = logging.getLogger(__name__)
#: Periodic vendor notices (Huawei sticks print them every few seconds): debug-logged only.
_CHATTER = frozenset({"^HCSQ", "^BOOT", "^MODE", "^SRVST", "+QIND", "+CIEV", "+CPIN", "+CFUN"})
__all__ = ["Modem", "Identity", "NetworkStatus", "PartReceipt", "DeliveryReport", "InboundSms"]


@dataclasses.dataclass(frozen=True)
class Identity:
    """What a modem and its SIM say about themselves (``None`` when not available).

    ``home_network`` is the SIM's MCC+MNC (from ``AT+COPS`` when registered at home, else
    from the IMSI); ``own_number`` is the configured number or the SIM's ``AT+CNUM``.
    """

    manufacturer: str | None = None
    model: str | None = None
    revision: str | None = None
    imei: str | None = None
    imsi: str | None = None
    iccid: str | None = None
    home_network: str | None = None
    own_number: str | None = None
    smsc: str | None = None


@dataclasses.dataclass(frozen=True)
class NetworkStatus:
    """``registration``: home, roaming, searching, denied, not_registered or unknown;
    ``signal_dbm``: from ``AT+CSQ`` (None when unknown); ``operator``: serving MCC+MNC."""

    registration: str = "unknown"
    signal_dbm: int | None = None
    operator: str | None = None
    storage_used: int | None = None
    storage_total: int | None = None

    @property
    def registered(self) -> bool:
        return self.registration in ("home", "roaming")

    @property
    def storage_full(self) -> bool:
        return self.storage_total is not None and (self.storage_used or 0) >= self.storage_total


class Modem:
    """One modem on one port. Thread-safe: any thread may call :meth:`send` or ``command``.

    ``on_sms(InboundSms)`` and ``on_report(DeliveryReport)`` run on the modem's events
    thread. With ``auto_ack`` a message is deleted from the SIM once ``on_sms`` returned;
    without it the receiver calls ``message.ack()`` itself (after its commit).
    ``on_gone(exc)`` is called once, on the reader thread, when the port fails.
    """

    def __init__(self, config: ModemConfig, *, clock: Clock | None = None,
                 on_sms: Callable[[InboundSms], None] | None = None,
                 on_report: Callable[[DeliveryReport], None] | None = None,
                 on_gone: Callable[[BaseException], None] | None = None,
                 auto_ack: bool = True, opener: Callable = open_port,
                 transcript: Callable[[str, str], None] | None = None,
                 backoff_wait: Callable[[float], object] | None = None,
                 reassembly_timeout: float = 300.0):
        self.config = config
        self.name = config.label
        self._clock = clock or SystemClock()
        self._opener = opener
        self._on_gone = on_gone
        self._transcript = transcript
        self._backoff_wait = backoff_wait
        self.engine: AtEngine | None = None
        self.identity = Identity()
        self.status = NetworkStatus()
        self._domains: dict[str, str | None] = {"+CREG": None, "+CEREG": None}
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
                               backoff_wait=self._backoff_wait)
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
        """Stop the engine and close the port (idempotent)."""
        if self.engine is not None:
            self.engine.stop()

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
        if self.config.cnmi:
            self.command(at.NEW_MESSAGE_INDICATION.format(args=self.config.cnmi))
            return
        for command in at.NEW_MESSAGE_INDICATIONS:
            if self.optional(command) is not None:
                break
        else:
            log.warning("%s: no new-message indications; only the sweep will find SMS", self.name)

    def optional(self, command: str) -> list[str] | None:
        """Run a command the modem may not support: its lines, or None if rejected."""
        try:
            return self.command(command)
        except CommandRejected as exc:
            log.debug("%s: %s", self.name, exc)
            return None

    def identify(self) -> Identity:
        """Read IMEI, IMSI, ICCID, make, model, revision, own number and SMSC."""
        imsi = at.digits_value(self.optional(at.IMSI) or [], 6)
        self.identity = Identity(
            manufacturer=at.plain_value(self.optional(at.MANUFACTURER) or []),
            model=at.plain_value(self.optional(at.MODEL) or []),
            revision=at.plain_value(self.optional(at.REVISION) or []),
            imei=at.digits_value(self.optional(at.IMEI) or [], 14),
            imsi=imsi, iccid=self._iccid(), home_network=at.network_from_imsi(imsi),
            own_number=self.config.own_number or at.own_number(self.optional(at.OWN_NUMBER) or []),
            smsc=at.smsc_number(self.optional(at.SMSC) or []),
        )
        return self.identity

    def _iccid(self) -> str | None:
        for command in at.ICCID:
            found = at.iccid_value(self.optional(command) or [])
            if found:
                return found
        return None

    def refresh_status(self) -> NetworkStatus:
        """Read registration (CREG and CEREG), signal (CSQ), operator (COPS), storage (CPMS)."""
        self._domains = {
            "+CREG": at.registration_answer(self.optional(at.REGISTRATION_CS) or [], "+CREG:"),
            "+CEREG": at.registration_answer(self.optional(at.REGISTRATION_EPS) or [], "+CEREG:")}
        registration = at.combined_registration(self._domains["+CREG"], self._domains["+CEREG"])
        self.optional(at.OPERATOR_FORMAT_NUMERIC)
        operator = at.operator_numeric(self.optional(at.OPERATOR) or [])
        usage = at.storage_usage(self.optional(at.STORAGE_STATUS) or [])
        self.status = NetworkStatus(
            registration=registration, signal_dbm=at.signal_dbm(self.optional(at.SIGNAL) or []),
            operator=operator, storage_used=usage[0] if usage else None,
            storage_total=usage[1] if usage else None)
        imsi = self.identity.imsi or ""
        if operator and registration == "home" and imsi.startswith(operator):
            self.identity = dataclasses.replace(self.identity, home_network=operator)
        return self.status

    # ------------------------------------------------------------ sending
    def send(self, destination: str, text: str, *, status_report: bool = True) -> list[PartReceipt]:
        """Send ``text`` to ``destination`` (E.164); one receipt per part, in order.

        Raises ValueError (bad destination), SendRejected (with its CMS code; ``accepted``
        lists parts that went out before), SendOutcomeUnknown (may have been sent),
        ModemTimeout (no prompt: nothing of this part was sent) or ModemGone.
        """
        if self.engine is None:
            raise ModemGone(f"{self.name}: not open")
        parts = encode_submit(destination, text, request_status_report=status_report,
                              concat_reference=self._next_concat_reference())
        receipts: list[PartReceipt] = []
        for part in parts:
            receipts.append(self._send_part(destination, part, tuple(receipts)))
        return receipts

    def _send_part(self, destination: str, part, accepted: tuple) -> PartReceipt:
        cfg = self.config
        try:
            lines = self.engine.submit(part.tpdu_length, part.pdu_hex,
                                       prompt_timeout=cfg.prompt_timeout,
                                       result_timeout=cfg.send_timeout)
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
        receipt = PartReceipt(
            modem=self.name, reference=at.message_reference(lines), destination=destination,
            part_number=part.part_number, part_count=part.part_count,
            concat_reference=part.reference, submitted_at=self._clock.now())
        self.inbox.expect_report(receipt)
        return receipt

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
            self._domains[urc.name] = at.registration_urc(urc.args)
            registration = at.combined_registration(self._domains["+CREG"], self._domains["+CEREG"])
            self.status = dataclasses.replace(self.status, registration=registration)
        elif urc.name == "^RSSI":
            self.status = dataclasses.replace(self.status, signal_dbm=at.signal_dbm([f"+CSQ: {urc.args}"]))
        elif urc.name in ("RDY", "^SYSSTART"):
            log.warning("%s: the modem restarted; initialising it again", self.name)
            self.initialise()
        elif urc.name in ("UNDER-VOLTAGE", "OVER-VOLTAGE", "NORMAL POWER DOWN", "POWERED DOWN"):
            log.error("%s: %s", self.name, urc.line)
        else:
            self.inbox.on_urc(urc)


# ---------------------------------------------------------------- receiving
@dataclasses.dataclass(frozen=True)
class PartReceipt:
    """One accepted SMS-SUBMIT: ``reference`` is the ``+CMGS`` TP-MR (0-255, None if the
    modem gave none); ``submitted_at`` is aware UTC from the modem's clock."""

    modem: str
    reference: int | None
    destination: str
    part_number: int
    part_count: int
    concat_reference: int | None
    submitted_at: datetime


@dataclasses.dataclass(frozen=True)
class DeliveryReport:
    """A status report. ``outcome``: ``delivered``, ``temporary_failure`` (the SMSC is still
    trying; a final report may follow) or ``permanent_failure``. ``receipt`` is the part it
    reports, or None when no receipt of this modem session matches."""

    modem: str
    reference: int
    recipient: str
    outcome: str
    status: int
    discharge_time: datetime | None
    receipt: PartReceipt | None


@dataclasses.dataclass(frozen=True)
class InboundSms:
    """A received SMS (reassembled; ``partial`` when parts were missing at the timeout).

    Until :meth:`ack` is called it stays on the SIM (when it was stored there); :meth:`release`
    gives it back to the next sweep. Both are idempotent and may be called from any thread.
    """

    modem: str
    recipient: str | None
    sender: str
    text: str
    smsc_timestamp: datetime | None
    smsc: str | None
    partial: bool
    received_at: datetime
    _claim: "_Claim" = dataclasses.field(repr=False, compare=False)

    def ack(self) -> None:
        """Delete the message from the SIM. Raises ModemError (it then stays claimed)."""
        self._claim.ack()

    def release(self) -> None:
        """Not handled: leave it on the SIM for the next sweep."""
        self._claim.release()


class _Claim:
    """SIM indices held by one InboundSms until it is acknowledged or released."""

    def __init__(self, inbox: "Inbox", indices: tuple[int, ...]):
        self._inbox, self._indices = inbox, indices

    def ack(self) -> None:
        indices, self._indices = self._indices, ()
        self._inbox.delete(indices)

    def release(self) -> None:
        indices, self._indices = self._indices, ()
        self._inbox.unclaim(indices)

    def __deepcopy__(self, memo):  # dataclasses.asdict(InboundSms) must not copy the modem
        return self


def _tail(number: str) -> str:
    """The last 8 digits: national and international forms of a number compare equal."""
    return "".join(ch for ch in number if ch.isdigit())[-8:]


class Inbox:
    """What arrives at one modem. Runs on the modem's events thread, except
    :meth:`expect_report`, :meth:`delete` and :meth:`unclaim` (any thread)."""

    ORPHAN_WAIT = 30.0  # seconds a report waits for the receipt of a send still returning
    RECEIPTS_KEPT = 4096

    def __init__(self, modem: Modem, *, on_sms, on_report, auto_ack: bool, clock: Clock,
                 reassembly_timeout: float):
        self._modem, self._on_sms, self._on_report = modem, on_sms, on_report
        self._auto_ack, self._clock = auto_ack, clock
        self._reassembler = Reassembler(reassembly_timeout)
        self._timeout = reassembly_timeout
        self._parts: dict[tuple, tuple[float, list[int]]] = {}
        self._lock = threading.Lock()  # guards the three fields below
        self._claimed: set[int] = set()
        self._receipts: collections.OrderedDict = collections.OrderedDict()
        self._orphans: dict[tuple, tuple[float, StatusReport]] = {}

    def on_urc(self, urc: Urc) -> None:
        """Dispatch a message-related URC; others are logged."""
        if urc.name in ("+CMTI", "+CDSI"):
            notice = at.stored_notice(urc.args)
            if notice:
                self.read_stored(notice[1])
        elif urc.name in ("+CMT", "+CDS") and urc.pdu:
            self._direct(urc.pdu)
        elif urc.name == "^SMMEMFULL" or (urc.name == "+CIEV" and "FULL" in urc.args.upper()):
            log.warning("%s: message store full, draining it", self._modem.name)
            self.sweep()
        elif urc.name in _CHATTER:
            log.debug("%s: %s", self._modem.name, urc.line)
        else:
            log.info("%s: %s", self._modem.name, urc.line)

    def read_stored(self, index: int) -> None:
        """Read stored message ``index`` (AT+CMGR) and hand it over unless already claimed."""
        with self._lock:
            if index in self._claimed:
                return
        pdu = at.read_pdu(self._modem.command(at.READ.format(index=index)))
        if pdu:
            self._stored(index, pdu)

    def sweep(self) -> int:
        """List every stored message (AT+CMGL=4), handle those not yet claimed; their count."""
        listing = at.listed_pdus(self._modem.command(at.LIST_ALL))
        with self._lock:
            fresh = [(index, pdu) for index, pdu in listing if index not in self._claimed]
        for index, pdu in fresh:
            self._stored(index, pdu)
        return len(fresh)

    def _stored(self, index: int, pdu: str) -> None:
        try:
            decoded = decode_pdu(pdu)
        except PduError as exc:
            log.error("%s: deleting undecodable message %d (%s): %s", self._modem.name, index,
                      exc, pdu)
            self.delete((index,))
            return
        if isinstance(decoded, StatusReport):
            self._report(decoded)
            self.delete((index,))
        else:
            self._part(decoded, (index,))

    def _direct(self, pdu: str) -> None:
        """``+CMT``/``+CDS``: not stored; acknowledged (when required) once handed over."""
        try:
            decoded = decode_pdu(pdu)
        except PduError as exc:
            log.error("%s: undecodable direct message (%s): %s", self._modem.name, exc, pdu)
            decoded = None
        if isinstance(decoded, StatusReport):
            self._report(decoded)
        elif decoded is not None and not self._part(decoded, ()):
            return  # not handed over: no acknowledgement, the network delivers it again
        # Required with CSMS service 1 and by many modems regardless; others answer
        # CMS 340 ("no acknowledgement expected"), which is harmless.
        self._modem.optional(at.ACKNOWLEDGE)

    def _part(self, sms: DeliveredSms, indices: tuple[int, ...]) -> bool:
        """Feed the reassembler; hand the whole message over when complete."""
        now = self._clock.monotonic()
        self._claim(indices)
        key = (sms.sender, sms.concat[0], sms.concat[1]) if sms.concat else None
        if key is not None:  # mirrors Reassembler's own bookkeeping, in the same order
            self._parts.setdefault(key, (now, []))[1].extend(indices)
        whole = self._reassembler.add(sms, now)
        if whole is None:
            return True
        if key is not None:
            indices = tuple(self._parts.pop(key)[1])
        return self._hand_over(whole, indices, partial=False)

    def expire_parts(self) -> None:
        """Hand over incomplete messages past the reassembly timeout, and orphan reports."""
        now = self._clock.monotonic()
        due = [key for key, (seen, _) in self._parts.items() if now - seen >= self._timeout]
        for key, sms in zip(due, self._reassembler.expire(now)):
            self._hand_over(sms, tuple(self._parts.pop(key)[1]), partial=True)
        with self._lock:
            stale = [k for k, (seen, _) in self._orphans.items() if now - seen >= self.ORPHAN_WAIT]
            reports = [self._orphans.pop(key)[1] for key in stale]
        for report in reports:
            self._deliver_report(report, None)

    def _hand_over(self, sms: DeliveredSms, indices: tuple[int, ...], partial: bool) -> bool:
        message = InboundSms(
            modem=self._modem.name, recipient=self._modem.identity.own_number, sender=sms.sender,
            text=sms.text, smsc_timestamp=sms.smsc_timestamp, smsc=sms.smsc, partial=partial,
            received_at=self._clock.now(), _claim=_Claim(self, indices))
        if self._on_sms is None:
            log.warning("%s: no receiver for an SMS from %s", self._modem.name, sms.sender)
            message.release()
            return False
        try:
            self._on_sms(message)
        except Exception:  # noqa: BLE001  a receiver's failure leaves the SMS on the SIM
            log.exception("%s: receiver failed; the SMS stays on the SIM", self._modem.name)
            message.release()
            return False
        if self._auto_ack:
            message.ack()
        return True

    def _claim(self, indices) -> None:
        with self._lock:
            self._claimed.update(indices)

    def unclaim(self, indices) -> None:
        with self._lock:
            self._claimed.difference_update(indices)

    def delete(self, indices) -> None:
        """Delete stored messages (AT+CMGD) and forget their claims. Raises ModemError."""
        for index in indices:
            self._modem.command(at.DELETE.format(index=index))
            self.unclaim((index,))

    # ------------------------------------------------------------ delivery reports
    def expect_report(self, receipt: PartReceipt) -> None:
        """Remember a sent part so that its status report can be matched (any thread)."""
        if receipt.reference is None:
            return
        key = (receipt.reference, _tail(receipt.destination))
        with self._lock:
            self._receipts[key] = receipt
            while len(self._receipts) > self.RECEIPTS_KEPT:
                self._receipts.popitem(last=False)
            orphan = self._orphans.pop(key, None)
        if orphan is not None:  # the report overtook the +CMGS answer
            self._modem.engine.post(lambda: self._deliver_report(orphan[1], receipt))

    def _report(self, report: StatusReport) -> None:
        key = (report.reference, _tail(report.recipient))
        with self._lock:
            receipt = self._receipts.get(key)
            if receipt is None:
                self._orphans[key] = (self._clock.monotonic(), report)
                return
        self._deliver_report(report, receipt)

    def _deliver_report(self, report: StatusReport, receipt: PartReceipt | None) -> None:
        if not report.temporary and receipt is not None:
            with self._lock:
                self._receipts.pop((report.reference, _tail(report.recipient)), None)
        outcome = ("delivered" if report.delivered else
                   "temporary_failure" if report.temporary else "permanent_failure")
        delivery = DeliveryReport(self._modem.name, report.reference, report.recipient, outcome,
                                  report.status, report.discharge_time, receipt)
        if self._on_report is not None:
            self._on_report(delivery)
        else:
            log.info("%s: delivery report %s", self._modem.name, delivery)

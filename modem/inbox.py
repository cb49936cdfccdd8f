"""What arrives at one modem: stored and direct SMS, the sweep, reassembly, hand-over.

``+CMTI``/``+CDSI`` name a stored message, read with ``AT+CMGR`` in the memory the notice
names; ``+CMT``/``+CDS`` carry it directly; the sweep (``AT+CMGL=4``) finds whatever is
stored and not yet claimed (a lost notice, a message that arrived while nothing listened,
a full store). Concatenated parts are reassembled; after the reassembly timeout (seconds)
the parts received go out as they are, marked ``partial``; so they do earlier when another
message reuses the reference (a part number comes again with other text), or when waiting
parts fill half the store, or it is full. Each status report goes to ``on_report`` as a
:class:`modem.delivery.DeliveryReport`, unmatched (the receiver matches it to its part).

Nothing received is let go before the receiver has it: what is handed over holds a claim
(:mod:`modem.message_store`) until the receiver acknowledges it (``ack()``, after its
commit: the stored copies are deleted and a direct delivery is acknowledged with
``AT+CNMA``, when the modem runs phase 2+ and so waits for it, :mod:`modem.routing`) or
gives it back (``release()``: left on the SIM; a direct delivery refused with
``AT+CNMA=2``, so that the network delivers it again). With ``auto_ack`` the inbox
acknowledges once ``on_sms``/``on_report`` returned.

A PDU that :mod:`modem.pdu.decoding` calls undecodable is handed over like an SMS, as an
:class:`InboundSms` with ``undecodable`` (the reason) and ``pdu`` (the raw PDU), so that
it is kept before it leaves the SIM. Any other exception while decoding is a bug: logged
with its traceback, and the message stays on the SIM (a direct one is refused). An
SMS-SUBMIT found on the SIM is not received: it is left there, with a warning.

Threads: :class:`Inbox` runs on the modem's events thread; claims may be acknowledged or
released from any thread. ``on_sms`` and ``on_report`` run on the events thread. An
exception from ``on_sms`` is logged and leaves the message on the SIM (or refused); one
from ``on_report`` propagates to the events thread (which logs it) and leaves the report
on the SIM, or refused, so that it comes again. AT failures raise ModemError.
"""
from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Callable

from modem.at import commands as at
from modem.at.results import Urc
from modem.clock import Clock
from modem.delivery import DeliveryReport, outcome_of
from modem.message_store import Claim, Location, MessageStore
from modem.pdu.codec import (DeliveredSms, NotReceived, PduError, Reassembler, StatusReport,
                             decode_pdu, sender_of)
from modem.pdu.concat import Reassembled
from modem.routing import ACKNOWLEDGE, INDICATIONS, REJECT

if TYPE_CHECKING:
    from modem.driver import Modem

log = logging.getLogger(__name__)
#: Periodic vendor notices (Huawei sticks print them every few seconds): debug-logged only.
_CHATTER = frozenset({"^HCSQ", "^BOOT", "^MODE", "^SRVST", "+QIND", "+CIEV", "+CPIN", "+CFUN"})


@dataclasses.dataclass(frozen=True)
class InboundSms:
    """A received SMS (reassembled; ``partial`` when parts were missing when handed over).

    Until :meth:`ack` is called it stays on the SIM (when it was stored there) or
    unacknowledged (when it came directly); :meth:`release` gives it back. Both are
    idempotent and may be called from any thread.

    Nothing is judged stale here: the sweep hands over every stored message, including old
    ones already marked read (left by an earlier run, another program, or a crash before the
    acknowledgement), so nothing is lost. ``smsc_timestamp`` (aware, the SMSC's offset; when
    the network got it; None when the PDU's was no valid date) and ``received_at`` (aware
    UTC, when this modem handed it over) let the consumer decide what is too old, or already
    seen, to act on.

    ``undecodable`` is None for a decoded SMS; else it says why the PDU could not be
    decoded, ``pdu`` holds the raw PDU (hex, SMSC field first), ``text`` is empty and
    ``sender`` is what could be read of it (else empty).
    """

    modem: str
    recipient: str | None
    sender: str
    # Not in the repr: a log line about the message (a failure) must not carry a proof
    # token or a code it holds.
    text: str = dataclasses.field(repr=False)
    smsc_timestamp: datetime | None
    smsc: str | None
    partial: bool
    received_at: datetime
    _claim: Claim | None = dataclasses.field(repr=False, compare=False)
    undecodable: str | None = None
    pdu: str | None = dataclasses.field(default=None, repr=False)

    def ack(self) -> None:
        """Delete it from the SIM, or acknowledge its direct delivery. Raises ModemError
        (a stored one then stays claimed)."""
        if self._claim is not None:
            self._claim.ack()

    def release(self) -> None:
        """Not handled: leave it on the SIM for the next sweep (or refuse it)."""
        if self._claim is not None:
            self._claim.release()


class Inbox:
    """What arrives at one modem (see the module docstring for threads and raising)."""

    def __init__(self, modem: Modem, *, on_sms: Callable[[InboundSms], None] | None,
                 on_report: Callable[[DeliveryReport], None] | None, auto_ack: bool,
                 clock: Clock, reassembly_timeout: float):
        self._modem, self._on_sms, self._on_report = modem, on_sms, on_report
        self._auto_ack, self._clock = auto_ack, clock
        self._reassembler = Reassembler(reassembly_timeout)
        self._store_size: int | None = None  # the last size AT+CPMS gave
        self.store = MessageStore(modem)

    def on_urc(self, urc: Urc) -> None:
        """Dispatch a message-related URC; others are logged."""
        if urc.name in ("+CMTI", "+CDSI"):
            notice = at.stored_notice(urc.args)
            if notice:
                self.read_stored(notice[1], notice[0])
        elif urc.name in ("+CMT", "+CDS") and urc.pdu:
            self._direct(urc.pdu)
        elif urc.name == "^SMMEMFULL" or (urc.name == "+CIEV" and "FULL" in urc.args.upper()):
            log.warning("%s: message store full, draining it", self._modem.name)
            self.sweep()
            self._relieve_store(full=True)
        elif urc.name in _CHATTER:
            log.debug("%s: %s", self._modem.name, urc.line)
        else:
            log.info("%s: %s", self._modem.name, urc.line)

    def read_stored(self, index: int, memory: str | None = None) -> None:
        """Read stored message ``index`` of ``memory`` (None: the configured one) with
        AT+CMGR and hand it over unless already claimed."""
        location = self.store.location(memory, index)
        if self.store.claimed(location):
            return
        pdu = self.store.read(location)
        if pdu:
            self._stored(location, pdu)

    def sweep(self) -> int:
        """List every stored message (AT+CMGL=4: read or unread, however old) of every
        memory in use, handle those not yet claimed; their count. Staleness is the
        consumer's call (see InboundSms)."""
        fresh = [(location, pdu) for memory in self.store.memories()
                 for location, pdu in self.store.listing(memory)
                 if not self.store.claimed(location)]
        for location, pdu in fresh:
            self._stored(location, pdu)
        return len(fresh)

    # ------------------------------------------------------------ decoding
    def _stored(self, location: Location, pdu: str) -> None:
        self.store.claim((location,))
        claim = Claim(self.store, (location,))
        decoded = self._decoded(pdu, claim, f"{location[0]} {location[1]}", direct=False)
        if isinstance(decoded, StatusReport):
            self._report(decoded, claim)
        elif decoded is not None:
            self._part(decoded, (location,), direct=False)

    def _direct(self, pdu: str) -> None:
        """``+CMT``/``+CDS``: not stored; acknowledged after the receiver's ``ack()``."""
        claim = Claim(None, (), self._acknowledge_direct, self._refuse_direct)
        decoded = self._decoded(pdu, claim, "delivered directly", direct=True)
        if isinstance(decoded, StatusReport):
            self._report(decoded, claim)
        elif decoded is not None:
            self._part(decoded, (), direct=True)

    def _decoded(self, pdu: str, claim: Claim, where: str,
                 direct: bool) -> DeliveredSms | StatusReport | None:
        """The decoded PDU; None when it went another way: handed over as undecodable,
        left on the SIM (an SMS-SUBMIT, or a decoding bug: it stays claimed, so that it is
        tried again when the modem is next opened), or refused (a direct one that met a
        bug: the network delivers it again)."""
        name = self._modem.name
        try:
            return decode_pdu(pdu)
        except NotReceived as exc:
            if direct:  # not for the SIM to keep: kept in the inbox like an undecodable one
                self._hand_over(self._undecodable(pdu, str(exc), claim), claim)
            else:
                log.warning("%s: message %s is an SMS-SUBMIT, not a received SMS: left on "
                            "the SIM", name, where)
        except PduError as exc:
            log.error("%s: message %s is undecodable (%s): kept in the inbox", name, where, exc)
            self._hand_over(self._undecodable(pdu, str(exc), claim), claim)
        except Exception:  # noqa: BLE001  a bug of ours must not cost the message
            log.exception("%s: decoding message %s failed (a bug): %s", name, where,
                          "refused, the network delivers it again" if direct
                          else "it stays on the SIM")
            if direct:
                claim.release()
        return None

    def _undecodable(self, pdu: str, reason: str, claim: Claim) -> InboundSms:
        return InboundSms(
            modem=self._modem.name, recipient=self._modem.identity.own_number,
            sender=sender_of(pdu) or "", text="", smsc_timestamp=None, smsc=None,
            partial=False, received_at=self._clock.now(), _claim=claim,
            undecodable=reason, pdu=pdu.strip().upper())

    def _report(self, report: StatusReport, claim: Claim) -> None:
        """Hand a status report over as it came (raises what ``on_report`` raises, after
        giving the report back)."""
        delivery = DeliveryReport(self._modem.name, report.reference, report.recipient,
                                  outcome_of(report), report.status, report.discharge_time,
                                  _claim=claim)
        if self._on_report is None:
            log.info("%s: delivery report %s", self._modem.name, delivery)
            delivery.release()
            return
        try:
            self._on_report(delivery)
        except BaseException:
            delivery.release()
            raise
        if self._auto_ack:
            delivery.ack()

    # ------------------------------------------------------------ reassembly
    def _part(self, sms: DeliveredSms, locations: tuple[Location, ...], direct: bool) -> None:
        """Feed the reassembler; hand over what it lets go (a set pushed out, partial; the
        whole message). A direct part held for the others is acknowledged at once: the
        network sends the next part only then (so the parts of a long direct SMS can be
        lost in a crash; see modem.routing)."""
        done = self._reassembler.feed(sms, self._clock.monotonic(), held=locations)
        for pushed_out in (d for d in done if d.partial):
            self._hand_over_set(pushed_out)
        whole = next((d for d in done if not d.partial), None)
        if whole is None:
            if direct:
                self._acknowledge_direct()
        else:
            claim = Claim(self.store, whole.held, *((self._acknowledge_direct,
                                                     self._refuse_direct) if direct else ()))
            self._hand_over(self._message(whole.sms, partial=False, claim=claim), claim)
        self._relieve_store(full=False)

    def expire_parts(self) -> None:
        """Hand over incomplete messages past the reassembly timeout, then, when the last
        status read (AT+CPMS?) found the store full, every one holding a stored part."""
        for due in self._reassembler.expire_due(self._clock.monotonic()):
            self._hand_over_set(due)
        self._relieve_store(full=self._modem.status.storage_full)

    def _relieve_store(self, full: bool) -> None:
        """Hand incomplete messages over early (partial), oldest first, while their stored
        parts fill more than half the store (its size as AT+CPMS last gave it), or at all
        when it is ``full``: parts that may never complete (one first part per free slot,
        each with a new reference) must not keep real SMS out for the reassembly timeout.
        A late part then goes out as a partial message of its own."""
        self._store_size = self._modem.status.storage_total or self._store_size
        limit = 0 if full else (self._store_size // 2 if self._store_size else None)
        while limit is not None and self._reassembler.held > limit:
            oldest = self._reassembler.let_go_oldest()  # not None: something is held
            log.warning("%s: %s: an incomplete message handed over early", self._modem.name,
                        "store full" if full else "parts waiting for others fill half the store")
            self._hand_over_set(oldest)

    def _hand_over_set(self, done: Reassembled) -> None:
        """An incomplete message; its direct parts were acknowledged when they came."""
        claim = Claim(self.store, done.held)
        self._hand_over(self._message(done.sms, partial=True, claim=claim), claim)

    def _message(self, sms: DeliveredSms, partial: bool, claim: Claim) -> InboundSms:
        return InboundSms(
            modem=self._modem.name, recipient=self._modem.identity.own_number, sender=sms.sender,
            text=sms.text, smsc_timestamp=sms.smsc_timestamp, smsc=sms.smsc, partial=partial,
            received_at=self._clock.now(), _claim=claim)

    def _hand_over(self, message: InboundSms, claim: Claim) -> None:
        if self._on_sms is None:
            log.warning("%s: no receiver for an SMS", self._modem.name)
            claim.release()
            return
        try:
            self._on_sms(message)
        except Exception:  # noqa: BLE001  a receiver's failure leaves the SMS on the SIM
            log.exception("%s: receiver failed; the SMS stays on the SIM", self._modem.name)
            claim.release()
            return
        if self._auto_ack:
            claim.ack()

    # ------------------------------------------------------------ direct acknowledgement
    def _acknowledge_direct(self) -> None:
        """AT+CNMA for the direct delivery in hand, when the modem waits for one."""
        if self._modem.routing.phase2plus and self._modem.optional(ACKNOWLEDGE) is None:
            # CMS 340: too late. The modem gave it back to the network (which delivers it
            # again) and, as TS 27.005 says, stopped routing to us: route again.
            log.warning("%s: acknowledgement refused (too late?); the network will deliver "
                        "again", self._modem.name)
            self._route_again()

    def _refuse_direct(self) -> None:
        """AT+CNMA=2 (RP-ERROR) for the direct delivery in hand: the network keeps it."""
        if self._modem.routing.phase2plus and self._modem.optional(REJECT) is None:
            self._route_again()

    def _route_again(self) -> None:
        cnmi = self._modem.routing.cnmi
        if cnmi:
            self._modem.optional(INDICATIONS.format(args=cnmi))

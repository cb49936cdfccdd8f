"""What arrives at one modem: stored and direct SMS, the sweep, reassembly, hand-over.

``+CMTI``/``+CDSI`` name a stored message, read with ``AT+CMGR``; ``+CMT``/``+CDS`` carry it
directly and are acknowledged with ``AT+CNMA`` once handed over; the sweep (``AT+CMGL=4``)
finds whatever is stored and not yet claimed (a lost notice, a message that arrived while
nothing listened, a full store). Concatenated parts are reassembled; after the reassembly
timeout (seconds) the parts received go out as they are, marked ``partial``. Each status
report goes straight to ``on_report`` as a :class:`modem.delivery.DeliveryReport`, unmatched
(the receiver matches it to its part); a stored one is then deleted, a direct one
acknowledged.

A stored message stays on the SIM, claimed, until the receiver acknowledges it
(:meth:`InboundSms.ack` deletes it) or gives it back (:meth:`InboundSms.release`).

Threads: :class:`Inbox` runs on the modem's events thread, except :meth:`Inbox.delete` and
:meth:`Inbox.unclaim` (any thread). ``on_sms`` and ``on_report`` run on the events thread.
An exception from ``on_sms`` is logged and leaves the message on the SIM; one from
``on_report`` propagates to the events thread (which logs it) and leaves the report on the
SIM, or unacknowledged, so that it comes again. AT failures raise ModemError.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Callable

from modem.at import commands as at
from modem.pdu.concat import ConcatKey
from modem.pdu.codec import DeliveredSms, PduError, Reassembler, StatusReport, decode_pdu
from modem.at.results import Urc
from modem.clock import Clock
from modem.delivery import DeliveryReport, outcome_of

if TYPE_CHECKING:
    from modem.driver import Modem

log = logging.getLogger(__name__)
#: Periodic vendor notices (Huawei sticks print them every few seconds): debug-logged only.
_CHATTER = frozenset({"^HCSQ", "^BOOT", "^MODE", "^SRVST", "+QIND", "+CIEV", "+CPIN", "+CFUN"})


@dataclasses.dataclass(frozen=True)
class InboundSms:
    """A received SMS (reassembled; ``partial`` when parts were missing at the timeout).

    Until :meth:`ack` is called it stays on the SIM (when it was stored there); :meth:`release`
    gives it back to the next sweep. Both are idempotent and may be called from any thread.

    Nothing is judged stale here: the sweep hands over every stored message, including old
    ones already marked read (left by an earlier run, another program, or a crash before the
    acknowledgement), so nothing is lost. ``smsc_timestamp`` (aware, the SMSC's offset; when
    the network got it) and ``received_at`` (aware UTC, when this modem handed it over) let
    the consumer decide what is too old, or already seen, to act on.
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


class Inbox:
    """What arrives at one modem (see the module docstring for threads and raising)."""

    def __init__(self, modem: Modem, *, on_sms: Callable[[InboundSms], None] | None,
                 on_report: Callable[[DeliveryReport], None] | None, auto_ack: bool,
                 clock: Clock, reassembly_timeout: float):
        self._modem, self._on_sms, self._on_report = modem, on_sms, on_report
        self._auto_ack, self._clock = auto_ack, clock
        self._reassembler = Reassembler(reassembly_timeout)
        self._part_indices: dict[ConcatKey, list[int]] = {}  # SIM indices of pending parts
        self._lock = threading.Lock()  # guards the claims
        self._claimed: set[int] = set()

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
        """List every stored message (AT+CMGL=4: read or unread, however old), handle those
        not yet claimed; their count. Staleness is the consumer's call (see InboundSms)."""
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

    def _report(self, report: StatusReport) -> None:
        """Hand a status report over as it came (raises what ``on_report`` raises)."""
        delivery = DeliveryReport(self._modem.name, report.reference, report.recipient,
                                  outcome_of(report), report.status, report.discharge_time)
        if self._on_report is None:
            log.info("%s: delivery report %s", self._modem.name, delivery)
        else:
            self._on_report(delivery)

    def _part(self, sms: DeliveredSms, indices: tuple[int, ...]) -> bool:
        """Feed the reassembler; hand the whole message over when complete."""
        self._claim(indices)
        key = self._reassembler.key_of(sms)
        if key is not None:
            self._part_indices.setdefault(key, []).extend(indices)
        whole = self._reassembler.add(sms, self._clock.monotonic())
        if whole is None:
            return True
        if key is not None:
            indices = tuple(self._part_indices.pop(key))
        return self._hand_over(whole, indices, partial=False)

    def expire_parts(self) -> None:
        """Hand over incomplete messages past the reassembly timeout."""
        for key, sms in self._reassembler.expire(self._clock.monotonic()):
            self._hand_over(sms, tuple(self._part_indices.pop(key)), partial=True)

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

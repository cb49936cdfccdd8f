"""The radio side of a simulated modem: what the network hands it and what it sends out.

The network delivers SMS-DELIVER PDUs (:meth:`Radio.deliver_sms`: announced as ``+CMTI``
after storing, or given directly as ``+CMT``) and status reports
(:meth:`Radio.deliver_status_report`: ``+CDS`` or stored ``+CDSI``, as ``AT+CNMI`` routes
them); a refused delivery returns False and the network retries later. A direct delivery
(``+CMT``, ``+CDS``) waits for ``AT+CNMA`` when the phase 2+ service is selected
(``AT+CSMS=1``), one at a time, as TS 27.005 says; in phase 2 the modem acknowledges it
itself. Submitted PDUs and direct deliveries refused (``AT+CNMA=2``) or left unacknowledged
go to the :class:`Uplink`.

No threads, no clock: ``now`` is the caller's monotonic seconds, and the owner (the virtual
network) serialises every call. Nothing here raises.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from modem.pdu.codec import SubmittedSms

if TYPE_CHECKING:
    from modem.sim.machine import ModemMachine


class Uplink(Protocol):
    """Where a modem's radio goes: the virtual network."""

    def submit(self, reference: int, sms: SubmittedSms, pdu_hex: str) -> None: ...

    def bounce(self, pdu_hex: str, kind: str = "sms") -> None: ...


class NullUplink:
    """An uplink that accepts everything and forgets it (a machine driven on its own)."""

    def __init__(self) -> None:
        self.submitted: list[tuple[int, SubmittedSms]] = []
        self.bounced: list[str] = []

    def submit(self, reference: int, sms: SubmittedSms, pdu_hex: str) -> None:
        self.submitted.append((reference, sms))

    def bounce(self, pdu_hex: str, kind: str = "sms") -> None:
        self.bounced.append(pdu_hex)


def _tpdu_length(pdu_hex: str) -> int:
    """The ``<length>`` of ``+CMT``/``+CDS``: octets after the SMSC field."""
    return len(pdu_hex) // 2 - 1 - int(pdu_hex[:2], 16)


class Radio:
    """The radio of ``machine``: message references, deliveries and the +CNMA timer."""

    def __init__(self, machine: ModemMachine, uplink: Uplink | None = None) -> None:
        self._m = machine
        self.uplink: Uplink = uplink or NullUplink()
        self._ack_pending: tuple[float, str, str] | None = None  # (deadline, PDU, kind)
        self._next_mr = 0

    def next_reference(self) -> int:
        """The TP-MR of the next submit (1 to 255, then 0 again)."""
        self._next_mr = (self._next_mr + 1) % 256
        return self._next_mr

    def deliver_sms(self, pdu_hex: str, now: float) -> bool:
        """An SMS-DELIVER arrives; False when the modem cannot take it now (network retries)."""
        m = self._m
        if not m.powered or not m.registered():
            return False
        if m.cnmi[1] == 2:
            return self._direct([f"+CMT: ,{_tpdu_length(pdu_hex)}", pdu_hex], pdu_hex, "sms", now)
        return self._store_and_announce(pdu_hex, "+CMTI" if m.cnmi[1] in (1, 3) else None)

    def deliver_status_report(self, pdu_hex: str, now: float) -> bool:
        m = self._m
        if not m.powered or not m.registered():
            return False
        ds = m.cnmi[3]
        if ds == 1:
            return self._direct([f"+CDS: {_tpdu_length(pdu_hex)}", pdu_hex], pdu_hex, "report", now)
        if ds == 2:
            return self._store_and_announce(pdu_hex, "+CDSI")
        return True  # not routed to the TE: the report is dropped, as on a real modem

    def _direct(self, lines: list[str], pdu_hex: str, kind: str, now: float) -> bool:
        m = self._m
        if m.csms == 1 and self._ack_pending:
            return False  # the previous one is not acknowledged yet
        m.urc(lines)
        if m.csms == 1:
            self._ack_pending = (now + m.profile.cnma_timeout, pdu_hex, kind)
        return True

    def acknowledge(self, positive: bool = True) -> bool:
        """``AT+CNMA`` (``positive``) or ``AT+CNMA=2``: False when no direct delivery awaits
        an acknowledgement. A refused one goes back to the network."""
        if self._ack_pending is None:
            return False
        _, pdu_hex, kind = self._ack_pending
        self._ack_pending = None
        if not positive:
            self.uplink.bounce(pdu_hex, kind)
        return True

    def next_due(self) -> float | None:
        """When :meth:`tick` next has something to do (the +CNMA deadline), or None."""
        return self._ack_pending[0] if self._ack_pending else None

    def tick(self, now: float) -> None:
        if self._ack_pending and now >= self._ack_pending[0]:
            # 27.005 +CNMA: without an ack the ME tells the network and stops routing to the TE.
            self._m.cnmi[1] = self._m.cnmi[3] = 0
            self.uplink.bounce(self._ack_pending[1], self._ack_pending[2])
            self._ack_pending = None

    def power_off(self) -> None:
        """Power gone: an unacknowledged direct delivery goes back to the network."""
        if self._ack_pending:
            self.uplink.bounce(self._ack_pending[1], self._ack_pending[2])
        self._ack_pending = None

    def _store_and_announce(self, pdu_hex: str, urc_name: str | None) -> bool:
        m = self._m
        index = m.card.store(pdu_hex)
        if index is None:
            if m.profile.storage_full_urc:
                m.urc([m.profile.storage_full_urc])
            return False
        if urc_name:
            m.urc([f'{urc_name}: "{m.mems[2]}",{index + m.profile.first_index}'])
        return True

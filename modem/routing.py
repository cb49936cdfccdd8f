"""How a modem hands over what arrives: the SMS service phase (``AT+CSMS``) and the
new-message indications (``AT+CNMI``), chosen at each initialisation so that nothing
received depends on a message surviving in memory between the modem and the database.

- SMS are always stored and announced (``<mt>=1``: ``+CMTI``, read with ``AT+CMGR``): each
  part stays on the SIM until the gateway has committed the whole message. Direct delivery
  (``+CMT``) cannot be at-least-once for a concatenated message: the network sends the
  next part only once the previous one is acknowledged, so the parts held for reassembly
  would be lost in a crash. It is used only when a modem's ``cnmi`` setting asks for it.
- Status reports: with the phase 2+ service (``AT+CSMS=1`` accepted and ``+CSMS: 1,...``
  reported), they come directly (``<ds>=1``: ``+CDS``) and are acknowledged with
  ``AT+CNMA`` only after the gateway committed them; unacknowledged, the modem gives them
  back to the network, which delivers them again. Otherwise a ``+CDS`` would be
  acknowledged by the modem itself before the gateway saw it, so they are stored and
  announced (``<ds>=2``: ``+CDSI``) and deleted after the commit.
- A setting the modem refuses falls back to the next one; the last resorts are at-most-once
  reports (``<ds>=1`` without phase 2+) and no reports at all (``<ds>=0``), each with a
  warning in the log.

:func:`negotiate` runs on the caller's thread and raises what its command functions raise.
:class:`Routing` is frozen: safe to share between threads.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Callable

from modem.at import commands as at

log = logging.getLogger(__name__)

SERVICE_PHASE2PLUS = "AT+CSMS=1"
SERVICE_QUERY = "AT+CSMS?"
INDICATIONS = "AT+CNMI={args}"
ACKNOWLEDGE = "AT+CNMA"
REJECT = "AT+CNMA=2"  # RP-ERROR: the network keeps the message and tries again later
#: CNMI arguments, best first, when the modem waits for AT+CNMA (phase 2+) ...
WITH_ACKNOWLEDGEMENT = ("2,1,0,1,0", "2,1,0,2,0", "2,1,0,0,0")
#: ... and when it acknowledges direct deliveries itself (phase 2).
WITHOUT_ACKNOWLEDGEMENT = ("2,1,0,2,0", "2,1,0,1,0", "2,1,0,0,0")

OptionalCommand = Callable[[str], "list[str] | None"]


@dataclasses.dataclass(frozen=True)
class Routing:
    """``phase2plus``: direct deliveries (+CMT, +CDS) wait for ``AT+CNMA``; ``cnmi``: the
    arguments of ``AT+CNMI`` in force (None when the modem refused them all)."""

    phase2plus: bool = False
    cnmi: str | None = None

    def _field(self, position: int) -> int:
        fields = (self.cnmi or "").split(",")
        value = fields[position].strip() if len(fields) > position else ""
        return int(value) if value.isdigit() else 0

    @property
    def direct_sms(self) -> bool:
        """SMS come as ``+CMT`` (``<mt>`` 2 or 3)."""
        return self._field(1) in (2, 3)

    @property
    def direct_reports(self) -> bool:
        """Status reports come as ``+CDS`` (``<ds>`` 1)."""
        return self._field(3) == 1

    @property
    def reports(self) -> bool:
        """Status reports reach the gateway at all (``<ds>`` 1 or 2)."""
        return self._field(3) in (1, 2)


def phase2plus_service(lines: list[str] | None) -> bool:
    """Whether ``AT+CSMS=1`` answered ``+CSMS: <mt>,<mo>,<bm>`` with MT support (1)."""
    found = at.first_args(lines or [], "+CSMS:")
    return bool(found) and found[0].strip() == "1"


def service_in_force(lines: list[str] | None) -> int | None:
    """The ``<service>`` of an ``AT+CSMS?`` answer (``+CSMS: <service>,<mt>,<mo>,<bm>``)."""
    found = at.first_args(lines or [], "+CSMS:")
    value = found[0].strip() if found else ""
    return int(value) if value.isdigit() else None


def negotiate(optional: OptionalCommand, command: Callable[[str], list[str]],
              cnmi: str | None, name: str) -> Routing:
    """Select the SMS service and the indications (see the module docstring). ``cnmi`` is
    the modem's own setting, used as given (``command`` raises if the modem refuses it)."""
    phase2plus = phase2plus_service(optional(SERVICE_PHASE2PLUS))
    if not phase2plus and service_in_force(optional(SERVICE_QUERY)) == 1:
        phase2plus = True  # left in phase 2+ (by a saved profile): acknowledge, as it expects
    if cnmi:
        command(INDICATIONS.format(args=cnmi))
        routing = Routing(phase2plus, cnmi)
    else:
        candidates = WITH_ACKNOWLEDGEMENT if phase2plus else WITHOUT_ACKNOWLEDGEMENT
        chosen = next((args for args in candidates
                       if optional(INDICATIONS.format(args=args)) is not None), None)
        routing = Routing(phase2plus, chosen)
    _warn(routing, name)
    return routing


def _warn(routing: Routing, name: str) -> None:
    if routing.cnmi is None:
        log.warning("%s: no new-message indications; only the sweep will find SMS", name)
        return
    if not routing.reports:
        log.warning("%s: the modem routes no status reports (AT+CNMI=%s): sent SMS will not "
                    "be marked delivered", name, routing.cnmi)
    direct = [what for what, on in (("SMS", routing.direct_sms),
                                    ("status reports", routing.direct_reports)) if on]
    if direct and not routing.phase2plus:
        log.warning("%s: %s are delivered directly and acknowledged by the modem itself "
                    "(no AT+CSMS=1): one received just before a crash is lost", name,
                    " and ".join(direct))
    elif routing.direct_sms:
        log.warning("%s: SMS are delivered directly (AT+CNMI=%s): the parts of a long SMS "
                    "held for reassembly are lost in a crash", name, routing.cnmi)

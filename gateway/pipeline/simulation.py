"""--simulate: simulated modems on a virtual network inside the worker, and the
simulator's mailboxes in the database (what virtual phones received; SMS-MO they are
asked to send), so that the API processes reach them like everything else: through the
database only.

Simulated modem N (from 0) is ``simN``, number ``+33700000<N+1>`` (3 digits), on the
network ``simulated_network``, reachable at ``modemsim://simN?network=gateway``.
"""
from __future__ import annotations

import logging

import modem.sim
from gateway.config.settings import Settings
from gateway.storage.models import SimPhoneMessage
from gateway.deps import Deps
from modem.transport import ModemConfig

log = logging.getLogger(__name__)
NETWORK = "gateway"


def simulated_number(index: int) -> str:
    return f"+33700000{index + 1:03d}"


class Simulation:
    """The virtual network of a --simulate worker. ``sync`` runs as a scheduler job."""

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
        self._mirrored: dict[str, int] = {}

    def sync(self, deps: Deps) -> None:
        """Let simulated time pass, send the SMS-MO asked for, and mirror what phones got."""
        self.network.tick()
        with self.network.lock:
            inboxes = {number: list(phone.inbox) for number, phone in self.network.phones.items()}
        with deps.uow() as uow:
            for command in uow.sim.pending_commands():
                command.outcome = self._apply(command.modem, command.action, command.fault)
                command.applied_at = deps.now()
            for request in uow.sim.pending_mo():
                self.network.phone(request.phone).send(request.recipient, request.text)
                request.sent_at = deps.now()
            for number, inbox in inboxes.items():
                for message in inbox[self._mirrored.get(number, 0):]:
                    uow.sim.add_received(SimPhoneMessage(
                        phone=number, sender=message.sender, text=message.text,
                        received_at=message.received_at))
            uow.commit()
        self._mirrored.update((number, len(inbox)) for number, inbox in inboxes.items())

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

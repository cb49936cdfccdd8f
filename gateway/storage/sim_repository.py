"""--simulate only: the tables through which the API and the worker share the simulated
network (what virtual phones received, SMS-MO and fault commands asked for). Every method
runs in the caller's transaction."""
from __future__ import annotations

from sqlalchemy import select

from gateway.storage.models import SimModemCommand, SimMoRequest, SimPhoneMessage
from gateway.storage.transaction import Repository


class SimMailboxRepository(Repository):
    """--simulate: what virtual phones received, and the SMS-MO they are asked to send."""

    def received(self, phone: str) -> list[SimPhoneMessage]:
        return list(self._db.scalars(select(SimPhoneMessage).where(SimPhoneMessage.phone == phone)
                                     .order_by(SimPhoneMessage.id)))

    def add_received(self, row: SimPhoneMessage) -> None:
        self._tx.before_write()
        self._db.add(row)

    def request_mo(self, row: SimMoRequest) -> None:
        self._tx.before_write()
        self._db.add(row)
        self._db.flush()
        self._tx.wake_worker()

    def pending_mo(self) -> list[SimMoRequest]:
        return list(self._db.scalars(select(SimMoRequest).where(SimMoRequest.sent_at.is_(None))
                                     .order_by(SimMoRequest.id)))

    def add_command(self, row: SimModemCommand) -> None:
        self._tx.before_write()
        self._db.add(row)
        self._db.flush()
        self._tx.wake_worker()

    def pending_commands(self) -> list[SimModemCommand]:
        return list(self._db.scalars(select(SimModemCommand)
                                     .where(SimModemCommand.applied_at.is_(None))
                                     .order_by(SimModemCommand.id)))

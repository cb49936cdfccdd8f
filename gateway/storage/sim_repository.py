"""--simulate only: the tables through which the API and the worker share the simulated
network (what virtual phones received, the parts on their way to them, SMS-MO and fault
commands asked for). Every method runs in the caller's transaction.

The worker's side (gateway.pipeline.simulation) is Core only: it reads with ``pending()``
in a read-only transaction, and writes (``add_parts``, ``record_*``, ``deliver``) only when
there is something to write.
"""
from __future__ import annotations

from datetime import datetime
from typing import NamedTuple, Sequence

from sqlalchemy import delete, insert, select, update

from gateway.storage.models import SimModemCommand, SimMoRequest, SimPendingPart, SimPhoneMessage
from gateway.storage.transaction import SIMULATOR_WORK, Repository


class SimWork(NamedTuple):
    """What waits for the worker's simulator: rows as plain tuples (Core, no ORM)."""

    commands: list  # (id, modem, action, fault)
    mo_requests: list  # (id, phone, recipient, text, created_at)
    parts: list  # SimPendingPart columns, oldest first; empty unless asked for


class SimMailboxRepository(Repository):
    """--simulate: what virtual phones received, and the SMS-MO they are asked to send."""

    def received(self, phone: str) -> list[SimPhoneMessage]:
        return list(self._db.scalars(select(SimPhoneMessage).where(SimPhoneMessage.phone == phone)
                                     .order_by(SimPhoneMessage.id)))

    def request_mo(self, row: SimMoRequest) -> None:
        self._tx.before_write()
        self._db.add(row)
        self._db.flush()
        self._tx.wake_worker(SIMULATOR_WORK)

    def add_command(self, row: SimModemCommand) -> None:
        self._tx.before_write()
        self._db.add(row)
        self._db.flush()
        self._tx.wake_worker(SIMULATOR_WORK)

    # ------------------------------------------------------------ the worker's side

    def pending(self, with_parts: bool, with_requests: bool = True) -> SimWork:
        """Commands not applied and SMS-MO not sent (if ``with_requests``) and the parts
        not delivered (if ``with_parts``), each oldest first."""
        db = self._tx.connection()
        commands = db.execute(
            select(SimModemCommand.id, SimModemCommand.modem, SimModemCommand.action,
                   SimModemCommand.fault).where(SimModemCommand.applied_at.is_(None))
            .order_by(SimModemCommand.id)).all() if with_requests else []
        requests = db.execute(
            select(SimMoRequest.id, SimMoRequest.phone, SimMoRequest.recipient,
                   SimMoRequest.text, SimMoRequest.created_at)
            .where(SimMoRequest.sent_at.is_(None)).order_by(SimMoRequest.id)
        ).all() if with_requests else []
        parts = db.execute(select(*SimPendingPart.__table__.columns)
                           .order_by(SimPendingPart.id)).all() if with_parts else []
        return SimWork(commands, requests, parts)

    def add_parts(self, parts: Sequence[dict]) -> None:
        """Parts the network accepted for phones (the simulated SMSC's store), as column
        values."""
        if parts:
            self._tx.before_write().execute(insert(SimPendingPart), list(parts))

    def add_messages(self, messages: Sequence[dict]) -> None:
        """Whole messages received by phones, as column values of sim_phone_messages."""
        if messages:
            self._tx.before_write().execute(insert(SimPhoneMessage), list(messages))

    def record_outcomes(self, outcomes: dict[int, str], now: datetime) -> None:
        """Commands applied: their outcome by id."""
        connection = self._tx.before_write()
        for command_id, outcome in outcomes.items():
            connection.execute(update(SimModemCommand).where(SimModemCommand.id == command_id)
                               .values(applied_at=now, outcome=outcome))

    def record_mo_sent(self, request_ids: Sequence[int], now: datetime) -> None:
        if request_ids:
            self._tx.before_write().execute(
                update(SimMoRequest).where(SimMoRequest.id.in_(request_ids)).values(sent_at=now))

    def deliver(self, deliveries: Sequence[tuple[dict | None, Sequence[int]]]) -> int:
        """For each (message, part ids): the parts go, and the message (column values of
        sim_phone_messages; None: its phone refused it) is added, unless another
        transaction took those parts first (another worker simulating on this database):
        a message is delivered once. Returns how many messages were added."""
        connection, added = self._tx.before_write(), 0
        for message, part_ids in deliveries:
            taken = connection.execute(
                delete(SimPendingPart).where(SimPendingPart.id.in_(part_ids))).rowcount
            if message is not None and taken == len(part_ids):
                connection.execute(insert(SimPhoneMessage), [message])
                added += 1
        return added

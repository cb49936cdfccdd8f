"""Data access for the SMS pipeline: claiming outbox rows, part receipts, the inbox, modem
status and the simulator's mailboxes. Every method runs in the caller's transaction."""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.storage.models import (InboundSms, ModemStatus, OutboundPart, OutboundSms,
                                    SimModemCommand, SimMoRequest, SimPhoneMessage)

PENDING = ("queued", "sending")


class OutboxQueue:
    """The outbox as the worker sees it."""

    def __init__(self, session: Session) -> None:
        self._db = session

    def claim_due(self, now: datetime, limit: int, worker: str) -> list[OutboundSms]:
        """Mark up to ``limit`` due rows ``sending`` for ``worker`` (one attempt more) and
        return them. On PostgreSQL concurrent workers skip each other's rows."""
        query = (select(OutboundSms.id).where(OutboundSms.status == "queued",
                                              OutboundSms.next_attempt_at <= now,
                                              OutboundSms.expires_at > now)
                 .order_by(OutboundSms.next_attempt_at, OutboundSms.id).limit(limit))
        if self._db.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = list(self._db.scalars(query))
        if not ids:
            return []
        self._db.execute(update(OutboundSms).where(OutboundSms.id.in_(ids))
                         .values(status="sending", attempts=OutboundSms.attempts + 1,
                                 claimed_by=worker, updated_at=now))
        rows = self._db.scalars(select(OutboundSms).where(OutboundSms.id.in_(ids))
                                .order_by(OutboundSms.id).execution_options(
                                    populate_existing=True))
        return list(rows)

    def get(self, row_id: int) -> OutboundSms | None:
        return self._db.get(OutboundSms, row_id)

    def interrupted(self, worker: str) -> list[OutboundSms]:
        """Rows this worker was sending when it stopped (crash, power cut)."""
        return list(self._db.scalars(select(OutboundSms).where(
            OutboundSms.status == "sending", OutboundSms.claimed_by == worker)))

    def pending_parts_estimate(self) -> int:
        """Rows queued or being sent (each counted as one part: codes fit one SMS)."""
        return self._db.scalar(select(func.count()).select_from(OutboundSms)
                               .where(OutboundSms.status.in_(PENDING))) or 0

    def parts_sent_since(self, since: datetime) -> dict[str, int]:
        """SMS parts each modem submitted since ``since`` (for the daily quotas)."""
        return dict(self._db.execute(
            select(OutboundPart.modem, func.count()).where(OutboundPart.submitted_at >= since)
            .group_by(OutboundPart.modem)).all())

    def add_part(self, part: OutboundPart) -> None:
        self._db.add(part)

    def parts_of(self, row_id: int) -> list[OutboundPart]:
        return list(self._db.scalars(select(OutboundPart).where(OutboundPart.outbox_id == row_id)
                                     .order_by(OutboundPart.part_number)))

    def part_for_report(self, modem: str, reference: int, recipient: str,
                        since: datetime) -> OutboundPart | None:
        """The newest part sent by ``modem`` with TP-MR ``reference`` to a number ending
        like ``recipient`` (reports may carry it in national form) since ``since``."""
        tail = "".join(c for c in recipient if c.isdigit())[-8:]
        candidates = self._db.execute(
            select(OutboundPart, OutboundSms.recipient).join(OutboundSms)
            .where(OutboundPart.modem == modem, OutboundPart.reference == reference,
                   OutboundPart.submitted_at >= since,
                   OutboundPart.status.in_(("sent", "temporary_failure")))
            .order_by(OutboundPart.id.desc()))
        for part, number in candidates:
            if not tail or number.endswith(tail):
                return part
        return None


def inbox_dedupe_key(modem: str, sender: str, smsc_timestamp: datetime | None, text: str) -> str:
    stamp = smsc_timestamp.isoformat() if smsc_timestamp else ""
    return hashlib.sha256("\0".join((modem, sender, stamp, text)).encode()).hexdigest()


class Inbox:
    def __init__(self, session: Session) -> None:
        self._db = session

    def store(self, row: InboundSms) -> bool:
        """Insert ``row``; False if the same SMS was stored before (a redelivery)."""
        try:
            with self._db.begin_nested():
                self._db.add(row)
                self._db.flush()
        except IntegrityError:
            return False
        return True

    def latest(self, limit: int = 100) -> list[InboundSms]:
        return list(self._db.scalars(select(InboundSms).order_by(InboundSms.id.desc())
                                     .limit(limit)))


class ModemStatusTable:
    def __init__(self, session: Session) -> None:
        self._db = session

    def upsert(self, values: dict) -> None:
        row = self._db.get(ModemStatus, values["name"])
        if row is None:
            self._db.add(ModemStatus(**values))
        else:
            for key, value in values.items():
                setattr(row, key, value)

    def remove_except(self, names: list[str]) -> None:
        for row in self._db.scalars(select(ModemStatus)):
            if row.name not in names:
                self._db.delete(row)

    def fresh(self, now: datetime, ttl_seconds: int) -> list[ModemStatus]:
        """Statuses written within ``ttl_seconds``, by name."""
        since = now - timedelta(seconds=ttl_seconds)
        return list(self._db.scalars(select(ModemStatus).where(ModemStatus.updated_at >= since)
                                     .order_by(ModemStatus.name)))


class SimMailboxes:
    """--simulate: what virtual phones received, and the SMS-MO they are asked to send."""

    def __init__(self, session: Session) -> None:
        self._db = session

    def received(self, phone: str) -> list[SimPhoneMessage]:
        return list(self._db.scalars(select(SimPhoneMessage).where(SimPhoneMessage.phone == phone)
                                     .order_by(SimPhoneMessage.id)))

    def add_received(self, row: SimPhoneMessage) -> None:
        self._db.add(row)

    def request_mo(self, row: SimMoRequest) -> None:
        self._db.add(row)
        self._db.flush()

    def pending_mo(self) -> list[SimMoRequest]:
        return list(self._db.scalars(select(SimMoRequest).where(SimMoRequest.sent_at.is_(None))
                                     .order_by(SimMoRequest.id)))

    def add_command(self, row: SimModemCommand) -> None:
        self._db.add(row)
        self._db.flush()

    def pending_commands(self) -> list[SimModemCommand]:
        return list(self._db.scalars(select(SimModemCommand)
                                     .where(SimModemCommand.applied_at.is_(None))
                                     .order_by(SimModemCommand.id)))

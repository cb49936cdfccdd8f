"""The inbox table: every SMS received by a modem, stored before the SIM forgets it.
Every method runs in the caller's transaction."""
from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select

from gateway.storage.models import InboxMessage
from gateway.storage.transaction import Repository


def inbox_dedupe_key(modem: str, sender: str, smsc_timestamp: datetime | None, text: str) -> str:
    stamp = smsc_timestamp.isoformat() if smsc_timestamp else ""
    return hashlib.sha256("\0".join((modem, sender, stamp, text)).encode()).hexdigest()


class InboxRepository(Repository):
    """Received SMS, stored once each (a redelivery is recognised by its dedupe key)."""

    def store(self, row: InboxMessage) -> bool:
        """Insert ``row`` (in a savepoint); False if the same SMS was stored before (a
        redelivery: a row with its dedupe key is there). Raises IntegrityError when the
        database refuses the row for another reason (a constraint): taken for a
        redelivery, it would let the SIM delete an SMS that was never stored."""
        return self._add_unless_there(row, InboxMessage.dedupe_key)

    def latest(self, limit: int = 100, kind: str | None = None) -> list[InboxMessage]:
        """The last ``limit`` rows (of ``kind`` only, if given), newest first."""
        query = select(InboxMessage)
        if kind is not None:
            query = query.where(InboxMessage.kind == kind)
        return list(self._db.scalars(query.order_by(InboxMessage.id.desc()).limit(limit)))

"""The outbox table and its parts: queued by the use cases, claimed by the workers
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL) under a lease their heartbeat renews (a row
whose lease ended is marked unknown: gateway.pipeline.leases), matched to delivery
reports, listed by the admin commands. Every method runs in the caller's transaction.

Rows hold no number or text in clear (see models.OutboundSms): the callers seal them
(gateway.crypto.sealing) and scrub ``sealed`` when a row becomes final."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Sequence

from sqlalchemy import Row, bindparam, func, insert, or_, select, update

from gateway.storage.models import OutboundPart, OutboundSms, VerificationSession
from gateway.storage.transaction import OUTBOX_WORK, Repository

UNREGISTERED = "not sent: its session was unregistered"
OUTBOX = OutboundSms.__table__
_INSERT = insert(OUTBOX)
# Rows queued, or being sent under a lease that holds (a row of a dead worker stops
# counting when its lease ends, before a live worker marks it unknown).
_PENDING_COUNT = select(func.count()).select_from(OUTBOX).where(or_(
    OUTBOX.c.status == "queued",
    (OUTBOX.c.status == "sending") & (OUTBOX.c.lease_expires_at >= bindparam("now"))))
# The claim of a row being sent without a lease that holds (NULL: no worker vouches for it).
_LEASE_ENDED = ((OUTBOX.c.status == "sending")
                & or_(OUTBOX.c.lease_expires_at < bindparam("now"),
                      OUTBOX.c.lease_expires_at.is_(None)))
_ANY_LEASE_ENDED = select(OUTBOX.c.id).where(_LEASE_ENDED).limit(1)
# The claim, built once (a statement built per call, and the ORM's bulk update that keeps
# the session's objects in step, cost the worker about 1 ms per claim).
_DUE = (select(OUTBOX.c.id)
        .where(OUTBOX.c.status == "queued", OUTBOX.c.next_attempt_at <= bindparam("now"),
               OUTBOX.c.expires_at > bindparam("now"))
        .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id).limit(bindparam("limit")))
_DUE_SKIP_LOCKED = _DUE.with_for_update(skip_locked=True)  # PostgreSQL
# Loaded after the claim's update, so that the objects hold the claimed values (also the
# object of a row this session loaded earlier).
_CLAIMED = (select(OutboundSms).where(OutboundSms.id.in_(bindparam("ids", expanding=True)))
            .order_by(OutboundSms.id).execution_options(populate_existing=True))
# A delivery report's candidates: the parts its modem sent with its TP-MR, newest first.
PARTS = OutboundPart.__table__
_PARTS_FOR_REPORT = (select(PARTS.c.id, PARTS.c.outbox_id, PARTS.c.part_count, PARTS.c.modem,
                            OUTBOX.c.recipient_digest)
                     .select_from(PARTS.join(OUTBOX, PARTS.c.outbox_id == OUTBOX.c.id))
                     .where(PARTS.c.modem == bindparam("modem"),
                            PARTS.c.reference == bindparam("reference"),
                            PARTS.c.submitted_at >= bindparam("since"),
                            PARTS.c.status.in_(("sent", "temporary_failure")))
                     .order_by(PARTS.c.id.desc()))
_PARTS_FOR_REPORT_OF_WORKER = _PARTS_FOR_REPORT.where(
    OUTBOX.c.claimed_by == bindparam("worker"))
_SET_PART_STATUS = (update(PARTS).where(PARTS.c.id == bindparam("part_id"))
                    .values(status=bindparam("status"), reported_at=bindparam("reported_at")))
_ROW_AND_PART_STATUSES = (select(OUTBOX.c.status, PARTS.c.status)
                          .select_from(OUTBOX.join(PARTS, PARTS.c.outbox_id == OUTBOX.c.id))
                          .where(OUTBOX.c.id == bindparam("row_id")))
# A row's columns set to the values given (the statement is compiled once per set of them).
_UPDATE_ROW = update(OUTBOX).where(OUTBOX.c.id == bindparam("row_id"))
_INSERT_PART = insert(PARTS)
_MODEM_OF = select(OUTBOX.c.modem).where(OUTBOX.c.id == bindparam("row_id"))
_SESSIONS = VerificationSession.__table__
_SESSION_DIGESTS = (select(_SESSIONS.c.id, _SESSIONS.c.hawk_id_digest)
                    .where(_SESSIONS.c.id.in_(bindparam("ids", expanding=True))))
_CLAIM = (update(OUTBOX).where(OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
          .values(status="sending", attempts=OUTBOX.c.attempts + 1,
                  claimed_by=bindparam("worker"), updated_at=bindparam("now"),
                  lease_expires_at=bindparam("lease_until")))
DEFAULT_LEASE_SECONDS = 30  # the worker_lease setting's default


class OutboxRepository(Repository):
    """The outbox: rows queued by the use cases, claimed and updated by the worker, listed
    by the admin commands."""

    def add(self, row: OutboundSms) -> None:
        """Queue ``row``, a new OutboundSms: inserted at once with Core (its ``id`` is set;
        the object is not attached to the session: load the row to change it)."""
        values = {}
        for column in OUTBOX.columns:
            value = getattr(row, column.key)
            if value is None and (column.primary_key or column.default is not None):
                if column.default is not None and column.default.is_scalar:
                    setattr(row, column.key, column.default.arg)
                continue
            values[column.key] = value
        result = self._tx.before_write().execute(_INSERT, values)
        row.id = result.inserted_primary_key[0]
        self._tx.wake_worker(OUTBOX_WORK)

    def claim_due(self, now: datetime, limit: int, worker: str,
                  lease_seconds: float = DEFAULT_LEASE_SECONDS) -> list[OutboundSms]:
        """Mark up to ``limit`` due rows ``sending`` for ``worker`` (one attempt more),
        under a lease of ``lease_seconds`` (see ``renew_leases``), and return them. On
        PostgreSQL concurrent workers skip each other's rows."""
        connection = self._tx.before_write()
        query = _DUE_SKIP_LOCKED if connection.dialect.name == "postgresql" else _DUE
        ids = list(connection.execute(query, {"now": now, "limit": limit}).scalars())
        if not ids:
            return []
        connection.execute(_CLAIM, {"ids": ids, "worker": worker, "now": now,
                                    "lease_until": now + timedelta(seconds=lease_seconds)})
        return list(self._db.scalars(_CLAIMED, {"ids": ids}))

    def any_due(self, now: datetime) -> bool:
        """Whether a row is due (a read: the worker asks before it claims, so that a pass
        with nothing to send takes no write lock)."""
        return self._tx.connection().execute(_DUE, {"now": now, "limit": 1}).first() is not None

    def get(self, row_id: int) -> OutboundSms | None:
        return self._db.get(OutboundSms, row_id)

    def interrupted(self, worker: str) -> list[OutboundSms]:
        """Rows this worker was sending when it stopped (crash, power cut)."""
        return list(self._db.scalars(select(OutboundSms).where(
            OutboundSms.status == "sending", OutboundSms.claimed_by == worker)))

    def renew_leases(self, worker: str, until: datetime) -> int:
        """Extend to ``until`` the lease of every row ``worker`` is sending (its
        heartbeat); returns how many."""
        return self._tx.before_write().execute(
            update(OUTBOX).where(OUTBOX.c.claimed_by == worker, OUTBOX.c.status == "sending")
            .values(lease_expires_at=until)).rowcount

    def expire_leases(self, now: datetime, error: str) -> dict[str, int]:
        """Mark ``unknown`` (final, scrubbed) every row still ``sending`` whose lease ended
        before ``now``: its worker stopped renewing it and may have sent it, so it is
        never resent. Returns how many per worker that claimed them. A row its worker
        finished meanwhile is left as it is: the UPDATE checks its condition again on the
        row as committed (PostgreSQL re-reads a row it waited for), and what it returns is
        what it changed."""
        if self._tx.connection().execute(_ANY_LEASE_ENDED, {"now": now}).first() is None:
            return {}  # the usual case: no write (on SQLite, no write lock)
        connection = self._tx.before_write()
        statement = (update(OUTBOX).where(_LEASE_ENDED)
                     .values(status="unknown", last_error=error, updated_at=now, sealed=None))
        if not connection.dialect.update_returning:  # MySQL, MariaDB: a total only
            count = connection.execute(statement, {"now": now}).rowcount
            return {"": count} if count else {}
        claimed = connection.execute(statement.returning(OUTBOX.c.claimed_by),
                                     {"now": now}).scalars()
        return dict(Counter(worker or "" for worker in claimed))

    def pending_parts_estimate(self, now: datetime) -> int:
        """Rows queued or being sent under a lease that holds at ``now`` (each counted as
        one part: codes fit one SMS)."""
        return self._tx.connection().execute(_PENDING_COUNT, {"now": now}).scalar() or 0

    def parts_sent_since(self, since: datetime, worker: str | None = None) -> dict[str, int]:
        """SMS parts each modem submitted since ``since`` (for the daily quotas): of
        ``worker``'s modems only when given (names repeat across boxes)."""
        query = (select(OutboundPart.modem, func.count())
                 .where(OutboundPart.submitted_at >= since).group_by(OutboundPart.modem))
        if worker is not None:
            query = query.join(OutboundSms).where(OutboundSms.claimed_by == worker)
        return dict(self._db.execute(query).all())

    def finish(self, row_id: int, status: str, error: str | None, now: datetime, *,
               modem: str | None = None, parts: Sequence[dict] = (),
               recipient_digest: str | None = None) -> str | None:
        """The send of row ``row_id`` is over: its final ``status`` (its sealed number and
        text scrubbed in the same write, as ``gateway.pipeline.dispatch.make_final``
        does), the ``modem`` that took it (None: left as it is), and when ``parts`` (column
        values of outbox_parts) were accepted, those parts, the time sent and the
        recipient's digest. Core; returns the row's modem."""
        values = {"status": status, "last_error": error, "updated_at": now, "sealed": None}
        if modem is not None:
            values["modem"] = modem
        if parts:
            values.update(sent_at=now, recipient_digest=recipient_digest)
        self.update_row(row_id, **values)
        connection = self._tx.before_write()
        if parts:
            connection.execute(_INSERT_PART, list(parts))
        if modem is None:
            return connection.execute(_MODEM_OF, {"row_id": row_id}).scalar()
        return modem

    def add_part(self, part: OutboundPart) -> None:
        self._tx.before_write()
        self._db.add(part)

    def parts_of(self, row_id: int) -> list[OutboundPart]:
        return list(self._db.scalars(select(OutboundPart).where(OutboundPart.outbox_id == row_id)
                                     .order_by(OutboundPart.part_number)))

    def part_for_report(self, modem: str, reference: int, recipient_digest: str | None,
                        since: datetime, worker: str | None = None) -> Row | None:
        """The newest part sent by ``modem`` (of ``worker``, when given: modem names
        repeat across boxes) with TP-MR ``reference`` since ``since`` to a row whose
        ``recipient_digest`` is ``recipient_digest`` (the keyed hash of the number's last
        digits, so that a report in national form matches; None, for a report without a
        number, matches any): a read-only row with its ``id``, ``outbox_id``,
        ``part_count`` and ``modem``."""
        query = _PARTS_FOR_REPORT if worker is None else _PARTS_FOR_REPORT_OF_WORKER
        candidates = self._tx.connection().execute(
            query, {"modem": modem, "reference": reference, "since": since, "worker": worker})
        for part in candidates:
            if recipient_digest is None or part.recipient_digest == recipient_digest:
                return part
        return None

    def report_part(self, part_id: int, row_id: int, status: str,
                    now: datetime) -> tuple[str, list[str]]:
        """A delivery report for part ``part_id`` of row ``row_id``: its ``status``,
        reported at ``now``. Returns the row's status and the statuses of all its parts,
        this one's included."""
        connection = self._tx.before_write()
        connection.execute(_SET_PART_STATUS,
                           {"part_id": part_id, "status": status, "reported_at": now})
        rows = connection.execute(_ROW_AND_PART_STATUSES, {"row_id": row_id}).all()
        return rows[0][0], [part_status for _row_status, part_status in rows]

    def update_row(self, row_id: int, **values) -> None:
        """Set the given columns of outbox row ``row_id``."""
        self._tx.before_write().execute(_UPDATE_ROW, {"row_id": row_id, **values})

    def session_bindings(self, rows: list[OutboundSms]) -> dict[int, str | None]:
        """For each row, the hawk id digest of its session (part of its sealing key,
        gateway.crypto.sealing), or None: no session, or the session is gone."""
        ids = sorted({row.session_id for row in rows if row.session_id is not None})
        digests = dict(self._tx.connection().execute(
            _SESSION_DIGESTS, {"ids": ids}).all()) if ids else {}
        return {row.id: digests.get(row.session_id) for row in rows}

    def forget_session(self, session_id: int, now: datetime) -> None:
        """Unregister: the session's rows lose their sealed number and text and their link
        to it; those still queued are given up (``expired``). A row being sent is finished
        by the worker, which holds its number in memory only."""
        connection = self._tx.before_write()
        connection.execute(update(OUTBOX).where(OUTBOX.c.session_id == session_id,
                                                OUTBOX.c.status == "queued")
                           .values(status="expired", updated_at=now, last_error=UNREGISTERED))
        connection.execute(update(OUTBOX).where(OUTBOX.c.session_id == session_id)
                           .values(sealed=None, session_id=None))

    def latest(self, limit: int, status: str | None = None) -> list[OutboundSms]:
        """The newest ``limit`` rows, optionally only those with ``status``."""
        query = select(OutboundSms).order_by(OutboundSms.id.desc()).limit(limit)
        if status:
            query = query.where(OutboundSms.status == status)
        return list(self._db.scalars(query))

    def count_with_status(self, status: str) -> int:
        return self._db.scalar(select(func.count()).select_from(OutboundSms)
                               .where(OutboundSms.status == status)) or 0

    def count_by_modem(self, statuses: tuple[str, ...], *, updated_since: datetime | None = None,
                       sent_since: datetime | None = None) -> dict[tuple[str, str], int]:
        """Rows with one of ``statuses`` per (worker that claimed them, modem), optionally
        updated or sent since a time (modem names repeat across boxes)."""
        conditions = [OutboundSms.status.in_(statuses)]
        if updated_since is not None:
            conditions.append(OutboundSms.updated_at >= updated_since)
        if sent_since is not None:
            conditions.append(OutboundSms.sent_at >= sent_since)
        return {(worker, modem): count for worker, modem, count in self._db.execute(
            select(OutboundSms.claimed_by, OutboundSms.modem, func.count()).where(*conditions)
            .group_by(OutboundSms.claimed_by, OutboundSms.modem)).all()}

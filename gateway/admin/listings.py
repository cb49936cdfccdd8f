"""What the database says: modems (as the worker reports them), the outbox, the inbox."""
from __future__ import annotations

from gateway.clock import start_of_utc_day
from gateway.deps import Deps

MODEM_COLUMNS = [("name", "MODEM"), ("url", "PORT"), ("model", "MODEL"), ("imsi", "IMSI"),
                 ("operator", "OPERATOR"), ("signal_dbm", "SIGNAL dBm"),
                 ("registration", "REGISTRATION"), ("state", "STATE"), ("queue", "QUEUE"),
                 ("sent_today", "SENT TODAY"), ("failed_today", "FAILED TODAY"),
                 ("age", "REPORTED")]
OUTBOX_COLUMNS = [("id", "ID"), ("created_at", "CREATED"), ("recipient", "TO"),
                  ("purpose", "PURPOSE"), ("status", "STATUS"), ("attempts", "TRIES"),
                  ("modem", "MODEM"), ("last_error", "LAST ERROR")]
INBOX_COLUMNS = [("id", "ID"), ("received_at", "RECEIVED"), ("modem", "MODEM"),
                 ("sender", "FROM"), ("kind", "KIND"), ("outcome", "OUTCOME"), ("text", "TEXT")]


def modem_rows(deps: Deps) -> list[dict]:
    """One row per modem the worker reported, with the age of the report in seconds."""
    now = deps.now()
    midnight = start_of_utc_day(now)
    with deps.uow() as uow:
        statuses = uow.modems.all()
        sending = uow.outbox.count_by_modem(("sending",))
        queued = uow.outbox.count_with_status("queued")
        failed_today = uow.outbox.count_by_modem(("failed", "unknown"), updated_since=midnight)
        sent_today = uow.outbox.count_by_modem(("sent", "delivered"), sent_since=midnight)
    return [{"name": s.name, "url": s.url, "model": s.model, "imsi": s.imsi_masked,
             "operator": f"{s.mcc}-{s.mnc}" if s.mcc else None, "number": s.number,
             "signal_dbm": s.signal_dbm, "registration": s.registration, "state": s.state,
             "healthy": s.healthy, "queue": f"{sending.get(s.name, 0)}+{queued}",
             "sent_today": sent_today.get(s.name, 0),
             "failed_today": failed_today.get(s.name, 0), "daily_quota": s.daily_quota,
             "last_error": s.last_error, "power_warning": s.power_warning,
             "age": f"{int((now - s.updated_at).total_seconds())} s ago"} for s in statuses]


def outbox_rows(deps: Deps, limit: int, status: str | None = None) -> list[dict]:
    with deps.uow() as uow:
        rows = uow.outbox.latest(limit, status)
    return [{"id": r.id, "created_at": r.created_at, "recipient": r.recipient,
             "purpose": r.purpose, "status": r.status, "attempts": r.attempts,
             "modem": r.modem, "sent_at": r.sent_at, "delivered_at": r.delivered_at,
             "last_error": r.last_error} for r in rows]


def inbox_rows(deps: Deps, limit: int) -> list[dict]:
    with deps.uow() as uow:
        rows = uow.inbox.latest(limit)
    return [{"id": r.id, "received_at": r.received_at, "modem": r.modem, "sender": r.sender,
             "recipient": r.recipient, "kind": r.kind, "outcome": r.outcome, "text": r.text,
             "partial": r.partial} for r in rows]

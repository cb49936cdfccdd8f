"""What the database says: modems (as each box's worker reports them), the workers, the
outbox, the inbox."""
from __future__ import annotations

from datetime import timedelta

from gateway.clock import start_of_utc_day
from gateway.crypto.tokens import SealError
from gateway.deps import Deps

MODEM_COLUMNS = [("worker", "WORKER"), ("name", "MODEM"), ("url", "PORT"), ("model", "MODEL"),
                 ("imsi", "IMSI"), ("operator", "OPERATOR"), ("signal_dbm", "SIGNAL dBm"),
                 ("registration", "REGISTRATION"), ("state", "STATE"), ("queue", "QUEUE"),
                 ("sent_today", "SENT TODAY"), ("failed_today", "FAILED TODAY"),
                 ("age", "REPORTED")]
OUTBOX_COLUMNS = [("id", "ID"), ("created_at", "CREATED"), ("recipient", "TO"),
                  ("purpose", "PURPOSE"), ("status", "STATUS"), ("attempts", "TRIES"),
                  ("modem", "MODEM"), ("last_error", "LAST ERROR")]
INBOX_COLUMNS = [("id", "ID"), ("received_at", "RECEIVED"), ("modem", "MODEM"),
                 ("sender", "FROM"), ("kind", "KIND"), ("outcome", "OUTCOME"), ("text", "TEXT")]
PDU_COLUMNS = [("id", "ID"), ("received_at", "RECEIVED"), ("modem", "MODEM"),
               ("sender", "FROM"), ("pdu", "PDU")]


def modem_rows(deps: Deps) -> list[dict]:
    """One row per modem of every box, as its worker last reported it (the ``worker``
    that owns it: names repeat across boxes), with the age of the report in seconds."""
    now = deps.now()
    midnight = start_of_utc_day(now)
    with deps.uow(read_only=True) as uow:
        statuses = uow.modems.all()
        sending = uow.outbox.count_by_modem(("sending",))
        queued = uow.outbox.count_with_status("queued")
        failed_today = uow.outbox.count_by_modem(("failed", "unknown"), updated_since=midnight)
        sent_today = uow.outbox.count_by_modem(("sent", "delivered"), sent_since=midnight)
    return [{"worker": s.worker, "name": s.name, "url": s.url, "model": s.model,
             "imsi": s.imsi_masked,
             "operator": f"{s.mcc}-{s.mnc}" if s.mcc else None, "number": s.number,
             "signal_dbm": s.signal_dbm, "registration": s.registration, "state": s.state,
             "healthy": s.healthy, "queue": f"{sending.get((s.worker, s.name), 0)}+{queued}",
             "sent_today": sent_today.get((s.worker, s.name), 0),
             "failed_today": failed_today.get((s.worker, s.name), 0),
             "daily_quota": s.daily_quota, "parts_today": s.sent_today,
             "last_error": s.last_error, "power_warning": s.power_warning,
             "age": f"{int((now - s.updated_at).total_seconds())} s ago"} for s in statuses]


def worker_rows(deps: Deps) -> list[dict]:
    """Every worker known to the database: where it runs, when it was last heard of, and
    its state: ``running`` (heard of within ``worker_lease``), ``stopped`` (cleanly) or
    ``lost`` (silent: its SMS in flight are marked unknown by the others)."""
    now = deps.now()
    lease = timedelta(seconds=deps.settings.worker_lease)
    with deps.uow(read_only=True) as uow:
        workers = uow.workers.all()
    return [{"worker": w.id, "host": w.host, "pid": w.pid, "started_at": w.started_at,
             "last_seen": w.last_seen,
             "state": "stopped" if w.stopped_at else
                      "running" if now - w.last_seen <= lease else "lost",
             "age": f"{int((now - w.last_seen).total_seconds())} s ago"} for w in workers]


def workers_footer(workers: list[dict]) -> str | None:
    """One line naming each worker with its state, for the text output of `modems`."""
    if not workers:
        return None
    return "Workers: " + ", ".join(f"{w['worker']} on {w['host']} ({w['state']}, seen "
                                   f"{w['age']})" for w in workers)


def outbox_rows(deps: Deps, limit: int, status: str | None = None) -> list[dict]:
    with deps.uow() as uow:
        rows = uow.outbox.latest(limit, status)
    return [{"id": r.id, "created_at": r.created_at, "recipient": r.recipient,
             "purpose": r.purpose, "status": r.status, "attempts": r.attempts,
             "modem": r.modem, "sent_at": r.sent_at, "delivered_at": r.delivered_at,
             "last_error": r.last_error} for r in rows]


def inbox_rows(deps: Deps, limit: int, pdu: bool = False,
               kind: str | None = None) -> list[dict]:
    """The latest received SMS, newest first (only those of ``kind``, if given). With
    ``pdu`` (``deps.secret`` needed), only the undecodable ones, each with its raw PDU
    (or the JSON of what was decoded, for one kept after its handling failed) unsealed
    (None if it cannot be opened)."""
    # Imported here: the admin page of every API process imports this module, and the
    # inbound pipeline brings the modem side's PDU codec (gsmmodem, pyserial).
    from gateway.pipeline.inbound import KIND_UNDECODABLE

    with deps.uow() as uow:
        rows = uow.inbox.latest(limit, kind=KIND_UNDECODABLE if pdu else kind)
    listed = [{"id": r.id, "received_at": r.received_at, "modem": r.modem, "sender": r.sender,
               "recipient": r.recipient, "kind": r.kind, "outcome": r.outcome, "text": r.text,
               "partial": r.partial} for r in rows]
    if pdu:
        for row, record in zip(rows, listed):
            record["pdu"] = _opened(deps, row)
    return listed


def _opened(deps: Deps, row) -> str | None:
    from gateway.pipeline.inbound import open_pdu

    try:
        return open_pdu(deps.secret, row)
    except SealError:
        return None  # sealed under another server secret

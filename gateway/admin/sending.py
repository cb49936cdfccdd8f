"""`send`: a test SMS through the outbox and the modems, followed until it is delivered,
fails or the time is up."""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Callable

from gateway.crypto.sealing import seal_sms
from gateway.storage.models import OutboundSms
from gateway.deps import Deps
from gateway.verification.msisdn import parse_msisdn
from modem.numbers import mask_number, region_of

FINAL = ("delivered", "failed", "unknown", "expired")
POLL_SECONDS = 0.2


def queue_test_sms(deps: Deps, number: str, text: str) -> int:
    """Queue ``text`` to ``number`` (E.164; InvalidParameter otherwise), sealed under the
    server secret (no session: gateway.crypto.sealing); returns the row id."""
    msisdn, now = parse_msisdn(number, field="number"), deps.now()
    with deps.uow() as uow:
        row = OutboundSms(recipient=mask_number(msisdn), sender=None, purpose="test",
                          sealed=seal_sms(deps.secret, None, msisdn, text),
                          region=region_of(msisdn), status="queued", attempts=0,
                          next_attempt_at=now, created_at=now, updated_at=now,
                          expires_at=now + timedelta(seconds=deps.settings.sms_ttl))
        uow.outbox.add(row)
        uow.commit()
        return row.id


def follow(deps: Deps, row_id: int, timeout: float, on_change: Callable[[dict], None],
           sleep: Callable[[float], None] = time.sleep) -> dict:
    """Report each status change of the row until it is final or ``timeout`` seconds
    passed (the worker is another process: this polls the database); returns the last."""
    deadline, last = time.monotonic() + timeout, None
    while True:
        with deps.uow() as uow:
            row = uow.outbox.get(row_id)
            state = {"id": row.id, "status": row.status, "modem": row.modem,
                     "attempts": row.attempts, "last_error": row.last_error,
                     "parts": len(uow.outbox.parts_of(row.id))}
        if state != last:
            on_change(state)
            last = state
        if state["status"] in FINAL or time.monotonic() >= deadline:
            return state
        sleep(POLL_SECONDS)

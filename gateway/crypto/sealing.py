"""Sealing of the outbox: the number and text of an SMS waiting to be sent never reach
the disk in clear.

The API seals them when it queues the SMS; the worker opens them when it sends it. The
key is derived (HKDF-SHA256, see ServerSecret.seal) from the server secret, which lives in
the key file and never in the database, and from a *binding*: the hawk id digest of the
session that asked for the SMS, or a fixed value for an SMS without a session (the
admin's test SMS). So a copy of the database without the key file reveals nothing, and
once the session is gone (unregistered, or expired and removed) its SMS cannot be opened
even with the key file: the binding went with the session row.
"""
from __future__ import annotations

import json

from gateway.crypto.tokens import SealError, ServerSecret

OUTBOX = "outbox-sms"
NO_SESSION = "no-session"  # the binding of an SMS that no session asked for


def seal_sms(secret: ServerSecret, binding: str | None, recipient: str, text: str) -> bytes:
    """``recipient`` (E.164) and ``text`` sealed under ``secret`` and ``binding`` (the
    session's hawk id digest, or None)."""
    return secret.seal(binding or NO_SESSION, OUTBOX, json.dumps([recipient, text]))


def open_sms(secret: ServerSecret, binding: str | None, sealed: bytes | None) -> tuple[str, str]:
    """(recipient, text) of what ``seal_sms`` sealed with the same binding. Raises
    SealError when it cannot be opened: scrubbed (None), another binding (the session is
    gone), another secret, or tampered with."""
    if sealed is None:
        raise SealError("nothing sealed: the SMS was scrubbed")
    plain = secret.open(binding or NO_SESSION, OUTBOX, sealed)  # raises SealError
    try:
        recipient, text = json.loads(plain)
    except (TypeError, ValueError) as exc:
        raise SealError(f"sealed SMS is malformed: {exc}") from None
    return recipient, text

"""Sealing of the outbox (the number and text of an SMS waiting to be sent never reach
the disk in clear), and of hex keys in their compact form.

The API seals them when it queues the SMS; the worker opens them when it sends it. The
key is derived (HKDF-SHA256, see ServerSecret.seal) from the server secret, which lives in
the key file and never in the database, and from a *binding*: the hawk id digest of the
session that asked for the SMS, or a fixed value for an SMS without a session (the
admin's test SMS). So a copy of the database without the key file reveals nothing, and
once the session is gone (unregistered, or expired and removed) its SMS cannot be opened
even with the key file: the binding went with the session row.

Hex keys (a session's Hawk key, 32 bytes written as 64 hex characters) are sealed as their
32 bytes, 60 sealed bytes instead of 92 (``seal_hex_key``); ``open_hex_key`` also opens
those sealed as their 64 characters before migration 0015, which cannot re-seal them: it
has no hawk id, the server never stores it.
"""
from __future__ import annotations

import json
import re

from gateway.crypto.tokens import SealError, ServerSecret

OUTBOX = "outbox-sms"
NO_SESSION = "no-session"  # the binding of an SMS that no session asked for
HEX_KEY_BYTES = 32
_HEX_KEY = re.compile(r"[0-9a-f]{64}")
_OLD_HEX_KEY = re.compile(rb"[0-9a-fA-F]{64}")  # sealed as text, before migration 0015


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


def seal_hex_key(secret: ServerSecret, hawk_id: str, purpose: str, key: str) -> bytes:
    """``key`` (64 lowercase hex characters: the case matters, a Hawk key's characters
    are its MAC key) sealed as its 32 bytes under ``secret``, ``hawk_id`` and ``purpose``.
    Raises ValueError for any other value, which ``open_hex_key`` could not give back."""
    if not _HEX_KEY.fullmatch(key):
        raise ValueError("a hex key to seal must be 64 lowercase hex characters")
    return secret.seal(hawk_id, purpose, bytes.fromhex(key))


def open_hex_key(secret: ServerSecret, hawk_id: str, purpose: str, sealed: bytes) -> str:
    """The 64 hex characters of a key sealed by ``seal_hex_key``, or by ``ServerSecret.seal``
    as those characters (rows written before migration 0015). Raises SealError."""
    plain = secret.open_bytes(hawk_id, purpose, sealed)  # raises SealError
    if len(plain) == HEX_KEY_BYTES:
        return plain.hex()
    if _OLD_HEX_KEY.fullmatch(plain):
        return plain.decode("ascii")
    raise SealError(f"sealed hex key is malformed ({len(plain)} bytes)")

"""Verification codes: generated with ``secrets``, stored as keyed hashes, compared in
constant time."""
from __future__ import annotations

import hmac
import secrets

from gateway.crypto.tokens import ServerSecret

SHORT_CODE_DIGITS = 6
LONG_CODE_BYTES = 32


def new_short_code() -> str:
    """Six uniformly random decimal digits (leading zeros kept)."""
    return f"{secrets.randbelow(10 ** SHORT_CODE_DIGITS):0{SHORT_CODE_DIGITS}d}"


def new_long_code() -> str:
    """32 random bytes as 64 lowercase hex characters."""
    return secrets.token_hex(LONG_CODE_BYTES)


def normalise_code(code: str) -> str:
    """What the user typed, as stored: surrounding blanks removed, hex lowercased."""
    return code.strip().lower()


def code_digest(secret: ServerSecret, session_digest: str, code: str) -> str:
    """Keyed hash of a code, bound to its session."""
    return secret.digest("code", f"{session_digest}:{normalise_code(code)}")


def code_matches(secret: ServerSecret, session_digest: str, code: str, stored: str) -> bool:
    return hmac.compare_digest(code_digest(secret, session_digest, code), stored)


def check_code(uow, deps, session_digest: str, current, code: str, *, gone, wrong) -> None:
    """Check ``code`` against ``current`` (the session's code row) in ``uow``: raises
    ``gone`` for an expired or burnt code, ``wrong`` for a mismatch (the failed try is
    committed first, and the message says how many tries are left); returns on a match.
    Every face checks its codes here, so tries and lifetimes hold the same everywhere."""
    if current.expires_at <= deps.now():
        raise gone("this verification code has expired; request a new one")
    if current.failed_attempts >= deps.settings.max_code_attempts:
        raise gone("too many wrong tries: this code no longer works; request a new one")
    if not code_matches(deps.secret, session_digest, code, current.code_digest):
        failures = uow.codes.record_failure(current)
        uow.commit()
        left = max(0, deps.settings.max_code_attempts - failures)
        raise wrong(f"invalid verification code ({left} tries left)")

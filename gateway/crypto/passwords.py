"""Memory-hard password hashes (scrypt, from hashlib: OpenSSL's), one format for every
password the gateway keeps (the admin page's, TextSecure accounts').

Stored as ``scrypt$<log2 N>$<r>$<p>$<salt hex>$<hash hex>``: the cost travels with the
hash, so it can be raised later without invalidating what is stored. Checked in constant
time. A hash costs 128 · r · N bytes of memory (16 MiB at log2 N = 14, r = 8).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

SCHEME = "scrypt"
R, P = 8, 1
SALT_BYTES, HASH_BYTES = 16, 32
# What a stored hash may ask for (a forged or corrupted one must not cost gigabytes).
MIN_LOG2_N, MAX_LOG2_N, MAX_R, MAX_P = 10, 20, 32, 4


class PasswordHashError(ValueError):
    """A stored hash that is not one of ours (malformed, or a cost out of range)."""


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2 ** log2_n, r=r, p=p,
                          maxmem=256 * r * 2 ** log2_n + (1 << 20), dklen=HASH_BYTES)


def hash_password(password: str, log2_n: int) -> str:
    """The stored form of ``password`` at cost 2 ** ``log2_n``, with a fresh salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, log2_n, R, P)
    return f"{SCHEME}${log2_n}${R}${P}${salt.hex()}${digest.hex()}"


def parse(stored: str) -> tuple[int, int, int, bytes, bytes]:
    """(log2 N, r, p, salt, hash) of a stored hash; raises PasswordHashError."""
    try:
        scheme, log2_n, r, p, salt, digest = stored.strip().split("$")
        values = int(log2_n), int(r), int(p), bytes.fromhex(salt), bytes.fromhex(digest)
    except ValueError:
        raise PasswordHashError("not an scrypt hash") from None
    if (scheme != SCHEME or not MIN_LOG2_N <= values[0] <= MAX_LOG2_N
            or not 1 <= values[1] <= MAX_R or not 1 <= values[2] <= MAX_P):
        raise PasswordHashError("not a supported scrypt hash")
    return values


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (constant-time compare).
    Raises PasswordHashError for a malformed ``stored``."""
    log2_n, r, p, salt, digest = parse(stored)
    return hmac.compare_digest(_scrypt(password, salt, log2_n, r, p), digest)

"""Passwords of TextSecure accounts: scrypt (hashlib, OpenSSL's), memory-hard.

Stored as ``scrypt$<log2 N>$<r>$<p>$<salt hex>$<hash hex>``, so that the cost can be
raised later without invalidating stored hashes. A hash costs ~16 MiB and tens of
milliseconds: a client authenticates on every call, so a process remembers, for the
hashes it checked, a SHA-256 of salt and password that matched (never the password),
and checks a known pair with one SHA-256; a wrong password always pays the full hash.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

SCHEME = "scrypt"
LOG2_N, R, P = 14, 8, 1  # 16 MiB, as OWASP's minimum for scrypt (N=2^14, r=8, p=1)
SALT_BYTES = 16
HASH_BYTES = 32
MAX_LOG2_N = 20


class PasswordHashError(ValueError):
    """A stored hash that is not one of ours."""


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2 ** log2_n, r=r, p=p,
                          maxmem=256 * r * 2 ** log2_n + (1 << 20), dklen=HASH_BYTES)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, LOG2_N, R, P)
    return f"{SCHEME}${LOG2_N}${R}${P}${salt.hex()}${digest.hex()}"


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes]:
    try:
        scheme, log2_n, r, p, salt, digest = stored.split("$")
        values = int(log2_n), int(r), int(p), bytes.fromhex(salt), bytes.fromhex(digest)
    except ValueError:
        raise PasswordHashError("not an scrypt hash") from None
    if scheme != SCHEME or not 1 <= values[0] <= MAX_LOG2_N:
        raise PasswordHashError("not an scrypt hash")
    return values


def remembered(password: str, stored: str) -> bool:
    """Whether this process already saw ``password`` match ``stored`` (no scrypt: one
    SHA-256). Raises PasswordHashError for a malformed ``stored``."""
    salt = _parse(stored)[3]
    known = _remembered.get(stored)
    return known is not None and hmac.compare_digest(
        known, hashlib.sha256(salt + password.encode("utf-8")).digest())


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (constant time compare).
    Raises PasswordHashError for a malformed ``stored``."""
    log2_n, r, p, salt, digest = _parse(stored)
    fingerprint = hashlib.sha256(salt + password.encode("utf-8")).digest()
    known = _remembered.get(stored)
    if known is not None and hmac.compare_digest(known, fingerprint):
        return True
    matches = hmac.compare_digest(_scrypt(password, salt, log2_n, r, p), digest)
    if matches:
        _remember(stored, fingerprint)
    return matches


# stored hash -> fingerprint of the password that matched it, most recent last (this
# process only; plain dict operations, atomic under the GIL for the API's threads).
_remembered: dict[str, bytes] = {}
REMEMBERED = 4096


def _remember(stored: str, fingerprint: bytes) -> None:
    _remembered.pop(stored, None)
    _remembered[stored] = fingerprint
    while len(_remembered) > REMEMBERED:
        del _remembered[next(iter(_remembered))]

"""Passwords of TextSecure accounts: gateway.crypto.passwords (scrypt) at log2 N = 14.

A hash costs ~16 MiB and tens of
milliseconds: a client authenticates on every call, so a process remembers, for the
hashes it checked, a SHA-256 of salt and password that matched (never the password),
and checks a known pair with one SHA-256; a wrong password always pays the full hash,
and so does a number with no account (``check_no_account``), so the time of a failed
login does not tell whether the number is registered.
"""
from __future__ import annotations

import hashlib
import hmac

from gateway.crypto import passwords
from gateway.crypto.passwords import PasswordHashError

LOG2_N = 14  # 16 MiB, as OWASP's minimum for scrypt (N=2^14, r=8, p=1)

__all__ = ["PasswordHashError", "hash_password", "check_password", "check_no_account",
           "remembered"]

# What a number with no account is checked against: a hash of the accounts' cost, fixed
# salt, and a digest that is not scrypt's output for any known password (all zeros).
NO_ACCOUNT_HASH = (f"{passwords.SCHEME}${LOG2_N}${passwords.R}${passwords.P}$"
                   f"{'00' * passwords.SALT_BYTES}${'00' * passwords.HASH_BYTES}")


def hash_password(password: str) -> str:
    return passwords.hash_password(password, LOG2_N)


def _salt(stored: str) -> bytes:
    return passwords.parse(stored)[3]


def remembered(password: str, stored: str) -> bool:
    """Whether this process already saw ``password`` match ``stored`` (no scrypt: one
    SHA-256). Raises PasswordHashError for a malformed ``stored``."""
    salt = _salt(stored)
    known = _remembered.get(stored)
    return known is not None and hmac.compare_digest(
        known, hashlib.sha256(salt + password.encode("utf-8")).digest())


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (constant time compare).
    Raises PasswordHashError for a malformed ``stored``."""
    fingerprint = hashlib.sha256(_salt(stored) + password.encode("utf-8")).digest()
    known = _remembered.get(stored)
    if known is not None and hmac.compare_digest(known, fingerprint):
        return True
    matches = passwords.check_password(password, stored)
    if matches:
        _remember(stored, fingerprint)
    return matches


def check_no_account(password: str) -> bool:
    """False, after the same scrypt a wrong password costs (for a number with no
    account: it must answer as late as a registered one)."""
    passwords.check_password(password, NO_ACCOUNT_HASH)
    return False


# stored hash -> fingerprint of the password that matched it, most recent last (this
# process only; plain dict operations, atomic under the GIL for the API's threads).
_remembered: dict[str, bytes] = {}
REMEMBERED = 4096


def _remember(stored: str, fingerprint: bytes) -> None:
    _remembered.pop(stored, None)
    _remembered[stored] = fingerprint
    while len(_remembered) > REMEMBERED:
        del _remembered[next(iter(_remembered))]

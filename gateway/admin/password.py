"""The admin page's password (``msisdn-gateway admin password``): a memory-hard hash
(scrypt, hashlib) kept in one file, ``admin_password_file`` (default
``<state_dir>/admin-password``, mode 0600). No file, no admin page.

Format of the file, one line: ``scrypt$<log2 N>$<r>$<p>$<salt hex>$<hash hex>``. Reading
it is cheap (each admin request does); checking a password costs about 32 MiB and a few
tens of milliseconds, which is also what makes guessing slow.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

SCHEME = "scrypt"
LOG2_N, R, P = 15, 8, 1  # 2^15 * 128 * 8 bytes = 32 MiB per check
SALT_BYTES, HASH_BYTES = 16, 32
MIN_LENGTH, MAX_LENGTH = 8, 1024


class PasswordError(ValueError):
    """A password that is refused (too short, too long), or a malformed password file."""


def password_file(settings) -> Path:
    return settings.admin_password_file or settings.state_dir / "admin-password"


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2 ** log2_n, r=r, p=p,
                          maxmem=2 ** log2_n * r * 128 * 2, dklen=HASH_BYTES)


def hash_password(password: str) -> str:
    """The line stored for ``password``; raises PasswordError when it is under
    MIN_LENGTH or over MAX_LENGTH characters."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise PasswordError(f"the password must be {MIN_LENGTH} to {MAX_LENGTH} characters")
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, LOG2_N, R, P)
    return f"{SCHEME}${LOG2_N}${R}${P}${salt.hex()}${digest.hex()}"


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches the stored line (constant-time comparison); False for
    a password over MAX_LENGTH. Raises PasswordError for a malformed line."""
    try:
        scheme, log2_n, r, p, salt, digest = stored.strip().split("$")
        log2_n, r, p = int(log2_n), int(r), int(p)
        salt, digest = bytes.fromhex(salt), bytes.fromhex(digest)
    except ValueError:
        raise PasswordError("the admin password file is malformed: set the password "
                            "again (msisdn-gateway admin password)") from None
    if scheme != SCHEME or not (10 <= log2_n <= 20 and 1 <= r <= 32 and 1 <= p <= 4):
        raise PasswordError("the admin password file is not a supported scrypt hash")
    if len(password) > MAX_LENGTH:
        return False
    return hmac.compare_digest(_scrypt(password, salt, log2_n, r, p), digest)


def read_password_hash(settings) -> str | None:
    """The stored line, or None when no password is set (the admin page is off); raises
    PasswordError when the file cannot be read."""
    path = password_file(settings)
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise PasswordError(f"cannot read the admin password file {path}: "
                            f"{exc.__class__.__name__}") from None
    return text or None


def write_password_hash(settings, line: str) -> Path:
    """Store ``line`` (from :func:`hash_password`) readable by its owner only, replacing
    the file atomically; returns its path."""
    path = password_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(line + "\n")
    os.replace(temporary, path)
    return path

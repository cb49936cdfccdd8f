"""The admin page's password (``msisdn-gateway admin password``): a memory-hard hash
(scrypt, hashlib) kept in one file, ``admin_password_file`` (default
``<state_dir>/admin-password``, mode 0600). No file, no admin page.

Format of the file, one line: gateway.crypto.passwords's (scrypt, log2 N = 15). Reading
it is cheap (each admin request does); checking a password costs about 32 MiB and a few
tens of milliseconds, which is also what makes guessing slow.

Logins are limited per client and for the whole box (gateway.api.admin.pages), so that
no one can spend the box's memory on scrypt; ``msisdn-gateway admin unlock``
(:func:`clear_login_limits`) lets the operator, from a shell on the box, in at once after
someone used them up.

Beside it, ``<file>.logout`` holds the sessions' generation, a random value a logout
replaces: a session made in another generation is over (gateway.api.admin.access), on
every API process. Not a time: a Pi without a clock battery may boot in the past.
"""
from __future__ import annotations

import secrets
from pathlib import Path

from gateway.config.keys import write_private
from gateway.crypto import passwords
from gateway.crypto.passwords import PasswordHashError

LOG2_N = 15  # 2^15 * 128 * 8 bytes = 32 MiB per check
# The login limits' scopes (gateway.verification.ratelimit): per client, and the box's.
LOGIN_SCOPE, BOX_LOGIN_SCOPE = "admin-login", "admin-login-box"
MIN_LENGTH, MAX_LENGTH = 8, 1024


class PasswordError(ValueError):
    """A password that is refused (too short, too long), or a malformed password file."""


def password_file(settings) -> Path:
    return settings.admin_password_file or settings.state_dir / "admin-password"


def hash_password(password: str) -> str:
    """The line stored for ``password``; raises PasswordError when it is under
    MIN_LENGTH or over MAX_LENGTH characters."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise PasswordError(f"the password must be {MIN_LENGTH} to {MAX_LENGTH} characters")
    return passwords.hash_password(password, LOG2_N)


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches the stored line (constant-time comparison); False for
    a password over MAX_LENGTH. Raises PasswordError for a malformed line."""
    try:
        passwords.parse(stored)
    except PasswordHashError:
        raise PasswordError("the admin password file is malformed or not a supported "
                            "scrypt hash: set the password again (msisdn-gateway admin "
                            "password)") from None
    if len(password) > MAX_LENGTH:
        return False
    return passwords.check_password(password, stored)


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
    """Store ``line`` (from :func:`hash_password`) readable by its owner only (0600),
    replacing the file atomically through ``<file>.tmp``; returns its path. Raises
    OSError (FileExistsError when another writer created that temporary file at the same
    moment)."""
    path = password_file(settings)
    write_private(path, (line + "\n").encode("ascii"))
    return path


def end_sessions(settings) -> None:
    """End every session made so far (a logout): a new generation. Raises OSError."""
    write_private(_logout_file(settings), secrets.token_hex(16).encode("ascii"))


def session_generation(settings) -> str | None:
    """The generation new sessions are made in ("" before the first logout); None when
    the file cannot be read, and then no session holds (none is let in on a doubt)."""
    try:
        return _logout_file(settings).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError):
        return None


def _logout_file(settings) -> Path:
    path = password_file(settings)
    return path.with_name(path.name + ".logout")


def clear_login_limits(deps) -> int:
    """Forget every admin login attempt counted, per client and for the box; returns how
    many windows were cleared."""
    with deps.uow() as uow:
        cleared = sum(uow.counters.clear(scope) for scope in (LOGIN_SCOPE, BOX_LOGIN_SCOPE))
        uow.commit()
    return cleared

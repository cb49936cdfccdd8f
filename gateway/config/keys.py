"""The server's secrets on disk: the certificate signing key (PEM) and the 32-byte
secret (hex). ``msisdn-gateway keys generate`` writes them; the service refuses to start
without them, except under ``--simulate``, where throw-away ones are created."""
from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from gateway.crypto import browserid
from gateway.crypto.tokens import SECRET_BYTES, ServerSecret
from gateway.config.settings import Settings, SettingsError

log = logging.getLogger(__name__)

GENERATE_HINT = "run `msisdn-gateway keys generate` (or set signing_key_file / secret_key_file)"


@dataclass(frozen=True)
class Keys:
    signing_key: browserid.SigningKey
    secret: ServerSecret


def write_private(path: Path, data: bytes) -> None:
    """``data`` as the whole of ``path``, readable by its owner only (0600) from the start,
    on disk, and replacing the file atomically through ``<path>.tmp``. A file already at
    either name is never written through: a stale or planted temporary file is removed
    and made afresh (not following a link), and the rename replaces a link at ``path``
    rather than its target, so the result never keeps an old file's mode. Raises OSError
    (FileExistsError when another writer made the temporary file at the same moment)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                         0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())  # on disk before it replaces the old one
    os.replace(temporary, path)


def generate_keys(settings: Settings, force: bool = False) -> list[Path]:
    """Write a new signing key and secret at the configured paths (mode 0600, see
    :func:`write_private`). Raises SettingsError when one exists and not ``force``."""
    paths = [settings.effective_signing_key_file, settings.effective_secret_key_file]
    if not force:
        for path in paths:
            if path.exists() or path.is_symlink():
                raise SettingsError(f"{path} already exists; use --force to replace it "
                                    "(every session and certificate made with it stops "
                                    "working)")
    write_private(paths[0], browserid.generate_signing_key("RS", 2048))
    write_private(paths[1], (secrets.token_hex(SECRET_BYTES) + "\n").encode())
    return paths


def _read(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SettingsError(f"{what} {path} does not exist: {GENERATE_HINT}") from None
    except OSError as exc:
        raise SettingsError(f"{what} {path} cannot be read: {exc.strerror}") from None
    if path.stat().st_mode & 0o077:
        log.warning("%s %s is readable by other users; chmod 600 it", what, path)
    return data


def load_keys(settings: Settings) -> Keys:
    """Load both secrets; under --simulate, create them first if missing.

    Raises SettingsError naming the file and `msisdn-gateway keys generate`.
    """
    if settings.simulate and not (settings.effective_signing_key_file.exists()
                                  and settings.effective_secret_key_file.exists()):
        log.warning("--simulate: creating throw-away keys under %s",
                    settings.effective_signing_key_file.parent)
        generate_keys(settings, force=True)
    pem = _read(settings.effective_signing_key_file, "signing key")
    try:
        signing_key = browserid.load_signing_key(pem)
    except ValueError as exc:
        raise SettingsError(f"signing key {settings.effective_signing_key_file}: {exc}") from None
    raw = _read(settings.effective_secret_key_file, "secret key").decode("ascii", "replace").strip()
    try:
        secret = ServerSecret(bytes.fromhex(raw))
    except ValueError:
        raise SettingsError(f"secret key {settings.effective_secret_key_file} must hold at "
                            f"least {SECRET_BYTES} bytes as hex: {GENERATE_HINT}") from None
    return Keys(signing_key, secret)

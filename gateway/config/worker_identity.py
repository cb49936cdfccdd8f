"""This box's worker identity: what the worker writes to every outbox row it claims
(``claimed_by``), to its modems' status and to its heartbeat (``workers``).

It must be stable (a restarted worker finds its own rows) and unique among the boxes that
share a database (two Raspberry Pis both called ``raspberrypi`` are two workers). So:

1. the ``worker_id`` setting, when set;
2. else ``<state_dir>/worker-id``, when it exists;
3. else one made now and kept there: the first label of the host name and 8 hex digits of
   a keyed hash of ``/etc/machine-id`` (the machine id itself never leaves the box, as
   systemd's ``sd_id128_get_machine_app_specific`` advises), or 8 random hex digits on a
   system without a machine id. ``raspberrypi-3f9a1c20``.

A cloned SD card copies the machine id and the state directory too: the heartbeat then
finds two instances of one identity (gateway.pipeline.leases refuses to start the second
one); set ``worker_id`` on one of them.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import socket
from pathlib import Path

from gateway.config.settings import WORKER_ID, Settings, SettingsError

log = logging.getLogger(__name__)

WORKER_ID_FILE = "worker-id"
MACHINE_ID_FILES = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))
BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")
# The message of the keyed hash (the machine id is the key): ids of other applications
# derived from the same machine id tell nothing about ours.
APPLICATION = b"msisdn-gateway worker identity"
HOST_LABEL_LENGTH = 40


def worker_identity(settings: Settings, *, keep: bool = True,
                    machine_id_files=MACHINE_ID_FILES, hostname: str | None = None) -> str:
    """This box's worker identity (see the module docstring). ``keep=False`` reads the
    kept one but makes none (the admin commands, which may run as another user). Raises
    SettingsError for a kept file that does not hold an identity."""
    if settings.worker_id:
        return settings.worker_id
    path = settings.state_dir / WORKER_ID_FILE
    kept = _read_kept(path)
    if kept:
        return kept
    made = derive_worker_id(hostname or socket.gethostname(), read_machine_id(machine_id_files))
    if not keep:
        return made
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x") as handle:  # two processes making it at once: one wins
            handle.write(made + "\n")
    except FileExistsError:
        return _read_kept(path) or made
    except OSError as exc:
        log.warning("cannot keep the worker identity %s in %s (%s): set worker_id so "
                    "that it stays the same", made, path, exc.strerror)
    else:
        log.info("worker identity %s made and kept in %s", made, path)
    return made


def _read_kept(path: Path) -> str | None:
    try:
        kept = path.read_text().strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SettingsError(f"{path} cannot be read: {exc.strerror}") from None
    if not WORKER_ID.fullmatch(kept):
        raise SettingsError(f"{path} does not hold a worker identity (1 to 64 letters, "
                            "digits, '.', '_' or '-'): fix or remove it, or set worker_id")
    return kept


def derive_worker_id(hostname: str, machine_id: str | None) -> str:
    """``<host label>-<8 hex digits>``: a keyed hash of ``machine_id``, or random without
    one."""
    label = re.sub(r"[^a-z0-9-]+", "-", hostname.split(".")[0].lower()).strip("-")
    label = label[:HOST_LABEL_LENGTH].rstrip("-") or "worker"
    if machine_id:
        suffix = hmac.new(machine_id.encode(), APPLICATION, hashlib.sha256).hexdigest()[:8]
    else:
        suffix = secrets.token_hex(4)
    return f"{label}-{suffix}"


def read_machine_id(files=MACHINE_ID_FILES) -> str | None:
    """The first machine id found (32 hex digits), or None."""
    for path in files:
        try:
            value = Path(path).read_text().strip().lower()
        except OSError:
            continue
        if re.fullmatch(r"[0-9a-f]{32}", value):
            return value
    return None


def boot_id(path: Path = BOOT_ID_FILE) -> str | None:
    """The kernel's id of this boot (Linux), or None: the same host and boot id mean the
    same running machine."""
    try:
        return path.read_text().strip() or None
    except OSError:
        return None

"""Telling the service manager (systemd, ``Type=notify``) how the gateway is doing.

The protocol of sd_notify(3): each message is one datagram of newline-separated
``KEY=VALUE`` fields (``READY=1``, ``STATUS=...``, ``WATCHDOG=1``, ``STOPPING=1``) sent to
the AF_UNIX datagram socket named by ``$NOTIFY_SOCKET``: a file system path, or a name in
the abstract namespace when it starts with ``@``. ``$WATCHDOG_USEC`` is the watchdog
timeout in microseconds; a service sends ``WATCHDOG=1`` at least every half of it or is
killed and restarted.

This module reads no environment (only ``gateway.config.settings`` does): a ``Notifier`` is built
from the settings ``notify_socket`` and ``watchdog_usec`` (:meth:`Notifier.for_settings`).
Without a socket every method is a no-op, so the same code runs by hand, in tests and
under systemd. Sending never raises: a service must not fail because its manager went
away (a failure is logged once, as a warning).

Who sends what (see also ``gateway.process.supervisor`` and ``gateway.process.worker``):

- ``msisdn-gateway serve`` (the unit's main process, so ``NotifyAccess=main`` suffices) is
  the only one that talks to systemd. It starts each child with ``NOTIFY_SOCKET`` pointing
  at a socket of its own (a relay) and tells systemd ``READY=1`` once the worker said it
  was ready and the API said it listens, the worker's ``STATUS=`` lines as they change,
  ``WATCHDOG=1`` each time the worker sends one while both children run, and
  ``STOPPING=1`` when it starts to stop.
- The worker sends ``STATUS=`` (how many modems are ready) while it starts and when that
  changes, ``READY=1`` once its modems are open and its jobs run, ``WATCHDOG=1`` from a job
  of its scheduler every half watchdog timeout (a hung scheduler sends none), and
  ``STOPPING=1`` when it stops. ``msisdn-gateway worker`` run as a unit of its own sends the
  same straight to systemd.
- The API (gunicorn's arbiter) sends ``READY=1`` by itself once it listens.
"""
from __future__ import annotations

import logging
import socket
import threading
from typing import Any, Iterable

log = logging.getLogger(__name__)


def socket_address(address: str) -> str | None:
    """The ``sendto`` address for a ``$NOTIFY_SOCKET`` value: a path as is, ``@name`` as
    the abstract ``"\\0name"``; None for anything else (sd_notify accepts nothing else on
    AF_UNIX)."""
    if address.startswith("@") and len(address) > 1:
        return "\0" + address[1:]
    if address.startswith("/"):
        return address
    return None


def parse_message(data: bytes | str) -> dict[str, str]:
    """The fields of one notification datagram (``{"READY": "1", "STATUS": "..."}``);
    lines without ``=`` are ignored, as systemd does."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    fields = {}
    for line in text.split("\n"):
        key, sep, value = line.partition("=")
        if sep and key:
            fields[key] = value
    return fields


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())


def modems_status(health: Iterable[Any]) -> str:
    """A one-line ``STATUS=`` text about the modems (``ModemHealth`` snapshots: ``name``,
    ``state``): ``"1 of 2 modems ready; modem1 gone"``."""
    health = list(health)
    if not health:
        return "no modems configured: SMS stay queued"
    ready = sum(1 for h in health if h.state == "ready")
    text = f"{ready} of {len(health)} modem{'s' if len(health) != 1 else ''} ready"
    others = [f"{h.name} {h.state}" for h in health if h.state != "ready"]
    return "; ".join([text, *others])


class Notifier:
    """Sends notifications to one ``$NOTIFY_SOCKET`` (any thread; one short-lived socket
    per message, as sd_notify does). ``watchdog_usec`` is the watchdog timeout in
    microseconds, 0 when there is no watchdog."""

    def __init__(self, address: str = "", watchdog_usec: int = 0) -> None:
        self.address = address
        self.watchdog_usec = max(0, int(watchdog_usec)) if address else 0
        self._target = socket_address(address) if address else None
        self._lock = threading.Lock()
        self._last_status: str | None = None
        self._warned = False
        if address and self._target is None:
            log.warning("NOTIFY_SOCKET %r is neither a path nor @abstract: not notifying",
                        address)

    @classmethod
    def for_settings(cls, settings: Any) -> Notifier:
        """The notifier the settings ask for (``notify_socket``, ``watchdog_usec``)."""
        return cls(settings.notify_socket, settings.watchdog_usec)

    @property
    def enabled(self) -> bool:
        return self._target is not None

    @property
    def keepalive_interval(self) -> float | None:
        """Seconds between two ``WATCHDOG=1``: half the watchdog timeout; None when no
        watchdog is configured (or there is no socket)."""
        return self.watchdog_usec / 2e6 if self.enabled and self.watchdog_usec else None

    def send(self, *fields: str) -> bool:
        """Send one datagram made of ``fields`` (``"READY=1"``, ``"STATUS=..."``); whether it
        was sent. Never raises."""
        if self._target is None or not fields:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto("\n".join(fields).encode("utf-8"), self._target)
        except OSError as exc:
            level = logging.DEBUG if self._warned else logging.WARNING
            self._warned = True
            log.log(level, "cannot notify the service manager at %s: %s", self.address, exc)
            return False
        return True

    def status(self, text: str) -> bool:
        """``STATUS=text`` (one line: newlines become spaces)."""
        return self.send(self._status_field(text))

    def update_status(self, text: str) -> bool:
        """``STATUS=text`` unless it is the last status sent."""
        with self._lock:
            if _one_line(text) == self._last_status:
                return False
        return self.status(text)

    def ready(self, status: str | None = None) -> bool:
        """``READY=1``, with a status line when given."""
        return self.send("READY=1", *([self._status_field(status)] if status else []))

    def _status_field(self, text: str) -> str:
        with self._lock:
            self._last_status = _one_line(text)
            return f"STATUS={self._last_status}"

    def watchdog(self) -> bool:
        """``WATCHDOG=1``: a keep-alive."""
        return self.send("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        """``STOPPING=1``, with a status line when given."""
        return self.send("STOPPING=1", *([f"STATUS={status}"] if status else []))

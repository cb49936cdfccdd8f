"""The worker's doorbell: an API process rings it after committing work for the worker
(an SMS queued in the outbox, a --simulate phone or fault request), so that the worker
acts at once instead of at its next poll of the database.

The bell is a Linux abstract-namespace datagram socket named after the database
(``\\0msisdn-gateway/<digest of the database URL>``): no file to create, clean up or
protect, and two gateways on one machine with different databases never ring each other.
A ring is a datagram of the kinds of work committed (gateway.storage.transaction's
WORK_KINDS: a byte each, ``o`` outbox, ``s`` simulator, ``w`` webhooks), sent without
blocking and without an answer; the listener wakes the worker's pumps of those kinds only,
so that an SMS queued does not also wake the webhook sender and the simulator to find
nothing (a byte it does not know, as ``!`` from an older sender, wakes every pump). It is
only a hint:
a ring nobody hears (no worker running, another box on a shared PostgreSQL, a full socket
buffer because the worker is already awake) costs nothing and loses nothing, since the
worker still polls every ``dispatch_interval`` and the work is in the database.

Only the worker of this box hears it; workers of other boxes sharing a PostgreSQL
database keep finding the rows by polling.
"""
from __future__ import annotations

import atexit
import hashlib
import logging
import os
import socket
import sys
import threading
from typing import Callable, Mapping

from gateway.storage.transaction import WORK_KINDS

log = logging.getLogger(__name__)

PREFIX = b"\0msisdn-gateway/"


def bell_address(database_url: str) -> bytes:
    """The abstract socket name for ``database_url`` (a relative SQLite path is made
    absolute, so that processes started from one directory agree)."""
    key = database_url
    if key.startswith("sqlite:///") and not key.startswith("sqlite:////"):
        path = key[len("sqlite:///"):]
        if path and not path.startswith(":memory:"):
            key = "sqlite:///" + os.path.abspath(path)
    return PREFIX + hashlib.sha256(key.encode()).hexdigest()[:24].encode()


def supported() -> bool:
    """Abstract Unix sockets exist on Linux only; elsewhere the worker just polls."""
    return sys.platform.startswith("linux")


class _Sender:
    """One unbound datagram socket per process (made at the first ring, again after a
    fork), shared by every Doorbell of the process."""

    def __init__(self) -> None:
        self._socket: socket.socket | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def send(self, address: bytes, message: bytes) -> None:
        sock = self._socket
        if sock is None or self._pid != os.getpid():
            with self._lock:
                if self._socket is None or self._pid != os.getpid():
                    self.close()  # the parent's, inherited through fork
                    self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    self._socket.setblocking(False)
                    self._pid = os.getpid()
                sock = self._socket
        sock.sendto(message, address)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


_SENDER = _Sender()
atexit.register(_SENDER.close)


class Doorbell:
    """The ringing side (API processes, admin commands and the worker itself)."""

    def __init__(self, address: bytes) -> None:
        self.address = address

    def ring(self, kinds: bytes = WORK_KINDS) -> None:
        """Wake the worker's pumps of ``kinds`` (WORK_KINDS bytes; every pump by
        default); never raises, never blocks."""
        if not supported():
            return
        try:
            _SENDER.send(self.address, kinds or WORK_KINDS)
        except OSError:
            pass  # nobody listens, or the worker is already woken: it polls anyway


class DoorbellListener:
    """The worker's side: a thread named ``doorbell`` that, when rung, calls once each
    callback of ``on_ring`` (kind -> callbacks) whose kind the ring names; a ring naming
    a kind missing there calls them all. ``start()`` returns False (and the worker only
    polls) when the bell cannot be bound, e.g. another worker of the same database runs
    on this machine."""

    def __init__(self, address: bytes,
                 on_ring: Mapping[bytes, list[Callable[[], None]]]) -> None:
        self.address = address
        self._on_ring = {kind: list(callbacks) for kind, callbacks in on_ring.items()}
        self._everyone = list(dict.fromkeys(
            callback for callbacks in on_ring.values() for callback in callbacks))
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    def start(self) -> bool:
        if not supported():
            return False
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(self.address)
        except OSError as exc:
            sock.close()
            log.warning("doorbell not bound (%s): another worker of this database runs "
                        "on this machine? SMS are still found by polling", exc.strerror)
            return False
        self._socket = sock
        self._thread = threading.Thread(target=self._listen, name="doorbell", daemon=True)
        self._thread.start()
        return True

    def _listen(self) -> None:
        sock = self._socket
        while not self._stopping:
            try:
                message = sock.recv(64)
            except OSError:
                if self._stopping:
                    return
                log.exception("doorbell: receive failed; the worker goes on polling")
                return
            if self._stopping:
                return
            for callback in self.callbacks(message):
                callback()

    def callbacks(self, message: bytes) -> list[Callable[[], None]]:
        """What a ring of ``message`` calls, each once."""
        kinds = [message[i:i + 1] for i in range(len(message))]
        if not kinds or any(kind not in self._on_ring for kind in kinds):
            return self._everyone
        return list(dict.fromkeys(
            callback for kind in kinds for callback in self._on_ring[kind]))

    def stop(self) -> None:
        """Stop listening and release the name."""
        if self._socket is None:
            return
        self._stopping = True
        Doorbell(self.address).ring()  # wakes the blocked recv()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._socket.close()
        self._socket = None

"""Name resolution with a deadline, for the webhook sender (gateway.pipeline.webhooks).

``socket.getaddrinfo`` waits as long as the system's resolver does (resolv.conf's
timeouts and attempts: tens of seconds), and the worker has one webhook pump: a slow DNS
server for one client's host would hold every client's webhooks, and outlast the claim on
the event (another worker would then send it too). :class:`DeadlineResolver` looks names
up on a few daemon threads of its own (``webhook-dns-N``, started at the first lookup) and
gives up after ``timeout`` seconds with TimeoutError (an OSError, so the destination check
refuses the host as unresolvable: a failed attempt, retried). A lookup that hangs keeps
its thread until the system's resolver returns; only when every thread hangs do the
lookups behind them wait their deadline out too. An IP address needs no lookup and takes
no thread. Daemon threads: a hung lookup never delays the worker's exit.
"""
from __future__ import annotations

import ipaddress
import queue
import socket
import threading
from concurrent.futures import Future

DNS_TIMEOUT = 3.0  # seconds; within the attempt's slack (webhooks.ATTEMPT_SLACK)
THREADS = 4


class DeadlineResolver:
    """A ``getaddrinfo(host, port, **kwargs)`` that raises TimeoutError after ``timeout``
    seconds (None: DNS_TIMEOUT). ``lookup`` (None: ``socket.getaddrinfo``, looked up at
    each call) does the resolving. Thread-safe."""

    def __init__(self, timeout: float | None = None, lookup=None,
                 threads: int = THREADS) -> None:
        self._timeout, self._lookup, self._count = timeout, lookup, threads
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._started = False
        self._lock = threading.Lock()

    def __call__(self, host: str, port: int, **kwargs):
        if _is_address(host):
            return self._resolve(host, port, **kwargs)  # no DNS involved
        self._start()
        future: Future = Future()
        self._queue.put((future, host, port, kwargs))
        return future.result(timeout=self._timeout or DNS_TIMEOUT)

    def _resolve(self, host: str, port: int, **kwargs):
        return (self._lookup or socket.getaddrinfo)(host, port, **kwargs)

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            for number in range(self._count):
                threading.Thread(target=self._serve, name=f"webhook-dns-{number}",
                                 daemon=True).start()
            self._started = True

    def _serve(self) -> None:
        while True:
            future, host, port, kwargs = self._queue.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self._resolve(host, port, **kwargs))
            except BaseException as exc:  # noqa: BLE001  handed to the caller, who raises it
                future.set_exception(exc)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return True

"""Workers on one database: each one's heartbeat, and the leases on the rows it sends.

A worker claims an outbox row under a lease of ``worker_lease`` seconds (``claim_due``).
Every third of the lease its ``heartbeat`` renews its row in ``workers`` and the lease of
every row it is sending, then marks ``unknown`` every row still ``sending`` whose lease
ended: its worker died (kill -9, power cut, a box that never returns) or lost the database,
and may have sent it, so it is never resent. Whichever worker notices first does it.

The bound: a worker that dies renewed its leases at most one renewal interval before;
they end at most ``worker_lease`` later, and another live worker's next heartbeat (at most
a third of ``worker_lease`` after that) marks the rows. So a dead worker's rows are
``unknown`` within 4/3 x ``worker_lease`` of its death, well within the 2 x
``worker_lease`` the README promises (60 s by default), as long as one worker runs;
otherwise the dead worker's own restart does it (``Dispatcher.recover_interrupted``).
Leases compare the workers' clocks: keep the boxes on NTP (a clock more than a quarter
lease off the database server's is logged).

Identities: ``join`` refuses to start a worker whose identity another live worker uses (a
cloned SD card keeps the machine id and the state directory): the same host and boot with
another running process, or a heartbeat renewed elsewhere while it waits one interval. A
previous instance that died (same machine, process gone; or silent for the interval) is
simply taken over. Threads: ``heartbeat`` runs on the scheduler's executor.
"""
from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Callable

from gateway import metrics
from gateway.config.worker_identity import boot_id
from gateway.deps import Deps

log = logging.getLogger(__name__)

LEASE_ENDED = "its worker stopped renewing its claim while sending: it may have been sent"
RENEWALS_PER_LEASE = 3


class WorkerIdentityInUse(RuntimeError):
    """Another live worker has this worker's identity."""


@dataclass(frozen=True)
class Instance:
    """This running worker: its identity, and what tells it from another process or box
    with the same identity."""

    worker: str
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    boot_id: str | None = field(default_factory=boot_id)
    token: str = field(default_factory=lambda: secrets.token_hex(8))

    def same_machine(self, row) -> bool:
        return self.boot_id is not None and (row.host, row.boot_id) == (self.host, self.boot_id)


def process_running(pid: int) -> bool:
    """Whether process ``pid`` of this machine runs and may be a gateway (its command line
    names it, where /proc tells: a pid reused by another program after a crash is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    try:
        return b"gateway" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc: assume the worst


class Presence:
    """One worker's heartbeat and leases (see the module docstring)."""

    def __init__(self, deps: Deps, instance: Instance,
                 wait: Callable[[float], None] = time.sleep,
                 process_running: Callable[[int], bool] = process_running) -> None:
        self._deps, self.instance = deps, instance
        self.lease = deps.settings.worker_lease
        self.interval = self.lease / RENEWALS_PER_LEASE
        self._wait, self._process_running = wait, process_running
        self._skew_logged = False

    @property
    def worker(self) -> str:
        return self.instance.worker

    def join(self) -> None:
        """Register this instance under its identity; raises WorkerIdentityInUse when
        another live worker has it (may wait up to 1.5 renewal intervals to tell)."""
        me, deps = self.instance, self._deps
        with deps.uow() as uow:
            row = uow.workers.get(me.worker)
        if row is not None and self._maybe_alive(row):
            if me.same_machine(row):
                if row.pid != me.pid and self._process_running(row.pid):
                    raise self._in_use(row, "another worker process on this machine")
            else:
                self._wait(self.interval * 1.5)
                with deps.uow() as uow:
                    again = uow.workers.get(me.worker)
                if again is not None and again.last_seen > row.last_seen:
                    raise self._in_use(again, "a worker that keeps renewing its heartbeat")
        with deps.uow() as uow:
            uow.workers.register(self._row(deps.now()))
            uow.commit()
        log.info("worker %s joined (lease %d s, renewed every %.0f s)", me.worker,
                 self.lease, self.interval)

    def _row(self, now) -> dict:
        me = self.instance
        return {"id": me.worker, "host": me.host, "pid": me.pid, "boot_id": me.boot_id,
                "instance": me.token, "started_at": now, "last_seen": now, "stopped_at": None}

    def _maybe_alive(self, row) -> bool:
        fresh = row.last_seen > self._deps.now() - timedelta(seconds=self.lease)
        return row.instance != self.instance.token and row.stopped_at is None and fresh

    def _in_use(self, row, who: str) -> WorkerIdentityInUse:
        return WorkerIdentityInUse(
            f"worker identity {self.worker!r} is in use by {who} (host {row.host}, pid "
            f"{row.pid}, seen {row.last_seen:%H:%M:%S}Z): give each box its own worker_id "
            "(a cloned system keeps /etc/machine-id and <state_dir>/worker-id)")

    def heartbeat(self) -> dict[str, int]:
        """Renew this worker's heartbeat and leases, then mark unknown the rows whose
        lease ended (any worker's); returns those, per worker that claimed them."""
        deps, me = self._deps, self.instance
        now = deps.now()
        with deps.uow() as uow:
            if not uow.workers.touch(me.worker, me.token, now):
                row = uow.workers.get(me.worker)
                if row is None:  # forgotten (a restored database): join again
                    uow.workers.register(self._row(now))
                else:
                    log.error("worker identity %s was taken by host %s (pid %s): two "
                              "workers share one identity; give each box its own "
                              "worker_id", me.worker, row.host, row.pid)
            uow.outbox.renew_leases(me.worker, now + timedelta(seconds=self.lease))
            database_time = uow.workers.database_time()
            uow.commit()
        self._check_clock(now, database_time)
        with deps.uow() as uow:
            expired = uow.outbox.expire_leases(now, LEASE_ENDED)
            uow.commit()
        if expired:
            metrics.outbox_finished("unknown", None, count=sum(expired.values()))
            log.warning("marked unknown, their worker's lease having ended: %s",
                        ", ".join(f"{n} SMS of {w or '(no worker)'}"
                                  for w, n in sorted(expired.items())))
        return expired

    def _check_clock(self, now, database_time) -> None:
        if database_time is None or self._skew_logged:
            return
        skew = (now - database_time).total_seconds()
        if abs(skew) > self.lease / 4:
            self._skew_logged = True
            log.warning("this box's clock is %+.0f s off the database server's: leases "
                        "on claimed SMS need the boxes' clocks in sync (NTP)", skew)

    def leave(self) -> None:
        """A clean stop (the sends in progress are finished): say so."""
        with self._deps.uow() as uow:
            uow.workers.stopped(self.worker, self.instance.token, self._deps.now())
            uow.commit()

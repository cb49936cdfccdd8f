"""The worker process: owns the scheduler (and, with the pipeline, the modems).

Jobs: ``cleanup`` removes expired sessions, codes, nonces, rate counters and old outbox
rows every ``cleanup_interval`` seconds.
"""
from __future__ import annotations

import logging
import signal
import threading

from apscheduler.schedulers.background import BackgroundScheduler

from gateway.storage.repositories import delete_expired
from gateway.verification.deps import Deps

log = logging.getLogger(__name__)

OUTBOX_RETENTION_SECONDS = 86400


def cleanup(deps: Deps) -> dict:
    """One cleanup pass; returns rows removed per table."""
    with deps.uow() as uow:
        counts = delete_expired(uow.db, deps.now(), OUTBOX_RETENTION_SECONDS)
        uow.commit()
    removed = {table: n for table, n in counts.items() if n}
    if removed:
        log.info("cleanup removed %s", removed)
    return counts


def _guarded(job, deps: Deps):
    def run():
        try:
            job(deps)
        except Exception:  # top of a job: log with traceback, keep the scheduler alive
            log.exception("job %s failed", job.__name__)
    run.__name__ = job.__name__
    return run


def build_scheduler(deps: Deps) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True,
                                                                  "max_instances": 1})
    scheduler.add_job(_guarded(cleanup, deps), "interval", id="cleanup", name="cleanup",
                      seconds=deps.settings.cleanup_interval)
    return scheduler


def run_worker(deps: Deps, stop: threading.Event | None = None) -> None:
    """Run the scheduler until SIGTERM/SIGINT (or ``stop`` is set)."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    scheduler = build_scheduler(deps)
    scheduler.start()
    log.info("worker started")
    _guarded(cleanup, deps)()
    stop.wait()
    scheduler.shutdown(wait=True)
    log.info("worker stopped")

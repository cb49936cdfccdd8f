"""`--simulate` for the commands that touch modems: a worker with simulated modems in this
process (not meant to run beside a `serve --simulate` on the same database)."""
from __future__ import annotations

from contextlib import contextmanager

from gateway.deps import Deps
from gateway.process.worker import Worker


@contextmanager
def local_worker(deps: Deps):
    """Start a worker (modems, dispatcher, jobs) for the duration of the block."""
    worker = Worker(deps)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()

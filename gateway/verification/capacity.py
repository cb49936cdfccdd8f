"""What the modems can do right now, as the workers last published it (modem_status).

The API never talks to modems: it reads their status from the database, every box's
modems together (several boxes may share one PostgreSQL database, each worker publishing
its own). A status older than ``modem_status_ttl`` is not trusted (its worker may be down).
"""
from __future__ import annotations

import math

from gateway.errors import ServiceUnavailable
from gateway.storage.uow import UnitOfWork
from gateway.deps import Deps

# Until a modem has sent something, assume this (a typical 2G/LTE submit takes 1-4 s).
DEFAULT_SECONDS_PER_PART = 3.0


def healthy_modems(uow: UnitOfWork, deps: Deps) -> list:
    """The statuses (rows with ModemStatus's columns) of the healthy modems of every
    worker, fresh ones."""
    return [status for status in uow.modems.fresh(deps.now(), deps.settings.modem_status_ttl)
            if status.healthy]


def no_modem_error() -> ServiceUnavailable:
    return ServiceUnavailable("No modem can send SMS right now, please try again shortly",
                              retry_after=30)


def ensure_capacity(uow: UnitOfWork, deps: Deps) -> None:
    """Refuse (503/201) an SMS that would wait longer than ``queue_time_budget`` behind
    the queue at the measured speed of every healthy modem of every box (they drain one
    queue together); ``retryAfter`` is when the queue will have drained enough. A row
    being sent by a worker whose lease ended no longer counts."""
    modems = healthy_modems(uow, deps)
    if not modems:
        raise no_modem_error()
    parts_per_second = sum(1.0 / (m.seconds_per_part or DEFAULT_SECONDS_PER_PART)
                           for m in modems)
    drain_seconds = (uow.outbox.pending_parts_estimate(deps.now()) + 1) / parts_per_second
    excess = drain_seconds - deps.settings.queue_time_budget
    if excess > 0:
        raise ServiceUnavailable(retry_after=max(1, math.ceil(excess)))

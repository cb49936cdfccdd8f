"""An in-process worker over the real modem pool and simulated modems, for pipeline tests.

The jobs are driven by the test (no scheduler): ``send_due`` claims and sends, waiting
for the send threads; inbound SMS and reports are awaited on a condition."""
from __future__ import annotations

import threading
from concurrent.futures import wait

import pytest
from sqlalchemy import select

import modem.sim
from fakes import WatchedPool
from gateway.pipeline.simulation import Simulation
from gateway.process.worker import Worker


class ObservedWorker(Worker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.changed = threading.Condition()
        self.stored, self.reports = [], []

    def handle_sms(self, sms):
        super().handle_sms(sms)
        with self.changed:
            self.stored.append(sms)
            self.changed.notify_all()

    def handle_report(self, report):
        super().handle_report(report)
        with self.changed:
            self.reports.append(report)
            self.changed.notify_all()

    def wait(self, predicate, timeout: float = 10.0) -> None:
        with self.changed:
            assert self.changed.wait_for(predicate, timeout), "timed out waiting for the modems"

    def send_due(self) -> int:
        """Claim the due rows and wait until every send started is recorded."""
        return finish(self.dispatcher.dispatch_due())

    def sync(self) -> None:
        self.simulation.sync(self.deps)
        self.publish_status()


def finish(sends, timeout: float = 30.0) -> int:
    """Wait for the sends ``dispatch_due`` started; how many there were."""
    done, pending = wait(sends, timeout)
    assert not pending, "a send did not finish"
    for send in done:
        send.result()  # a send thread's own failure is logged, never raised: None
    return len(sends)


def start_worker(gateway, clock=None, send_timeout: float = 30.0) -> ObservedWorker:
    simulation = Simulation(gateway.settings, clock=clock, send_timeout=send_timeout)
    worker = ObservedWorker(gateway.deps, simulation=simulation, worker_id="test-worker",
                            pool=WatchedPool(simulation.modem_configs))
    worker.start(run_jobs=False)
    worker.publish_status()
    return worker


def pipeline_on(start_gateway):
    """The ``pipeline`` fixture over ``start_gateway`` (tests/pipeline/conftest.py; the
    PostgreSQL tests use it over theirs): yields ``start(modems=1, clock=None,
    send_timeout=30.0, gw=None, **settings)`` -> (gateway, worker), a worker over
    ``modems`` simulated modems on a new gateway (or on ``gw``); ``start.die(worker)``
    stops it and forgets its virtual network, as a dead worker's memory; every worker is
    stopped at the end."""
    workers = []

    def start(modems=1, clock=None, send_timeout=30.0, gw=None, **overrides):
        gw = gw or start_gateway(modems=0, simulate=True, simulated_modems=modems,
                                 **overrides)
        worker = start_worker(gw, clock=clock, send_timeout=send_timeout)
        workers.append(worker)
        return gw, worker

    def die(worker):
        worker.stop()
        modem.sim.reset_networks()

    start.die = die
    yield start
    for worker in workers:
        worker.stop()
    modem.sim.reset_networks()


@pytest.fixture
def pipeline(start_gateway):
    """start() of :func:`pipeline_on` (modules import this fixture: a second conftest.py
    would shadow tests/conftest.py for ``from conftest import ...``)."""
    yield from pipeline_on(start_gateway)


def rows(gw, model):
    """Every row of ``model``'s table, in id order."""
    with gw.deps.uow() as uow:
        return list(uow.db.scalars(select(model).order_by(model.id)))

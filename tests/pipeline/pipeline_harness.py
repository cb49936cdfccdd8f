"""An in-process worker over the real modem pool and simulated modems, for pipeline tests.

The jobs are driven by the test (no scheduler): ``send_due`` claims and sends, waiting
for the send threads; inbound SMS and reports are awaited on a condition."""
from __future__ import annotations

import threading

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
        claimed = self.dispatcher.dispatch_due()
        assert self.dispatcher.wait_idle(30), "a send did not finish"
        return claimed

    def sync(self) -> None:
        self.simulation.sync(self.deps)
        self.publish_status()


def start_worker(gateway, clock=None, send_timeout: float = 30.0) -> ObservedWorker:
    simulation = Simulation(gateway.settings, clock=clock, send_timeout=send_timeout)
    worker = ObservedWorker(gateway.deps, simulation=simulation, worker_id="test-worker")
    worker.start(run_jobs=False)
    worker.publish_status()
    return worker

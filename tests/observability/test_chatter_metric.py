"""Chatter notices (signal, registration) that a modem's full events queue drops reach
/metrics through the worker's own wiring (Worker builds its pool with the metric's hook):
the real worker and pool over a simulated modem, scraped over real HTTP."""
from __future__ import annotations

import threading
import time

import pytest

import modem.sim
from gateway.pipeline.simulation import Simulation
from gateway.process.worker import Worker

DROPPED = "msisdn_gateway_modem_chatter_dropped_total"
WAIT = 5.0


def eventually(probe):
    """``probe()`` once it is true (another thread's state), failing after WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while not probe():
        assert time.monotonic() < deadline, "the worker's modem did not get there in time"
        time.sleep(0.01)


@pytest.fixture
def worker_and_gateway(start_gateway):
    gw = start_gateway(modems=0, simulate=True)
    worker = Worker(gw.deps, simulation=Simulation(gw.settings), worker_id="test-worker")
    worker.start(run_jobs=False)
    yield worker, gw
    worker.stop()
    modem.sim.reset_networks()


def test_chatter_dropped_by_a_full_events_queue_is_counted_in_metrics(worker_and_gateway):
    worker, gw = worker_and_gateway
    before = gw.metric(DROPPED, modem="sim0")
    sim0 = next(slot.modem for slot in worker.pool._slots if slot.label == "sim0")
    blocked, release = threading.Event(), threading.Event()
    sim0.engine.post(lambda: (blocked.set(), release.wait(WAIT)))  # a slow handler
    assert blocked.wait(WAIT)
    # 300 signal reports behind the slow handler (256 fit), then a notice never dropped
    worker.simulation.network.modem("sim0").emit_urc(*["^RSSI: 17"] * 300,
                                                     "UNDER-VOLTAGE WARNNING")
    eventually(lambda: worker.pool.health()[0].chatter_dropped == 300 - 256)
    release.set()
    eventually(lambda: worker.pool.health()[0].last_power_warning == "UNDER-VOLTAGE WARNNING")
    assert worker.pool.health()[0].chatter_dropped == 44
    assert gw.metric(DROPPED, modem="sim0") - before == 44

"""The doorbell names the work it rings for (gateway.pipeline.doorbell): a commit rings
once with the kinds of work it gave the worker, and the worker's listener wakes the pumps
of those kinds only. A real SQLite file and a real abstract socket; nothing is faked."""
from __future__ import annotations

import dataclasses
import queue
from datetime import datetime, timezone

import pytest

from gateway.pipeline.doorbell import Doorbell, DoorbellListener, bell_address, supported
from gateway.storage.models import SimModemCommand, SimMoRequest
from gateway.storage.transaction import OUTBOX_WORK, SIMULATOR_WORK, WEBHOOK_WORK
from gateway.storage.uow import uow_factory
from gateway.verification import clients, mt, webhooks

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def rung(gateway):
    """(deps whose commits ring into a list, that list)."""
    rings: list[bytes] = []
    return dataclasses.replace(gateway.deps, uow=uow_factory(gateway.engine, rings.append)), rings


def test_a_commit_rings_once_with_each_kind_of_work_it_gave(rung):
    deps, rings = rung
    with deps.uow() as uow:
        uow.sim.request_mo(SimMoRequest(phone="+33612345678", recipient="+33700000001",
                                        text="STOP", created_at=NOW))
        uow.sim.add_command(SimModemCommand(modem="sim0", action="unplug", created_at=NOW))
        mt.queue_sms(uow, deps, "+33612345678", "Your code is 123456", "mt", 600)
        uow.commit()
    assert rings == [SIMULATOR_WORK + OUTBOX_WORK]


def test_a_webhook_queued_rings_for_the_webhook_sender(rung):
    deps, rings = rung
    with deps.uow() as uow:
        client_id, _secret = clients.add_client(uow, deps, "Shop", ["https://a.example/"],
                                                "https://hooks.example/")
        uow.commit()
    assert rings == []
    with deps.uow() as uow:
        assert webhooks.enqueue(uow, deps, client_id, {"event": "sna.verified"})
        uow.commit()
    assert rings == [WEBHOOK_WORK]


def test_work_rolled_back_rings_nothing(rung):
    deps, rings = rung
    with deps.uow() as uow:
        mt.queue_sms(uow, deps, "+33612345678", "Your code is 123456", "mt", 600)
        uow.rollback()
    with deps.uow() as uow:
        uow.commit()
    assert rings == []


@pytest.mark.skipif(not supported(), reason="abstract Unix sockets are Linux's")
def test_the_listener_wakes_the_pumps_of_the_kinds_rung_for_only(tmp_path):
    address = bell_address(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    woken: queue.Queue[str] = queue.Queue()

    def wake(name):
        return lambda: woken.put(name)

    listener = DoorbellListener(address, {
        OUTBOX_WORK: [wake("dispatch")], WEBHOOK_WORK: [wake("webhooks")],
        SIMULATOR_WORK: [wake("requests"), wake("simulation")]})
    assert listener.start()

    def heard(count):
        names = sorted(woken.get(timeout=5) for _ in range(count))
        assert woken.empty()
        return names

    try:
        Doorbell(address).ring(WEBHOOK_WORK)
        assert heard(1) == ["webhooks"]
        Doorbell(address).ring(OUTBOX_WORK + SIMULATOR_WORK)
        assert heard(3) == ["dispatch", "requests", "simulation"]
        Doorbell(address).ring(b"!")  # a sender that names no kind we know: every pump
        assert heard(4) == ["dispatch", "requests", "simulation", "webhooks"]
    finally:
        listener.stop()

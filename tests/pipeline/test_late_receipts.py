"""A late ``+CMGS: <mr>`` through the whole worker: the real pool, AT driver and dispatcher
over a simulated modem whose answer comes after the send was given up (``late_answer``).
Only time is faked: a ManualClock for the simulated network, FakeClock for the gateway."""
import threading

import pytest
from sqlalchemy import select

import modem.sim
from gateway.storage.models import OutboundPart, OutboundSms
from pipeline_harness import pipeline, rows  # noqa: F401 (pipeline: a fixture)

PHONE = "+33612345678"


def idle(worker):
    """Wait until each modem's events thread ran what was queued (the start's maintenance),
    so that the fault injected next hits the send, not a maintenance command."""
    for slot in worker.pool._slots:
        done = threading.Event()
        assert slot.modem.engine.post(done.set) and done.wait(10)


def test_a_late_cmgs_turns_the_unknown_row_into_sent_and_its_report_marks_it_delivered(
        pipeline):
    clock = modem.sim.ManualClock()
    gw, worker = pipeline(clock=clock, send_timeout=1.0)
    network = worker.simulation.network
    idle(worker)
    network.modem("sim0").inject("late_answer", 60)  # +CMGS: <mr> comes 59 s after our limit
    response = gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": PHONE, "mcc": "208"},
                       gw.register())
    assert response.status_code == 204, response.text
    assert worker.send_due() == 1
    [row] = rows(gw, OutboundSms)
    assert row.status == "unknown" and rows(gw, OutboundPart) == []
    clock.advance(60)
    network.tick()  # the modem answers at last; its delivery report follows
    worker.wait(lambda: worker.reports)
    [row] = rows(gw, OutboundSms)
    [part] = rows(gw, OutboundPart)
    [sent] = network.messages(kind="MT")
    assert (part.modem, part.reference, part.part_count) == ("sim0", sent.reference, 1)
    assert (row.status, row.modem, row.last_error) == ("delivered", "sim0", None)
    assert row.sent_at is not None and row.delivered_at is not None
    assert part.status == "delivered"
    gw.clock.advance(3600)
    assert worker.send_due() == 0  # never resent

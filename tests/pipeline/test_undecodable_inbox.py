"""Undecodable SMS through the real pipeline (worker, pool, AT driver, simulated modem, a
real SQLite file): kept in the inbox, raw PDU sealed and sender masked, before the SIM lets
it go; a failure before the commit leaves it on the SIM. Only time and the radio are fake."""
from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from requests_hawk import HawkAuth
from sqlalchemy import select

import modem.sim
from gateway.admin.listings import inbox_rows
from gateway.pipeline.inbound import open_pdu
from gateway.storage.models import InboxMessage
from modem.numbers import mask_number
from modem.pdu.codec import encode_deliver

SENDER = "+33612345678"
from pipeline_harness import pipeline  # noqa: F401 (a fixture)


def compressed(text: str, when) -> str:
    """An SMS-DELIVER from SENDER whose TP-DCS says compressed GSM-7 (0x39): undecodable."""
    [pdu] = encode_deliver(SENDER, text, timestamp=when)
    assert pdu[34:38] == "0000"  # TP-PID and TP-DCS, after SMSC, first octet and sender
    return pdu[:34] + "0039" + pdu[38:]


def sim_card(worker):
    return worker.simulation.network.modem("sim0").machine.card


def sweep(worker, count=1):
    worker.pool.maintain()
    worker.wait(lambda: len(worker.stored) >= count)


def rows(gw):
    with gw.deps.uow() as uow:
        return list(uow.db.scalars(select(InboxMessage).order_by(InboxMessage.id)))


def test_an_undecodable_sms_is_kept_sealed_and_masked_before_it_leaves_the_sim(pipeline):
    gw, worker = pipeline()
    hawk_id = HawkAuth(hawk_session=gw.register()).credentials["id"].decode()
    pdu = compressed(f"/v1/msisdn/sms/momt/verify {hawk_id}", gw.clock.now())
    sim_card(worker).store(pdu)
    sweep(worker)
    worker.pool.stop()  # joins the inbound thread: the deletion after the commit is done
    assert sim_card(worker).used == 0

    [row] = rows(gw)
    assert (row.kind, row.sender, row.text) == ("undecodable", mask_number(SENDER), "")
    assert row.outcome == "not decoded: compressed user data (TP-DCS 0x39) is not supported"
    assert open_pdu(gw.deps.secret, row) == pdu
    [listed] = inbox_rows(gw.deps, 10)
    assert (listed["kind"], listed["sender"]) == ("undecodable", "+33*******78")
    [with_pdu] = inbox_rows(gw.deps, 10, pdu=True)
    assert with_pdu["pdu"] == pdu

    path = Path(gw.engine.url.database)
    blobs = [Path(str(path) + suffix).read_bytes() for suffix in ("", "-wal")
             if Path(str(path) + suffix).exists()]
    semi_octets = pdu[22:34]  # the sender's digits as the PDU holds them
    for secret in (pdu, semi_octets, hawk_id, SENDER[1:], SENDER[3:]):
        pattern = re.compile(re.escape(secret.encode()), re.IGNORECASE)
        assert not any(pattern.search(blob) for blob in blobs), secret


def test_the_same_undecodable_sms_delivered_twice_is_kept_once(pipeline):
    gw, worker = pipeline()
    pdu = compressed("twice", gw.clock.now())
    sim_card(worker).store(pdu)
    sim_card(worker).store(pdu)  # a redelivery after a crash between commit and deletion
    sweep(worker, count=2)
    assert len(rows(gw)) == 1


def test_a_failure_before_the_commit_leaves_the_undecodable_sms_on_the_sim(pipeline, monkeypatch):
    gw, worker = pipeline()
    sim_card(worker).store(compressed("keep me", gw.clock.now()))
    failed = threading.Event()

    def database_down(deps, sms):
        failed.set()
        raise RuntimeError("database down")

    monkeypatch.setattr("gateway.process.worker.store_inbound", database_down)
    worker.pool.maintain()
    assert failed.wait(10)
    worker.pool.stop()  # the inbound thread, which gave it back, is joined
    assert sim_card(worker).used == 1 and rows(gw) == []

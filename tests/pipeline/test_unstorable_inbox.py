"""SMS the inbox cannot take as they came, through the real pipeline (worker, pool, AT driver,
simulated modem, a real SQLite file; tests/pg/test_pg_unstorable_inbox.py runs them again on
PostgreSQL): a NUL in the text (a UCS-2 SMS can carry one; PostgreSQL's text cannot) is kept
as U+FFFD, and a message whose row the database refuses for good is kept as undecodable.
Either way the SIM lets it go, instead of keeping it at every sweep until it is full, and an
SMS-MO verification request that comes after is answered. Only time and the radio are fake."""
from __future__ import annotations

import json
import logging

from gateway.pipeline.inbound import open_pdu
from gateway.storage.models import InboxMessage, OutboundSms
from modem.numbers import mask_number
from modem.pdu.codec import encode_deliver

from pipeline_harness import pipeline, rows  # noqa: F401 (a fixture)
from test_pipeline import PHONE, hawk_id, send_mo

STRANGER = "+33698765432"  # sends the SMS the inbox cannot take as it came
REFUSED_WORD = "refuse-me"


def sim_card(worker):
    return worker.simulation.network.modem("sim0").machine.card


def put_on_the_sim_and_sweep(gw, worker, text: str) -> None:
    for pdu in encode_deliver(STRANGER, text, timestamp=gw.clock.now()):  # parts: reassembled
        sim_card(worker).store(pdu)
    worker.pool.maintain()
    # Only a handler that returned counts: one that raised leaves the SMS on the SIM.
    worker.wait(lambda: len(worker.stored) >= 1)


def an_sms_mo_request_is_answered(gw, worker) -> None:
    """A real SMS-MO verification request, after: stored, acted on, its code queued."""
    send_mo(gw, worker, f"/v1/msisdn/sms/momt/verify {hawk_id(gw.register())}", count=2)
    worker.pool.stop()  # joins the inbound thread: the deletions after the commits are done
    assert sim_card(worker).used == 0
    assert [(row.kind, row.outcome) for row in rows(gw, InboxMessage)][1:] == [
        ("momt-verify", "code queued")]
    [code_sms] = rows(gw, OutboundSms)
    assert code_sms.recipient == mask_number(PHONE)


def refuse_rows_with(gw, word: str) -> None:
    """Make the database itself refuse an inbox row whose text holds ``word``, as it refuses
    any row it cannot hold (an IntegrityError, like a DataError, comes again at every try)."""
    with gw.engine.begin() as connection:
        if gw.engine.dialect.name == "sqlite":
            connection.exec_driver_sql(
                f"CREATE TRIGGER refuse BEFORE INSERT ON inbox WHEN instr(NEW.text, '{word}') "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END")
        else:
            connection.exec_driver_sql(
                f"ALTER TABLE inbox ADD CONSTRAINT refuse CHECK (strpos(text, '{word}') = 0)")


def test_a_nul_in_an_sms_is_kept_as_a_replacement_character_and_the_sim_lets_it_go(pipeline):
    gw, worker = pipeline()
    put_on_the_sim_and_sweep(gw, worker, "hello\x00world")

    [row] = rows(gw, InboxMessage)
    assert (row.kind, row.sender, row.text) == ("other", STRANGER, "hello\ufffdworld")
    an_sms_mo_request_is_answered(gw, worker)


def test_a_nul_after_a_hawk_id_matches_nothing_and_the_hawk_id_is_not_kept(pipeline):
    # Matching and storing see the same text: not a request (the NUL is no space), and the
    # hawk id is removed as any long hex run of an ordinary SMS.
    gw, worker = pipeline()
    secret_id = hawk_id(gw.register())
    put_on_the_sim_and_sweep(gw, worker, f"/v1/msisdn/sms/momt/verify {secret_id}\x00")

    [row] = rows(gw, InboxMessage)
    assert (row.kind, row.text) == ("other",
                                    "/v1/msisdn/sms/momt/verify <hex not stored>\ufffd")
    an_sms_mo_request_is_answered(gw, worker)


def test_an_sms_the_database_refuses_is_kept_as_undecodable_and_the_sim_lets_it_go(
        pipeline, caplog):
    gw, worker = pipeline()
    refuse_rows_with(gw, REFUSED_WORD)
    with caplog.at_level(logging.ERROR):
        put_on_the_sim_and_sweep(gw, worker, f"please {REFUSED_WORD}")

    [row] = rows(gw, InboxMessage)
    assert (row.kind, row.sender, row.text) == ("undecodable", mask_number(STRANGER), "")
    assert row.outcome.startswith("not handled: IntegrityError")
    kept = json.loads(open_pdu(gw.deps.secret, row))  # what arrived, sealed
    assert (kept["sender"], kept["text"]) == (STRANGER, f"please {REFUSED_WORD}")
    [error] = [r.getMessage() for r in caplog.records if "could not be handled" in r.getMessage()]
    assert "IntegrityError" in error and mask_number(STRANGER) in error
    assert REFUSED_WORD not in error and STRANGER[3:] not in error
    an_sms_mo_request_is_answered(gw, worker)


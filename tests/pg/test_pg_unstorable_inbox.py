"""SMS the inbox cannot take as they came, on PostgreSQL (a throw-away cluster,
tests/pg/pg_cluster.py, started once for this module; each gateway gets a schema of its own):
the in-process pipeline tests of tests/pipeline/test_unstorable_inbox.py run again here, where
a NUL is fatal (PostgreSQL's text cannot hold one: psycopg refuses the row with a DataError,
the SMS went back to the SIM at every sweep), and a connection the server dropped while an
SMS came is a failure a later sweep cures: the SMS stays on the SIM till then.
"""
from __future__ import annotations

import inspect
import logging
import threading

import pytest

import gateway.storage.db
from gateway.storage.models import InboxMessage

# The cluster fixtures of test_postgresql (module-scoped: this module gets its own cluster).
from test_postgresql import (database_name, pg_cluster, shared_database,  # noqa: F401
                             start_pg_gateway)
from test_pg_pipeline import module_of

unstorable = module_of("pipeline", "test_unstorable_inbox")
pipeline_on = module_of("pipeline", "pipeline_harness").pipeline_on


class Failures(logging.Handler):
    """Counts the inbound thread's "inbound handler failed" (the SMS was given back)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.seen = threading.Semaphore(0)

    def emit(self, record):
        if "inbound handler failed" in record.getMessage():
            self.seen.release()


@pytest.fixture
def pg_pipeline(start_pg_gateway):
    yield from pipeline_on(start_pg_gateway)


@pytest.mark.parametrize("name", [
    "test_a_nul_in_an_sms_is_kept_as_a_replacement_character_and_the_sim_lets_it_go",
    "test_a_nul_after_a_hawk_id_matches_nothing_and_the_hawk_id_is_not_kept",
    "test_an_sms_the_database_refuses_is_kept_as_undecodable_and_the_sim_lets_it_go",
])
def test_the_unstorable_sms_tests_hold_on_postgresql(name, pg_pipeline, caplog):
    function = getattr(unstorable, name)
    fixtures = {"pipeline": pg_pipeline, "caplog": caplog}
    function(**{arg: fixtures[arg] for arg in inspect.signature(function).parameters})


def test_an_sms_met_by_a_dropped_connection_stays_on_the_sim_for_the_next_sweep(
        pg_pipeline, pg_cluster, monkeypatch):
    """A connection the server dropped (a restart, a failover) fails the SMS that uses it
    (gateway.storage.db.PING_AFTER_IDLE: never pinged here): a failure a later try cures,
    so the SMS is not kept as undecodable but given back to the SIM, and the next sweep
    stores it as it came."""
    monkeypatch.setattr(gateway.storage.db, "PING_AFTER_IDLE", 3600.0)
    gw, worker = pg_pipeline()
    card = unstorable.sim_card(worker)
    unstorable.put_on_the_sim_and_sweep(gw, worker, "before")  # the worker's connection
    assert pg_cluster.terminate_connections(database_name(gw)) >= 1

    failures = Failures()
    logging.getLogger("modem.inbound_queue").addHandler(failures)
    try:
        [pdu] = unstorable.encode_deliver(unstorable.STRANGER, "after", timestamp=gw.clock.now())
        card.store(pdu)
        worker.pool.maintain()
        assert failures.seen.acquire(timeout=10)
    finally:
        logging.getLogger("modem.inbound_queue").removeHandler(failures)
    assert [sms.text for sms in worker.stored] == ["before"]

    worker.pool.maintain()  # the next sweep, on a new connection
    worker.wait(lambda: len(worker.stored) >= 2)
    worker.pool.stop()
    assert card.used == 0
    assert [(row.kind, row.text) for row in unstorable.rows(gw, InboxMessage)] == [
        ("other", "before"), ("other", "after")]

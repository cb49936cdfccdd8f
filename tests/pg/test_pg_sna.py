"""The SNA face on PostgreSQL: the flows of tests/sna against a gateway on a throw-away
cluster, and inputs PostgreSQL cannot hold in text (a NUL) answered as unknown, not 500
(SQLite takes them)."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

# The cluster fixtures of test_postgresql (module-scoped: this module gets its own cluster).
from test_postgresql import pg_cluster, shared_database, start_pg_gateway  # noqa: F401


def sna_tests(module: str):
    """A test module of tests/sna, the same one pytest imports when it collects them."""
    directory = str(Path(__file__).resolve().parents[1] / "sna")
    if directory not in sys.path:
        sys.path.append(directory)
    return importlib.import_module(module)


FLOWS = [("test_sna_flow", "test_an_sms_mo_from_the_claimed_number_verifies_it_and_the_code_"
                           "tells_the_app"),
         ("test_sna_flow", "test_a_code_is_single_use"),
         ("test_sms_link", "test_a_confirmation_sends_that_browser_and_only_it_to_the_app_"
                           "with_the_code"),
         ("test_sms_link", "test_declining_ends_the_request_failed_and_a_later_"
                           "confirmation_changes_nothing")]


@pytest.mark.parametrize("module, name", FLOWS)
def test_the_sna_flow_on_postgresql(start_pg_gateway, module, name):
    tests = sna_tests(module)
    gateway = start_pg_gateway()
    getattr(tests, name)(gateway, tests.App(gateway))


@pytest.mark.parametrize("request_id", ["a\x00b", "\u00e9" * 10])
def test_a_request_id_postgresql_cannot_hold_is_unknown(start_pg_gateway, request_id):
    tests = sna_tests("test_sna_flow")
    gateway = start_pg_gateway()
    tests.sna_error(tests.App(gateway).status(request_id), 404, 7104)
    tests.sna_error(tests.App(gateway).verify("a\x00b"), 400, 7109)

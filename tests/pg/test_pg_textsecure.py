"""The TextSecure face on PostgreSQL: the HTTP tests of tests/http/test_textsecure.py that
touch its own tables and statements (accounts replaced, prekeys taken once, the daily
lookup count, wrong codes counted), run against a gateway on a throw-away cluster."""
from __future__ import annotations

import pytest

# The cluster fixtures of test_postgresql (module-scoped: this module gets its own cluster).
from test_postgresql import (http_tests, pg_cluster, shared_database,  # noqa: F401
                             start_pg_gateway)

ON_ONE_GATEWAY = ("test_confirming_the_code_makes_the_account",
                  "test_a_wrong_code_is_403_and_three_burn_it",
                  "test_registering_again_replaces_the_account",
                  "test_push_ids_need_the_credentials_and_json",
                  "test_prekeys_are_handed_out_once_then_the_last_resort_key",
                  "test_the_directory_answers_the_registered_contacts",
                  "test_the_message_relay_answers_501")
WITH_SETTINGS = ("test_every_rate_limit_is_413_with_retry_after",
                 "test_prekey_fetches_are_limited_per_account",
                 "test_directory_lookups_are_limited_per_account_and_day",
                 "test_wrong_passwords_are_limited_per_client_without_locking_the_account",
                 "test_a_number_without_an_account_counts_against_the_password_checks_too",
                 "test_registering_again_keeps_the_days_directory_lookups",
                 "test_a_client_exempt_from_the_rate_limits_gets_every_call_answered")


@pytest.mark.parametrize("name", ON_ONE_GATEWAY)
def test_the_textsecure_flow_on_postgresql(start_pg_gateway, name):
    getattr(http_tests("test_textsecure"), name)(start_pg_gateway())


@pytest.mark.parametrize("name", WITH_SETTINGS)
def test_the_textsecure_limits_on_postgresql(start_pg_gateway, name):
    getattr(http_tests("test_textsecure"), name)(start_pg_gateway)

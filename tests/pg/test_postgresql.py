"""The gateway on PostgreSQL by URL: a throw-away cluster (tests/pg/pg_cluster.py) started
once for this module; every gateway gets a database, or for speed a schema in a shared
database (``options=-csearch_path=...`` in its URL), of its own. Migrations match the models,
the HTTP contract of tests/http holds (its tests are run again here against PostgreSQL),
nonces and counters are shared by two gateways, the cleanup job works, and the portable
upserts survive a real race."""
from __future__ import annotations

import importlib
import inspect
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from cryptography.hazmat.primitives.asymmetric import rsa
from requests_hawk import HawkAuth
from sqlalchemy import func, select, text
from sqlalchemy import inspect as inspect_schema
from sqlalchemy.engine import make_url

import gateway.storage.db
from gateway.storage.db import make_engine
from gateway.storage.migrate import alembic_config, current_revision, upgrade
from gateway.storage.models import (Base, HawkNonce, OutboundSms, RateCounter,
                                    VerificationCode, VerificationSession)
from gateway.storage.repositories import remember_nonce_portably
from gateway.storage.uow import uow_factory
from gateway.process.worker import OUTBOX_RETENTION_SECONDS, cleanup

from conftest import assert_error
from pg_cluster import find_binaries, running_cluster

NUMBER, OTHER = "+33612345678", "+33698765432"
EXPIRES = datetime(2026, 3, 1, 12, 10, tzinfo=timezone.utc)


# --- the cluster and the gateways on it ---------------------------------------------------

@pytest.fixture(scope="module")
def pg_cluster():
    bin_dir = find_binaries()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries: neither initdb/pg_ctl on PATH nor "
                    "/usr/lib/postgresql/*/bin (apt-get install postgresql)")
    with running_cluster(bin_dir) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def shared_database(pg_cluster) -> str:
    return pg_cluster.create_database()


@pytest.fixture
def pg_url(pg_cluster) -> str:
    """A new database of its own (tables in its public schema)."""
    return pg_cluster.url(pg_cluster.create_database())


@pytest.fixture
def pg_schema_url(pg_cluster, shared_database) -> str:
    """A new schema of its own in the module's database: as isolated as a new database
    for the gateway, and a hundred times faster to make."""
    return pg_cluster.url(shared_database, pg_cluster.create_schema(shared_database))


@pytest.fixture
def pg_engine(pg_schema_url):
    engine = make_engine(pg_schema_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def start_pg_gateway(start_gateway, pg_cluster, shared_database):
    """start_gateway on PostgreSQL: a fresh schema unless ``database_url`` is given."""
    def start(**overrides):
        if "database_url" not in overrides:
            schema = pg_cluster.create_schema(shared_database)
            overrides["database_url"] = pg_cluster.url(shared_database, schema)
        gw = start_gateway(**overrides)
        assert gw.engine.dialect.name == "postgresql"
        return gw
    return start


@pytest.fixture
def pg_gateway(start_pg_gateway):
    return start_pg_gateway()


@pytest.fixture(scope="module")
def client_rsa_key():
    numbers = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key() \
        .public_numbers()
    return {"algorithm": "RS", "n": str(numbers.n), "e": str(numbers.e)}


def database_name(gw) -> str:
    return make_url(gw.settings.database_url).database


# --- schema ----------------------------------------------------------------------------------

@pytest.mark.parametrize("place", ["pg_url", "pg_schema_url"],
                         ids=["in-its-own-database", "in-its-own-schema"])
def test_migrations_on_postgresql_create_exactly_the_schema_of_the_models(request, place):
    url = request.getfixturevalue(place)
    engine = make_engine(url)
    try:
        upgrade(engine)
        upgrade(engine)  # a second start is a no-op
        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        assert current_revision(engine) == head
        with engine.connect() as connection:
            assert connection.dialect.name == "postgresql"
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
            tables = set(inspect_schema(connection).get_table_names())
            schema = connection.scalar(text("SELECT current_schema()"))
    finally:
        engine.dispose()

    assert differences == []
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    options = make_url(url).query.get("options", "-csearch_path=public")
    assert schema == options.split("=")[1]


# --- the HTTP contract of tests/http, run again on PostgreSQL ---------------------------------

def http_tests(module: str):
    """A test module of tests/http. Under pytest's default import mode those modules are
    importable by their basename once tests/http is on sys.path, which pytest does itself
    when it collects them; when tests/pg runs alone we do it, and get the same module
    (with pytest's assertion rewriting) rather than a second copy."""
    directory = str(Path(__file__).resolve().parents[1] / "http")
    if directory not in sys.path:
        sys.path.append(directory)
    return importlib.import_module(module)


REUSED = {
    "test_verification_flow": [
        "test_the_long_code_is_the_whole_sms_and_verifies_the_number",
        "test_a_short_code_arrives_in_the_clients_language_and_verifies",
        "test_a_wrong_code_counts_and_three_wrong_tries_burn_the_code",
        "test_codes_expire_short_after_ten_minutes_long_after_an_hour",
        "test_a_long_code_expires_after_its_lifetime",
        "test_resend_sends_a_fresh_code_by_the_same_method_and_the_old_one_stops_working",
        "test_resend_without_a_started_verification_is_refused",
        "test_a_session_keeps_its_one_msisdn",
        "test_unregister_ends_the_session",
        "test_a_pending_session_expires",
    ],
    "test_certificate_sign": [
        "test_a_verified_number_gets_a_browserid_certificate",
        "test_the_principal_is_stable_for_a_number_and_differs_between_numbers",
        "test_the_duration_is_capped_by_configuration",
    ],
    "test_hawk": [
        "test_a_replayed_request_is_refused",
        "test_a_stale_timestamp_is_refused_with_the_servers_time",
        "test_behind_a_tls_proxy_signatures_are_checked_against_the_public_url",
        "test_the_server_stores_a_keyed_hash_of_the_hawk_id_not_the_id",
    ],
    "test_rate_limits": [
        "test_too_many_sms_for_one_number_says_when_to_retry_and_that_is_true",
        "test_a_refused_request_does_not_consume_the_budget_of_other_numbers",
        "test_short_code_requests_are_limited_per_session",
        "test_a_global_sms_budget_per_method",
        "test_one_client_address_is_limited_on_every_endpoint",
        "test_clients_behind_a_trusted_proxy_are_counted_apart",
    ],
    "test_service_endpoints": [
        "test_heartbeats_report_each_dependency",
    ],
    "test_pumping_guard": [
        "test_other_prefixes_are_not_blocked_with_a_pumped_one",
        "test_a_prefix_whose_codes_are_mostly_verified_is_never_blocked",
        "test_resend_code_to_a_blocked_prefix_is_refused_and_a_late_verification_still_counts",
        "test_with_a_settle_time_a_pumped_prefix_is_blocked_once_its_codes_are_old_enough",
    ],
    "test_destination_policy": [
        "test_deny_prefixes_win_and_allow_prefixes_open_a_range",
        "test_discover_offers_nothing_for_a_refused_number_or_a_country_not_served",
    ],
    "test_one_transaction_per_request": [
        "test_register_is_one_write_transaction_with_the_client_counted_in_it",
        "test_discover_writes_only_the_client_counter_in_one_transaction",
        "test_discover_for_an_exempt_client_opens_no_write_transaction",
        "test_a_hawk_signed_mt_verify_is_one_write_transaction",
        "test_a_wrong_code_is_one_write_transaction_that_keeps_the_nonce_counter_and_try",
        "test_a_refused_use_case_keeps_the_nonce_and_the_counter_but_not_its_own_work",
        "test_a_client_refused_by_its_own_limit_consumes_nothing",
    ],
    "test_reference_clients": [
        "test_discover_accepts_mcc_without_mnc_and_ranks_modems_by_country",
        "test_a_bodyless_signed_request_with_a_json_content_type_and_no_hash_is_accepted",
        "test_a_hash_given_for_an_empty_body_is_checked",
        "test_a_present_body_without_its_payload_hash_is_still_refused",
    ],
}


@pytest.mark.parametrize("module, name", [(m, n) for m, names in REUSED.items() for n in names],
                         ids=[f"{m}::{n}" for m, names in REUSED.items() for n in names])
def test_the_http_contract_holds_on_postgresql(module, name, start_pg_gateway, client_rsa_key):
    function = getattr(http_tests(module), name)
    fixtures = {"gateway": start_pg_gateway, "start_gateway": lambda: start_pg_gateway,
                "client_rsa_key": lambda: client_rsa_key}
    function(**{arg: fixtures[arg]() for arg in inspect.signature(function).parameters})


# The errno table rows whose answer depends on what the database holds.
STATEFUL_CASES = {"case_104", "case_105", "case_107_second_msisdn", "case_110_unknown_token",
                  "case_111_burnt", "case_114", "case_115", "case_116", "case_117"}


def errno_cases():
    table = http_tests("test_errno_table")
    cases = [pytest.param(case, status, errno, id=case.__name__)
             for case, status, errno in table.CASES if case.__name__ in STATEFUL_CASES]
    assert len(cases) == len(STATEFUL_CASES), "a case of tests/http was renamed"
    return cases


@pytest.mark.parametrize("case, status, errno", errno_cases())
def test_the_errno_table_holds_on_postgresql(start_pg_gateway, case, status, errno):
    table = http_tests("test_errno_table")
    table.test_each_error_of_the_spec_table_has_its_status_errno_and_json_body(
        start_pg_gateway, case, status, errno)


# --- what only PostgreSQL can show ---------------------------------------------------------

def mt_verify(gw, token, number=NUMBER):
    return gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": number, "mcc": "208"}, token)


def test_two_gateways_on_one_postgresql_database_share_nonces_and_counters(
        start_pg_gateway, pg_url):
    first = start_pg_gateway(database_url=pg_url, rate_limit_msisdn="1/10m")
    second = start_pg_gateway(database_url=pg_url, rate_limit_msisdn="1/10m")
    token = first.register()
    signed = first.http.prepare_request(requests.Request(
        "POST", "http://127.0.0.1:1/v1/msisdn/sms/resend_code", json={},
        auth=first.auth(token, server_url="http://127.0.0.1:1")))
    responses = []
    for gw in (first, second):  # the same signed request sent to two API workers
        signed.url = gw.url + "/v1/msisdn/sms/resend_code"
        signed.headers["Host"] = "127.0.0.1:1"
        responses.append(gw.http.send(signed))
    assert_error(responses[0], 400, 107)  # authenticated: nothing to resend yet
    assert_error(responses[1], 401, 109)  # the nonce the first one stored

    assert mt_verify(first, first.register()).status_code == 204
    assert_error(mt_verify(second, second.register()), 429, 115)  # the first one's counter


def row_counts(gw) -> dict:
    with gw.deps.uow() as uow:
        return {model.__tablename__: uow.db.scalar(select(func.count()).select_from(model))
                for model in (VerificationSession, VerificationCode, HawkNonce, RateCounter,
                              OutboundSms)}


def test_the_cleanup_job_removes_what_expired_on_postgresql(pg_gateway):
    gw = pg_gateway
    pending, verified = gw.register(), gw.register()
    assert mt_verify(gw, pending).status_code == 204
    assert mt_verify(gw, verified, OTHER).status_code == 204
    assert gw.post("/v1/msisdn/sms/verify_code", {"code": gw.last_sms_to(OTHER)},
                   verified).status_code == 200
    before = row_counts(gw)
    assert before["sessions"] == 2 and before["hawk_nonces"] == 3 and before["outbox"] == 2
    assert before["verification_codes"] >= 1 and before["rate_counters"] >= 1

    assert not any(cleanup(gw.deps).values())  # nothing has expired yet

    gw.clock.advance(gw.settings.pending_session_ttl)  # past every window, code and SMS TTL
    removed = cleanup(gw.deps)
    after = row_counts(gw)
    assert after == {"sessions": 1, "verification_codes": 0, "hawk_nonces": 0,
                     "rate_counters": 0, "outbox": 2}
    assert removed["sessions"] == 1 and removed["outbox_expired"] == 2
    assert removed["hawk_nonces"] == 3
    assert removed["rate_counters"] == before["rate_counters"]
    assert {row.status for row in gw.outbox()} == {"expired"}
    assert_error(gw.post("/v1/msisdn/unregister", {}, pending), 401, 110)

    gw.clock.advance(OUTBOX_RETENTION_SECONDS)
    assert cleanup(gw.deps)["outbox"] == 2 and gw.outbox() == []
    assert gw.post("/v1/msisdn/unregister", {}, verified).status_code == 204  # it lived on


def test_a_pg_dump_reveals_neither_pending_numbers_nor_codes_nor_hawk_secrets(
        start_pg_gateway, pg_url, pg_cluster):
    gw = start_pg_gateway(database_url=pg_url)
    token = gw.register()
    assert mt_verify(gw, token).status_code == 204
    code = gw.last_sms_to(NUMBER)  # the SMS waiting in the outbox is sealed
    dump = pg_cluster.dump(database_name(gw))
    assert "COPY public.sessions" in dump and "COPY public.outbox" in dump

    credentials = HawkAuth(hawk_session=token).credentials
    secrets = [NUMBER, NUMBER[1:], NUMBER[3:], code, token, credentials["id"].decode(),
               credentials["key"].decode()]
    for value in secrets:
        assert value not in dump and value.encode().hex() not in dump


def test_a_dropped_postgresql_database_is_a_503_and_the_heartbeat_says_so(
        start_pg_gateway, pg_url, pg_cluster):
    gw = start_pg_gateway(database_url=pg_url)
    assert gw.get("/__heartbeat__").status_code == 200
    pg_cluster.drop_database(database_name(gw))

    assert_error(gw.post("/v1/msisdn/register"), 503, 201)
    heartbeat = gw.get("/__heartbeat__")
    assert heartbeat.status_code == 503 and heartbeat.json()["database"] != "ok"


@pytest.mark.parametrize("ping_after_idle, first", [(0.0, 200), (3600.0, 503)],
                         ids=["idle-long-enough-pinged-and-replaced", "just-used-fails-once"])
def test_a_connection_the_server_dropped_is_replaced_when_idle_else_fails_one_request(
        start_pg_gateway, pg_url, pg_cluster, monkeypatch, ping_after_idle, first):
    """gateway.storage.db.PING_AFTER_IDLE: a connection idle that long is pinged at
    checkout and replaced; one used more recently is not, and a dropped one fails the one
    request that uses it (the price of a round trip fewer per request)."""
    gw = start_pg_gateway(database_url=pg_url)
    assert gw.post("/v1/msisdn/register").status_code == 200
    assert pg_cluster.terminate_connections(database_name(gw)) >= 1
    monkeypatch.setattr(gateway.storage.db, "PING_AFTER_IDLE", ping_after_idle)

    response = gw.post("/v1/msisdn/register")
    if first == 503:
        assert_error(response, 503, 201)
    else:
        assert response.status_code == 200
    assert gw.post("/v1/msisdn/register").status_code == 200
    assert gw.get("/__heartbeat__").status_code == 200


def test_only_a_connection_idle_past_the_limit_is_pinged_at_checkout(pg_engine, monkeypatch):
    pings = []
    real_ping = pg_engine.dialect.do_ping
    monkeypatch.setattr(pg_engine.dialect, "do_ping",
                        lambda connection: pings.append(1) or real_ping(connection))
    for _ in range(5):
        with pg_engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    assert pings == []  # one round trip fewer per transaction
    monkeypatch.setattr(gateway.storage.db, "PING_AFTER_IDLE", 0.0)
    with pg_engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    assert pings == [1]


def test_concurrent_requests_on_postgresql_each_count_once_in_their_one_transaction(
        start_pg_gateway):
    """Eight clients at once, each a wrong code on a session with a pending code: every
    request is counted once, every try once, every nonce refused on replay."""
    gw = start_pg_gateway(max_code_attempts=1000, rate_limit_msisdn="")
    tokens = [gw.register() for _ in range(4)]
    for index, token in enumerate(tokens):
        assert mt_verify(gw, token, f"+336123456{index:02d}").status_code == 204
    signed = [[gw.http.prepare_request(requests.Request(
        "POST", gw.url + "/v1/msisdn/sms/verify_code", json={"code": "0" * 64},
        auth=gw.auth(tokens[(index + n) % 4]))) for n in range(5)] for index in range(8)]
    statuses: list[int] = []

    def client(index):
        session = requests.Session()
        for request in signed[index]:
            statuses.append(session.send(request).status_code)
        for request in signed[index][:2]:  # replays
            statuses.append(session.send(request).status_code)

    before = client_hits(gw)
    run_threads(client, 8)
    assert sorted(statuses) == [400] * 40 + [401] * 16
    assert client_hits(gw) == before + 56
    with gw.deps.uow(read_only=True) as uow:
        assert sorted(uow.db.scalars(select(VerificationCode.failed_attempts))) == [10] * 4


def client_hits(gw) -> int:
    with gw.deps.uow(read_only=True) as uow:
        return uow.db.scalar(select(func.coalesce(func.sum(RateCounter.count), 0))
                             .where(RateCounter.key.like("client:%")))


def run_threads(target, count: int) -> None:
    errors: list[BaseException] = []

    def guarded(index):
        try:
            target(index)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,), name=f"racer-{i}")
               for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors


# --- the portable nonce insert (tests/pg/test_portable_upserts.py) on PostgreSQL -------------

def test_a_seen_nonce_leaves_the_postgresql_transaction_usable(pg_engine):
    """PostgreSQL aborts a transaction on any error: only the savepoint keeps it alive."""
    with uow_factory(pg_engine)() as uow:
        assert remember_nonce_portably(uow.db, "n", EXPIRES) is True
        assert remember_nonce_portably(uow.db, "n", EXPIRES) is False
        assert remember_nonce_portably(uow.db, "m", EXPIRES) is True  # the transaction lives
        uow.commit()
    with uow_factory(pg_engine)() as uow:
        assert remember_nonce_portably(uow.db, "m", EXPIRES) is False
        assert remember_nonce_portably(uow.db, "n", EXPIRES) is False

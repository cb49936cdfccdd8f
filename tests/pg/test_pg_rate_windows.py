"""Sliding windows on PostgreSQL (a throw-away cluster, tests/pg/pg_cluster.py): the Core
statements and the portable ones admit exactly as a sliding log, concurrent transactions
of several engines (API processes) never both take the last place of a window (the head's
row lock serializes them), and the sliding-window and client SMS budget tests of
tests/http/test_rate_limits.py hold on PostgreSQL too."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from gateway.storage import rate_windows
from gateway.storage.db import make_engine
from gateway.storage.models import RateCounter
from gateway.storage.rate_windows import Window
from gateway.storage.uow import uow_factory

# The cluster fixtures of test_postgresql (module-scoped: this module gets its own cluster).
from test_postgresql import (http_tests, pg_cluster, pg_engine, pg_schema_url,  # noqa: F401
                             run_threads, shared_database, start_pg_gateway)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
PLUS_TWO = timezone(timedelta(hours=2))
WINDOWS = (Window(3, 60), Window(5, 600))


def through_the_repository(unit, key, now, windows):
    return unit.counters.admit(key, now, windows)  # on PostgreSQL: Core, ON CONFLICT


def portably(unit, key, now, windows):
    return rate_windows.admit_portably(unit.db, key, now, windows)


FORMS = {"core": through_the_repository, "portable": portably}


def attempt(factory, form, now, key="k", windows=WINDOWS):
    with factory() as unit:
        retry_at = form(unit, key, now, windows)
        if retry_at is None:
            unit.commit()
    return retry_at


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_windows_slide_exactly_and_say_when_they_free_on_postgresql(pg_engine, form):
    factory = uow_factory(pg_engine)
    admitted = [T0, T0 + timedelta(seconds=10), T0 + timedelta(seconds=59)]
    for now in admitted:
        assert attempt(factory, form, now) is None
    assert attempt(factory, form, T0 + timedelta(seconds=59, microseconds=999_999)) == \
        T0 + timedelta(seconds=60)
    # the same instant in another time zone: stored and compared as UTC
    assert attempt(factory, form, (T0 + timedelta(seconds=60)).astimezone(PLUS_TWO)) is None
    assert attempt(factory, form, T0 + timedelta(seconds=70)) is None
    # five in ten minutes: the 10-minute rule now decides, until the first is 600 s old
    assert attempt(factory, form, T0 + timedelta(seconds=130)) == T0 + timedelta(seconds=600)
    with factory() as unit:
        assert unit.db.scalar(select(RateCounter.count).where(RateCounter.key == "k")) == 5


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_racing_transactions_never_both_take_the_last_place(pg_engine, pg_schema_url, form):
    """Nine events of a 10/600 window are in; eight API processes try at the same instant,
    each in its own transaction: one is admitted, seven are refused, whatever the order."""
    windows = (Window(10, 600),)
    factory = uow_factory(pg_engine)
    for _ in range(9):
        assert attempt(factory, form, T0, "last", windows) is None
    engines = [make_engine(pg_schema_url) for _ in range(8)]
    ready = threading.Barrier(8)
    outcomes: list[datetime | None] = []
    lock = threading.Lock()

    def racer(index):
        with uow_factory(engines[index])() as unit:
            unit.db.connection()  # the transaction has begun
            ready.wait(timeout=10)
            retry_at = form(unit, "last", T0 + timedelta(seconds=1), windows)
            if retry_at is None:
                unit.commit()
        with lock:
            outcomes.append(retry_at)

    try:
        run_threads(racer, 8)
    finally:
        for engine in engines:
            engine.dispose()

    assert outcomes.count(None) == 1
    assert [retry_at for retry_at in outcomes if retry_at is not None] == \
        [T0 + timedelta(seconds=600)] * 7
    with factory() as unit:
        assert unit.db.scalar(select(RateCounter.count)
                             .where(RateCounter.key == "last")) == 10


def test_many_processes_hammering_one_window_get_exactly_its_limit(pg_engine, pg_schema_url):
    threads, tries = 6, 12
    engines = [make_engine(pg_schema_url) for _ in range(threads)]
    start = threading.Barrier(threads)
    admitted: list[int] = []
    lock = threading.Lock()

    def worker(index):
        factory = uow_factory(engines[index])
        start.wait(timeout=10)
        for _ in range(tries):
            if attempt(factory, through_the_repository, T0, "busy", (Window(25, 60),)) is None:
                with lock:
                    admitted.append(index)

    try:
        run_threads(worker, threads)
    finally:
        for engine in engines:
            engine.dispose()

    assert len(admitted) == 25


REUSED = [
    "test_a_burst_straddling_a_minute_boundary_gets_no_more_than_the_client_limit",
    "test_one_client_gets_its_sms_budget_then_117_with_a_truthful_retry_after",
    "test_a_client_over_its_sms_budget_leaves_the_global_budget_to_the_others",
    "test_resend_code_is_charged_to_the_client_that_asks_for_it",
    "test_an_ipv6_client_has_one_sms_budget_per_64",
]


@pytest.mark.parametrize("name", REUSED)
def test_the_http_rate_limits_hold_on_postgresql(name, start_pg_gateway):
    getattr(http_tests("test_rate_limits"), name)(start_pg_gateway)


def test_clearing_a_scope_forgets_its_windows_only_on_postgresql(pg_engine):
    factory = uow_factory(pg_engine)
    one = (Window(1, 600),)
    for key in ("admin-login:1/600:a", "admin-login:1/600:b", "admin-login-box:1/600:all",
                "admin_login:1/600:a", "client:1/600:a"):
        assert attempt(factory, through_the_repository, T0, key, one) is None
    with factory() as unit:
        assert unit.counters.clear("admin-login") == 2  # not admin-login-box, nor admin_login
        unit.commit()
    with factory() as unit:
        keys = sorted(unit.db.execute(select(RateCounter.key)).scalars())
    assert keys == ["admin-login-box:1/600:all", "admin_login:1/600:a", "client:1/600:a"]
    assert attempt(factory, through_the_repository, T0, "admin-login:1/600:a", one) is None
    assert attempt(factory, through_the_repository, T0, "client:1/600:a", one) is not None

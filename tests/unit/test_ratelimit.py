"""Rate limits counted in the database (fixed windows), with a truthful retryAfter."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from fakes import FakeClock
from gateway.errors import TooManyForMsisdn, TooManyRequests
from gateway.config.settings import RateRule
from gateway.storage.db import make_engine
from gateway.storage.uow import uow_factory
from gateway.verification import ratelimit
from gateway.process.wiring import prepare_database

# 200.5 s into a 10-minute window and into the hour, 20.5 s into the minute.
START = datetime(2026, 3, 1, 12, 3, 20, 500000, tzinfo=timezone.utc)


@pytest.fixture
def settings(make_settings):
    return make_settings()


@pytest.fixture
def engine(settings):
    engine = prepare_database(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def uow(engine):
    return uow_factory(engine)


@pytest.fixture
def clock():
    return FakeClock(start=START)


def attempt(uow, clock, rules, subject="+33612345678", error=TooManyForMsisdn, commit=True):
    """One event in its own transaction, as a request would; returns the refusal or None."""
    with uow() as unit:
        try:
            ratelimit.enforce(unit, clock.now(), rules, "msisdn", subject, error)
        except error as refusal:
            return refusal
        if commit:
            unit.commit()
    return None


def test_the_event_after_the_limit_is_refused_with_the_given_error(uow, clock):
    rules = (RateRule(3, 600),)

    assert [attempt(uow, clock, rules) for _ in range(3)] == [None, None, None]
    refusal = attempt(uow, clock, rules)

    assert isinstance(refusal, TooManyForMsisdn)
    assert (refusal.status, refusal.errno) == (429, 115)


def test_the_error_class_is_the_one_asked_for(uow, clock):
    rules = (RateRule(1, 60),)
    attempt(uow, clock, rules, error=TooManyRequests)

    refusal = attempt(uow, clock, rules, error=TooManyRequests)

    assert type(refusal) is TooManyRequests and refusal.errno == 117


def test_retry_after_is_the_time_left_in_the_window_rounded_up(uow, clock):
    rules = (RateRule(1, 600),)
    attempt(uow, clock, rules)

    refusal = attempt(uow, clock, rules)

    assert refusal.retry_after == 400  # 399.5 s left in 12:00-12:10


def test_retry_after_is_truthful_waiting_exactly_that_long_is_enough(uow, clock):
    rules = (RateRule(2, 600),)
    attempt(uow, clock, rules)
    attempt(uow, clock, rules)
    retry_after = attempt(uow, clock, rules).retry_after

    clock.advance(retry_after - 1)
    assert attempt(uow, clock, rules) is not None  # not a second too early...
    clock.advance(1)
    assert attempt(uow, clock, rules) is None  # ...and exactly on time


def test_counts_are_per_subject(uow, clock):
    rules = (RateRule(1, 600),)
    attempt(uow, clock, rules, subject="alice")

    assert attempt(uow, clock, rules, subject="bob") is None
    assert attempt(uow, clock, rules, subject="alice") is not None


def test_with_several_rules_the_one_exceeded_decides_the_retry_time(uow, clock):
    rules = (RateRule(1, 60), RateRule(5, 3600))
    attempt(uow, clock, rules)

    refusal = attempt(uow, clock, rules)

    assert refusal.retry_after == 40  # only the minute rule is exceeded: 12:03:20.5 -> 12:04


def test_with_several_rules_exceeded_the_latest_window_end_wins_and_is_truthful(uow, clock):
    rules = (RateRule(1, 60), RateRule(1, 3600))
    attempt(uow, clock, rules)

    refusal = attempt(uow, clock, rules)

    assert refusal.retry_after == 3400  # 12:03:20.5 -> 13:00, not 12:04
    clock.advance(40)  # the minute window is over but the hour is not
    assert attempt(uow, clock, rules) is not None
    clock.advance(refusal.retry_after - 40)
    assert attempt(uow, clock, rules) is None


def test_a_refused_event_does_not_count_against_other_rules(uow, clock):
    rules = (RateRule(1, 60), RateRule(3, 86400))
    assert attempt(uow, clock, rules) is None
    assert attempt(uow, clock, rules) is not None  # refused by the minute rule: rolled back

    clock.advance(60)
    assert attempt(uow, clock, rules) is None
    clock.advance(60)
    assert attempt(uow, clock, rules) is None  # would be the 4th of the day if refusals counted
    clock.advance(60)
    assert attempt(uow, clock, rules) is not None


def test_an_event_in_a_transaction_that_is_not_committed_does_not_consume(uow, clock):
    rules = (RateRule(1, 600),)

    assert attempt(uow, clock, rules, commit=False) is None  # e.g. the request failed later

    assert attempt(uow, clock, rules) is None
    assert attempt(uow, clock, rules) is not None


def test_counters_are_shared_by_two_engines_on_the_same_database(engine, settings, clock):
    other = make_engine(settings.effective_database_url)  # another worker process
    try:
        rules = (RateRule(2, 600),)
        first, second = uow_factory(engine), uow_factory(other)

        assert attempt(first, clock, rules) is None
        assert attempt(second, clock, rules) is None
        assert attempt(first, clock, rules) is not None
        assert attempt(second, clock, rules) is not None
    finally:
        other.dispose()


def test_concurrent_events_from_two_engines_never_exceed_the_limit(engine, settings, clock):
    other = make_engine(settings.effective_database_url)
    try:
        rules = (RateRule(10, 600),)
        factories = [uow_factory(engine), uow_factory(other)]
        outcomes: list[object] = []
        lock = threading.Lock()

        def worker(factory):
            for _ in range(8):
                outcome = attempt(factory, clock, rules)
                with lock:
                    outcomes.append(outcome)

        threads = [threading.Thread(target=worker, args=(factories[i % 2],)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

        assert len(outcomes) == 32
        assert sum(outcome is None for outcome in outcomes) == 10
    finally:
        other.dispose()

"""Rate limits counted in the database (exact sliding windows), with a truthful
retryAfter, on a real SQLite file; only the clock is fake."""
from __future__ import annotations

import random
import threading
from bisect import bisect_right
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from fakes import FakeClock
from gateway.errors import TooManyForMsisdn, TooManyRequests
from gateway.config.settings import RateRule
from gateway.storage.db import make_engine
from gateway.storage.models import RateCounter, RateEvent
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
    """One event in its own transaction, as a request would, at ``clock.now()`` (or at
    ``clock``, a datetime); returns the refusal or None. A refusal is rolled back, as the
    use cases and the HTTP layer do."""
    now = clock if isinstance(clock, datetime) else clock.now()
    with uow() as unit:
        try:
            ratelimit.enforce(unit, now, rules, "msisdn", subject, error)
        except error as refusal:
            return refusal
        if commit:
            unit.commit()
    return None


def admitted_in(uow, rules, milliseconds: list[int]) -> list[int]:
    """Attempts at START + each offset in ms (ascending); the offsets that were admitted."""
    return [offset for offset in milliseconds
            if attempt(uow, START + timedelta(milliseconds=offset), rules) is None]


def most_in_any_window(times: list[int], period_ms: int) -> int:
    """The largest number of ``times`` (ms, ascending) in any interval [a, a + period)."""
    return max((bisect_right(times, t + period_ms - 1) - index
                for index, t in enumerate(times)), default=0)


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


def test_a_burst_straddling_a_minute_boundary_passes_no_more_than_the_limit(uow, clock):
    """The issue's attack: 10 requests in the last half second of a minute and 10 in the
    first half second of the next. Fixed windows admit all 20; a sliding window admits
    10, and the next 10 only once the first ones are a minute old."""
    rules = (RateRule(10, 60),)
    before = [39_500 + i * 50 for i in range(10)]  # 12:03:59.5 .. 12:03:59.95
    after = [40_000 + i * 50 for i in range(10)]  # 12:04:00.0 .. 12:04:00.45

    assert admitted_in(uow, rules, before + after) == before
    assert admitted_in(uow, rules, [99_499]) == []  # 59.999 s after the first
    assert admitted_in(uow, rules, [99_500, 99_501]) == [99_500]  # 60 s after it
    assert admitted_in(uow, rules, [99_549, 99_550]) == [99_550]  # 60 s after the second


def test_a_steady_stream_across_many_boundaries_never_exceeds_the_limit_in_any_window(
        uow, clock):
    """1,100 requests in 33 s against 1000/1m (the issue's measure: fixed windows
    passed them all): at most 1000 in any minute, and the first 1000 all pass."""
    rules = (RateRule(1000, 60),)
    times = [19_500 + i * 30 for i in range(1100)]  # 12:03:40 .. 12:04:13, across 12:04

    admitted = admitted_in(uow, rules, times)

    assert admitted == times[:1000]
    assert most_in_any_window(admitted, 60_000) == 1000


def test_random_bursts_are_admitted_exactly_as_a_sliding_log_would(uow, clock):
    """Against a reference that keeps every admitted time: no window of the period ever
    holds more than the limit, and nothing is refused that the reference admits."""
    rules = (RateRule(5, 60), RateRule(12, 600))
    draw = random.Random(10)
    times, now = [], 0
    for _ in range(300):
        now += draw.choice([0, 1, 500, 3_000, 7_250, 20_000, 60_000, 61_000])
        times.append(now)
    expected: list[int] = []
    for t in times:
        if all(sum(1 for e in expected if e > t - rule.period * 1000) < rule.limit
               for rule in rules):
            expected.append(t)

    admitted = admitted_in(uow, rules, times)

    assert admitted == expected
    assert most_in_any_window(admitted, 60_000) == 5
    assert most_in_any_window(admitted, 600_000) == 12


def test_retry_after_is_the_time_until_the_oldest_event_leaves_the_window_rounded_up(
        uow, clock):
    rules = (RateRule(2, 600),)
    attempt(uow, clock, rules)  # 12:03:20.5
    clock.advance(100.25)
    attempt(uow, clock, rules)  # 12:05:00.75

    refusal = attempt(uow, clock, rules)

    assert refusal.retry_after == 500  # the first leaves at 12:13:20.5, 499.75 s from now


def test_retry_after_is_truthful_waiting_exactly_that_long_is_enough(uow, clock):
    rules = (RateRule(2, 600),)
    attempt(uow, clock, rules)
    clock.advance(123)
    attempt(uow, clock, rules)
    retry_after = attempt(uow, clock, rules).retry_after
    assert retry_after == 477

    clock.advance(retry_after - 1)
    assert attempt(uow, clock, rules).retry_after == 1  # not a second too early...
    clock.advance(1)
    assert attempt(uow, clock, rules) is None  # ...and exactly on time
    assert attempt(uow, clock, rules).retry_after == 123  # then the second one decides


def test_retry_after_is_at_least_one_second(uow, clock):
    rules = (RateRule(1, 60),)
    attempt(uow, clock, rules)
    clock.advance(59.999)

    assert attempt(uow, clock, rules).retry_after == 1
    clock.advance(0.001)
    assert attempt(uow, clock, rules) is None


def test_counts_are_per_subject(uow, clock):
    rules = (RateRule(1, 600),)
    attempt(uow, clock, rules, subject="alice")

    assert attempt(uow, clock, rules, subject="bob") is None
    assert attempt(uow, clock, rules, subject="alice") is not None


def test_with_several_rules_the_one_exceeded_decides_the_retry_time(uow, clock):
    rules = (RateRule(1, 60), RateRule(5, 3600))
    attempt(uow, clock, rules)

    refusal = attempt(uow, clock, rules)

    assert refusal.retry_after == 60  # only the minute rule is exceeded


def test_with_several_rules_exceeded_the_latest_time_wins_and_is_truthful(uow, clock):
    rules = (RateRule(1, 60), RateRule(2, 3600))
    attempt(uow, clock, rules)
    clock.advance(60)
    attempt(uow, clock, rules)

    refusal = attempt(uow, clock, rules)

    assert refusal.retry_after == 3540  # the hour rule: the first event is 60 s old
    clock.advance(60)  # the minute rule would admit now, the hour rule not
    assert attempt(uow, clock, rules).retry_after == 3480
    clock.advance(3479)
    assert attempt(uow, clock, rules) is not None
    clock.advance(1)
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


def test_no_rules_is_no_limit_and_no_statement(uow, clock):
    assert all(attempt(uow, clock, ()) is None for _ in range(5))
    with uow() as unit:
        assert unit.db.scalar(select(func.count()).select_from(RateCounter)) == 0


def test_a_changed_rule_starts_afresh_and_a_long_rule_list_still_fits_its_key(uow, clock):
    assert attempt(uow, clock, (RateRule(1, 600),)) is None
    assert attempt(uow, clock, (RateRule(1, 600),)) is not None
    assert attempt(uow, clock, (RateRule(2, 600),)) is None
    many = tuple(RateRule(n, 86400 * n) for n in range(1, 30))
    assert len(ratelimit.window_key("msisdn", many, "d" * 64)) <= ratelimit.KEY_LENGTH
    assert attempt(uow, clock, many) is None
    assert attempt(uow, clock, many) is not None


def test_housekeeping_removes_what_left_every_window_and_changes_no_decision(uow, clock):
    rules = (RateRule(2, 60), RateRule(3, 600))
    for _ in range(3):
        assert attempt(uow, clock, rules) is None  # at 0, 30 and 60 s
        clock.advance(30)

    def rows():
        with uow() as unit:
            return tuple(unit.db.scalar(select(func.count()).select_from(model))
                         for model in (RateCounter, RateEvent))

    assert rows() == (1, 5)  # the head, 2 minute slots and 3 ten-minute slots
    with uow() as unit:
        removed = unit.delete_expired(clock.now(), 3600)
        unit.commit()
    assert (removed["rate_counters"], removed["rate_events"]) == (0, 0)  # the key is live
    assert attempt(uow, clock, rules).retry_after == 510  # 10 min after the first
    clock.advance(600)
    with uow() as unit:
        unit.delete_expired(clock.now(), 3600)
        unit.commit()
    assert rows() == (0, 0)
    assert [attempt(uow, clock, rules) for _ in range(2)] == [None, None]
    assert attempt(uow, clock, rules).retry_after == 60


def test_an_event_whose_clock_is_behind_the_latest_one_is_dated_at_the_latest(uow, clock):
    """A transaction that read the clock earlier but took the key's lock later is counted
    at the latest event's time, so that event times never decrease along the ring."""
    rules = (RateRule(3, 60),)
    attempt(uow, START, rules)
    attempt(uow, START - timedelta(seconds=5), rules)  # read its clock 5 s earlier
    with uow() as unit:
        expiries = sorted(unit.db.scalars(select(RateEvent.expires_at)))
    assert expiries == [START + timedelta(seconds=60)] * 2


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

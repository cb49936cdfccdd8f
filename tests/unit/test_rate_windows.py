"""The sliding windows' storage (gateway.storage.rate_windows) in each of its forms, on a
real SQLite file: the sqlite3 statements of the hot path, the same through SQLAlchemy Core
(PostgreSQL's), the portable UPDATE-then-INSERT (MySQL's), the three mixed on one database,
and the in-memory fake of the fast tests; each against a reference that keeps every
admitted time, with the housekeeping running in between."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.dialects import sqlite

from fake_storage import FakeStorage
from gateway.storage import rate_windows
from gateway.storage.db import make_engine
from gateway.storage.migrate import upgrade
from gateway.storage.models import RateCounter, RateEvent
from gateway.storage.rate_windows import Window
from gateway.storage.uow import uow_factory

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
KEY = "msisdn:5/60,12/600:" + "d" * 64
WINDOWS = (Window(5, 60), Window(12, 600))


def through_the_repository(unit, key, now, windows):
    return unit.counters.admit(key, now, windows)  # on SQLite: admit_on_sqlite


def through_core(unit, key, now, windows):
    return rate_windows.admit(unit.db.connection(), sqlite.insert, key, now, windows)


def portably(unit, key, now, windows):
    return rate_windows.admit_portably(unit.db, key, now, windows)


FORMS = {"sqlite3": through_the_repository, "core": through_core, "portable": portably}


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'windows.sqlite3'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite3", "core", "portable", "mixed", "in-memory"])
def admit(request):
    """``admit(now) -> datetime | None``, one event of KEY in its own transaction,
    committed when admitted; and ``cleanup(now)``, the housekeeping."""
    if request.param == "in-memory":
        storage, forms = FakeStorage(), [through_the_repository]
    else:
        storage = uow_factory(request.getfixturevalue("engine"))
        forms = list(FORMS.values()) if request.param == "mixed" else [FORMS[request.param]]
    draw = random.Random(5)

    def attempt(now):
        with storage() as unit:
            retry_at = draw.choice(forms)(unit, KEY, now, WINDOWS)
            if retry_at is None:
                unit.commit()
        return retry_at

    def cleanup(now):
        with storage() as unit:
            unit.delete_expired(now, 3600)
            unit.commit()

    attempt.cleanup = cleanup
    attempt.storage = storage
    return attempt


def reference(admitted: list[datetime], now: datetime) -> datetime | None:
    """What an exact sliding log says: None, or when the refused attempt would pass."""
    waits = []
    for window in WINDOWS:
        inside = [t for t in admitted if t > now - timedelta(seconds=window.period)]
        if len(inside) >= window.limit:
            waits.append(inside[-window.limit] + timedelta(seconds=window.period))
    return max(waits, default=None)


def test_every_form_admits_and_refuses_exactly_as_a_sliding_log(admit):
    draw = random.Random(10)
    now, admitted = T0, []
    for step in range(400):
        now += timedelta(milliseconds=draw.choice(
            [0, 1, 250, 999, 3_000, 7_250, 20_000, 60_000, 61_000, 700_000]))
        if step % 37 == 0:
            admit.cleanup(now)
        expected = reference(admitted, now)
        assert admit(now) == expected, (step, now)
        if expected is None:
            admitted.append(now)
    assert len(admitted) > 100


def test_a_refusal_names_the_exact_microsecond_the_window_frees(admit):
    for _ in range(5):
        assert admit(T0) is None
    later = T0 + timedelta(seconds=59, microseconds=999_999)
    assert admit(later) == T0 + timedelta(seconds=60)
    assert admit(T0 + timedelta(seconds=60)) is None


def test_the_housekeeping_deletes_a_window_once_its_last_event_left_the_longest_rule(
        engine):
    storage = uow_factory(engine)

    def rows():
        with storage() as unit:
            return tuple(unit.db.scalar(select(func.count()).select_from(model))
                         for model in (RateCounter, RateEvent))

    def cleanup(now):
        with storage() as unit:
            removed = unit.delete_expired(now, 3600)
            unit.commit()
        return removed["rate_counters"], removed["rate_events"]

    for seconds in (0, 30, 90):
        with storage() as unit:
            assert unit.counters.admit(KEY, T0 + timedelta(seconds=seconds), WINDOWS) is None
            unit.commit()
    assert rows() == (1, 6)  # one head; 3 slots of the 5/60 rule, 3 of the 12/600 rule
    assert cleanup(T0 + timedelta(seconds=689)) == (0, 0)
    assert cleanup(T0 + timedelta(seconds=690)) == (1, 6)
    assert rows() == (0, 0)

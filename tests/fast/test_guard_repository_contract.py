"""The guard's repository (gateway.storage.guard_repository) and its in-memory stand-in
(tests/fake_storage.py) under one contract, over a temporary SQLite file and in memory."""
from __future__ import annotations

from datetime import timedelta

from gateway.storage.guard_repository import (PrefixFigures, Standing, add_counts_portably,
                                              put_block_portably)
from gateway.storage.uow import uow_factory

from .test_fake_storage_matches_sqlite import T0, engine, uow  # noqa: F401 (fixtures)

HOUR = timedelta(hours=1)
BUCKET = timedelta(minutes=5)


def counted(uow, prefix, start, **figures):  # noqa: F811
    with uow() as work:
        work.guard.count(prefix, start, start + HOUR + BUCKET, **figures)
        work.commit()


def block(uow, prefix, until, **figures):  # noqa: F811
    values = {"reason": "pumping", "blocked_at": T0, "blocked_until": until, "sms": 4,
              "verified": 0, "expires_at": until + timedelta(days=1), **figures}
    with uow() as work:
        work.guard.block(prefix, **values)
        work.commit()


def standing(uow, prefix, since, settled=None):  # noqa: F811
    with uow(read_only=True) as work:
        return work.guard.standing(prefix, since, settled or since)


def test_counts_add_up_per_bucket_and_only_buckets_after_since_are_summed(uow):  # noqa: F811
    counted(uow, "+33612", T0, sms=1)
    counted(uow, "+33612", T0, sms=1)
    counted(uow, "+33612", T0 + BUCKET, verified=1)
    counted(uow, "+33698", T0, sms=1)

    assert standing(uow, "+33612", T0 - HOUR) == Standing(None, 2, 1)
    assert standing(uow, "+33612", T0) == Standing(None, 0, 1)
    assert standing(uow, "+44741", T0 - HOUR) == Standing(None, 0, 0)


def test_settled_sms_are_those_of_buckets_starting_at_or_before_settled(uow):  # noqa: F811
    counted(uow, "+33612", T0, sms=2)
    counted(uow, "+33612", T0 + BUCKET, sms=3, verified=1)
    counted(uow, "+33612", T0 + 2 * BUCKET, sms=4)

    assert standing(uow, "+33612", T0 - HOUR, T0 + BUCKET) == Standing(None, 9, 1, 5)
    assert standing(uow, "+33612", T0 - HOUR, T0 - BUCKET) == Standing(None, 9, 1, 0)
    # Within the window only: a settled bucket before ``since`` is not counted.
    assert standing(uow, "+33612", T0, T0 + 2 * BUCKET) == Standing(None, 7, 1, 7)


def test_a_block_is_read_with_the_figures_and_a_new_one_replaces_it(uow):  # noqa: F811
    block(uow, "+33612", T0 + HOUR)
    block(uow, "+33612", T0 + 2 * HOUR, sms=9)

    assert standing(uow, "+33612", T0).blocked_until == T0 + 2 * HOUR
    with uow(read_only=True) as work:
        [row] = work.guard.overview(T0, T0)
    assert (row.prefix, row.sms_when_blocked, row.reason) == ("+33612", 9, "pumping")


def test_clearing_forgets_the_block_and_the_counts_of_that_prefix_only(uow):  # noqa: F811
    counted(uow, "+33612", T0, sms=3)
    counted(uow, "+33698", T0, sms=1)
    block(uow, "+33612", T0 + HOUR)

    with uow() as work:
        assert work.guard.clear("+33612") is True
        assert work.guard.clear("+33612") is False
        work.commit()

    assert standing(uow, "+33612", T0 - HOUR) == Standing(None, 0, 0)
    assert standing(uow, "+33698", T0 - HOUR).sms == 1


def test_the_overview_lists_prefixes_with_figures_in_the_window_or_a_kept_block(
        uow):  # noqa: F811
    counted(uow, "+33612", T0, sms=2, verified=1)
    counted(uow, "+33698", T0 - 2 * HOUR, sms=5)  # out of the window
    block(uow, "+44741", T0 - HOUR)  # ended, still kept a day

    with uow(read_only=True) as work:
        rows = work.guard.overview(T0 - HOUR, T0)

    assert [row.prefix for row in rows] == ["+33612", "+44741"]
    assert rows[0] == PrefixFigures("+33612", 2, 1, settled_sms=2)  # no settle time: all
    assert (rows[1].sms, rows[1].blocked_until) == (0, T0 - HOUR)


def test_the_overview_counts_apart_the_sms_the_guard_judges(uow):  # noqa: F811
    counted(uow, "+33612", T0 - 2 * BUCKET, sms=3)
    counted(uow, "+33612", T0, sms=2, verified=1)

    with uow(read_only=True) as work:
        [row] = work.guard.overview(T0 - HOUR, T0 + BUCKET, settled=T0 - BUCKET)

    assert (row.sms, row.settled_sms, row.verified) == (5, 3, 1)


def test_cleanup_drops_counts_out_of_every_window_and_blocks_ended_a_day_ago(
        uow):  # noqa: F811
    counted(uow, "+33612", T0, sms=1)
    block(uow, "+44741", T0)

    with uow() as work:
        assert work.guard.delete_expired(T0 + HOUR) == {"guard_counts": 0, "guard_blocks": 0}
        assert work.guard.delete_expired(T0 + 2 * HOUR) == {"guard_counts": 1,
                                                            "guard_blocks": 0}
        assert work.guard.delete_expired(T0 + timedelta(days=1)) == {"guard_counts": 0,
                                                                     "guard_blocks": 1}
        work.commit()


def test_counts_of_a_unit_of_work_left_without_commit_are_gone(uow):  # noqa: F811
    with uow() as work:
        work.guard.count("+33612", T0, T0 + HOUR, sms=1)

    assert standing(uow, "+33612", T0 - HOUR).sms == 0


def test_the_portable_upserts_add_up_and_replace_as_on_conflict_does(engine):  # noqa: F811
    # For databases without INSERT ... ON CONFLICT (MySQL, MariaDB), forced on SQLite.
    factory = uow_factory(engine)
    values = {"prefix": "+33612", "bucket_start": T0, "expires_at": T0 + HOUR}
    for figures in ({"sms": 1, "verified": 0}, {"sms": 1, "verified": 1}):
        with factory() as work:
            add_counts_portably(work.db, {**values, **figures})
            work.commit()
    for until in (T0 + HOUR, T0 + 2 * HOUR):
        with factory() as work:
            put_block_portably(work.db, {"prefix": "+33612", "reason": "pumping",
                                         "blocked_at": T0, "blocked_until": until, "sms": 2,
                                         "verified": 1, "expires_at": until})
            work.commit()

    assert standing(factory, "+33612", T0 - HOUR) == Standing(T0 + 2 * HOUR, 2, 1)
    with factory() as work:
        work.guard.clear("+33612")
        work.commit()

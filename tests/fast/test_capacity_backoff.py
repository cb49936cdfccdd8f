"""Back-off when the modems cannot keep up: no healthy modem, or a queue longer than the
time budget, refuses new SMS with 503/201 and a retryAfter that holds."""
from __future__ import annotations

from datetime import timedelta

from gateway.verification import mt

from .conftest import NUMBER, new_session, publish_modem, queued, refusal


def start(deps, msisdn=NUMBER, session=None):
    mt.start_mt_verification(deps, session or new_session(deps), mt.CodeRequest(
        msisdn=msisdn, method=mt.METHOD_MT, short_code=False))


def numbers(count: int) -> list[str]:
    return [f"+336123456{index:02d}" for index in range(count)]


def worker_sends_oldest(deps) -> None:
    """The worker's part: the oldest queued SMS leaves the queue."""
    with deps.uow() as uow:
        oldest = uow.outbox.latest(10 ** 6, status="queued")[-1]
        oldest.status = "sent"
        uow.commit()


def test_without_a_healthy_modem_nothing_is_queued_for_thirty_seconds(make_deps):
    deps = make_deps(modems=0)
    publish_modem(deps, healthy=False, state="gone")
    session = new_session(deps)

    refused = refusal(start, deps, session=session)

    assert (refused.status, refused.errno, refused.retry_after) == (503, 201, 30)
    assert queued(deps) == []
    publish_modem(deps, "modem1")
    start(deps, "+33698765432", session)  # the refused number was not bound either


def test_a_modem_that_stopped_reporting_is_not_trusted_to_send(make_deps):
    deps = make_deps(modem_status_ttl=60)
    deps.clock.advance(61)

    assert refusal(start, deps).errno == 201
    publish_modem(deps)  # the worker is back
    start(deps)


def test_a_queue_that_would_wait_past_the_budget_is_refused_until_it_drains(make_deps):
    deps = make_deps(modems=0, queue_time_budget=10, rate_limit_msisdn="")
    publish_modem(deps, seconds_per_part=2.0)  # 0.5 SMS a second: 5 fit in 10 s
    waiting = numbers(6)
    for number in waiting[:5]:
        start(deps, number)

    refused = refusal(start, deps, waiting[5])

    assert (refused.status, refused.errno, refused.retry_after) == (503, 201, 2)
    worker_sends_oldest(deps)
    start(deps, waiting[5])
    assert len(queued(deps)) == 6


def test_a_modem_not_yet_measured_is_assumed_to_take_three_seconds_an_sms(make_deps):
    deps = make_deps(modems=0, queue_time_budget=9)
    publish_modem(deps)
    for number in numbers(3):
        start(deps, number)

    assert refusal(start, deps, numbers(4)[3]).retry_after == 3


def test_a_second_modem_doubles_what_the_budget_allows(make_deps):
    deps = make_deps(modems=0, queue_time_budget=10)
    publish_modem(deps, "m0", seconds_per_part=2.0)
    publish_modem(deps, "m1", seconds_per_part=2.0)
    for number in numbers(10):
        start(deps, number)

    assert refusal(start, deps, "+33698765432").retry_after == 1


def test_a_resend_waits_for_capacity_too(make_deps):
    deps = make_deps(modem_status_ttl=60)
    session = new_session(deps)
    start(deps, session=session)
    deps.clock.advance(61)

    assert refusal(mt.resend_code, deps, session, []).errno == 201
    assert len(queued(deps)) == 1


def test_every_box_s_modems_drain_the_queue_together_even_with_the_same_names(make_deps):
    """Two boxes on one database, each with a ``modem0``: the budget counts both speeds;
    a box whose report is stale (its worker died) stops counting."""
    deps = make_deps(modems=0, queue_time_budget=10, modem_status_ttl=60)
    publish_modem(deps, "modem0", worker="box-a", seconds_per_part=2.0)
    publish_modem(deps, "modem0", worker="box-b", seconds_per_part=1.0)  # 1.5 SMS/s: 15
    for number in numbers(14):
        start(deps, number)
    start(deps, "+33698765432")  # the 15th fits only with both boxes

    deps.clock.advance(30)
    publish_modem(deps, "modem0", worker="box-b", seconds_per_part=1.0)
    deps.clock.advance(31)  # box a's report is 61 s old: box b alone, 1 SMS/s
    refused = refusal(start, deps, "+33698765433")
    assert (refused.errno, refused.retry_after) == (201, 6)  # 16 s of queue, 10 s budget


def test_a_row_whose_worker_s_lease_ended_no_longer_counts_in_the_queue(make_deps):
    deps = make_deps(modems=0, queue_time_budget=9)
    publish_modem(deps)  # 3 s an SMS: 3 fit in 9 s
    for number in numbers(3):
        start(deps, number)
    assert refusal(start, deps, "+33698765432").errno == 201
    with deps.uow() as uow:  # a worker claims one and dies; its lease ends 30 s later
        [row] = uow.outbox.latest(1)
        row.status, row.claimed_by = "sending", "box-a"
        row.lease_expires_at = deps.now() + timedelta(seconds=30)
        uow.commit()
    assert refusal(start, deps, "+33698765432").errno == 201
    deps.clock.advance(31)
    publish_modem(deps)
    start(deps, "+33698765432")

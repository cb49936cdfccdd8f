"""Back-off when the modems cannot keep up: no healthy modem, or a queue longer than the
time budget, refuses new SMS with 503/201 and a retryAfter that holds."""
from __future__ import annotations

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

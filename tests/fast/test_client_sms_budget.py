"""The per-client SMS budget (rate_limit_client_sms) as the use cases count it: each client
key (CodeRequest.client) has its own budget, counted before the global per-method one so
that a client over its budget consumes nothing of it; the reply to an SMS-MO (no HTTP
client) is not counted."""
from __future__ import annotations

from gateway.verification import mt
from gateway.verification.momt import start_momt_verification

from .conftest import new_session, queued, refusal

ATTACKER, HONEST = "a" * 64, "b" * 64


def numbers(count: int, prefix: str = "+3361234") -> list[str]:
    return [f"{prefix}{index:04d}" for index in range(count)]


def ask(deps, msisdn, client, short_code=False):
    mt.start_mt_verification(deps, new_session(deps), mt.CodeRequest(
        msisdn=msisdn, method=mt.METHOD_MT, short_code=short_code, mcc="208", mnc="01",
        client=client))


def test_a_client_gets_its_budget_then_117_saying_when_its_oldest_sms_is_an_hour_old(
        make_deps):
    deps = make_deps(rate_limit_client_sms="3/1h")
    for number in numbers(3):
        ask(deps, number, ATTACKER)
        deps.clock.advance(60)

    refused = refusal(ask, deps, "+33612349999", ATTACKER)
    assert (refused.status, refused.errno, refused.retry_after) == (429, 117, 3600 - 180)
    assert "SMS" in refused.message
    deps.clock.advance(3420)
    ask(deps, "+33612349999", ATTACKER)
    assert len(queued(deps)) == 4


def test_refusals_of_one_client_leave_the_global_budget_to_the_others(make_deps):
    deps = make_deps(rate_limit_client_sms="2/1h", rate_limit_method="4/1h")
    sent = numbers(2)
    for number in sent:
        ask(deps, number, ATTACKER)
    for number in numbers(20, "+3367777"):
        assert refusal(ask, deps, number, ATTACKER).errno == 117

    for number in numbers(2, "+3375555"):
        ask(deps, number, HONEST)  # the 3rd and 4th SMS of the hour for the method
    assert refusal(ask, deps, "+33611111111", "c" * 64).errno == 116
    assert len(queued(deps)) == 4


def test_resend_counts_against_the_client_that_asks(make_deps):
    deps = make_deps(rate_limit_client_sms="2/1h")
    session = new_session(deps)
    mt.start_mt_verification(deps, session, mt.CodeRequest(
        msisdn="+33612345678", method=mt.METHOD_MT, short_code=False, mcc="208",
        client=ATTACKER))
    mt.resend_code(deps, session, (), client=ATTACKER)

    assert refusal(mt.resend_code, deps, session, (), client=ATTACKER).errno == 117
    mt.resend_code(deps, session, (), client=HONEST)  # another address, its own budget


def test_without_a_client_there_is_no_client_budget(make_deps):
    """An exempt client (client None), and the reply to an SMS-MO: a phone texted us, no
    HTTP client asked; its sender is limited by rate_limit_msisdn."""
    deps = make_deps(rate_limit_client_sms="1/1h")
    for number in numbers(3):
        ask(deps, number, None)
    for number in numbers(3, "+3367777"):
        session = new_session(deps)
        with deps.uow() as uow:
            start_momt_verification(uow, deps, session, number)
            uow.commit()
    assert len(queued(deps)) == 6


def test_an_empty_budget_setting_means_no_client_budget(make_deps):
    deps = make_deps(rate_limit_client_sms="")
    for number in numbers(12):
        ask(deps, number, ATTACKER)
    assert len(queued(deps)) == 12

"""sms/mt/verify and resend_code: what is queued for the worker, and what is refused."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from gateway.verification import mt, verify
from gateway.verification.msisdn import parse_msisdn, validate_mcc, validate_mnc

from .conftest import (NUMBER, OTHER_NUMBER, last_text_to, new_session, queued, refusal,
                       short_code_in)


def start(deps, session, msisdn=NUMBER, short_code=False, languages=(), mnc="01"):
    mt.start_mt_verification(deps, session, mt.CodeRequest(
        msisdn=msisdn, method=mt.METHOD_MT, short_code=short_code, languages=languages,
        mcc="208", mnc=mnc))


def test_one_sms_with_the_long_code_is_queued_for_the_claimed_number(deps):
    session = new_session(deps)

    start(deps, session)

    [sms] = queued(deps)
    assert re.fullmatch(r"[0-9a-f]{64}", sms.text)
    assert (sms.recipient, sms.sender, sms.purpose, sms.status) == (NUMBER, None, "sms/mt",
                                                                    "queued")
    assert (sms.region, sms.mcc, sms.mnc) == ("FR", "208", "01")
    assert sms.next_attempt_at == deps.now()
    assert sms.expires_at == deps.now() + timedelta(seconds=deps.settings.sms_ttl)
    assert verify.verify_code(deps, session, sms.text) == NUMBER


def test_a_short_code_sms_is_written_in_the_first_supported_language_asked_for(deps):
    start(deps, new_session(deps), short_code=True, languages=["da", "de-AT", "fr"])

    text = last_text_to(deps, NUMBER)
    assert text.startswith("Ihr Bestätigungscode lautet ") and "10" in text
    assert text.count(short_code_in(text)) == 1


def test_a_short_code_sms_is_in_english_when_no_language_asked_for_is_supported(deps):
    start(deps, new_session(deps), short_code=True, languages=["da", "sv"])

    assert last_text_to(deps, NUMBER).startswith("Your verification code is ")


def test_the_configured_sender_is_the_one_the_sms_shows(make_deps):
    deps = make_deps(mt_sender="VERIFY")
    start(deps, new_session(deps))

    assert queued(deps)[0].sender == "VERIFY"


@pytest.mark.parametrize("check, value", [
    (parse_msisdn, "0612345678"), (parse_msisdn, "+3361234"), (parse_msisdn, "+33 6 12 34 x"),
    (validate_mcc, "20"), (validate_mcc, 208), (validate_mnc, "1"), (validate_mnc, "0001")])
def test_numbers_and_network_codes_that_are_not_well_formed_are_invalid_parameters(check, value):
    assert refusal(check, value).errno == 107


def test_a_number_in_international_form_is_accepted_with_blanks_and_dashes():
    assert parse_msisdn("+33 6-12.34 56 78") == NUMBER


def test_an_unknown_session_queues_nothing(deps):
    refused = refusal(start, deps, "0" * 64)

    assert (refused.status, refused.errno) == (401, 110)
    assert queued(deps) == []


def test_a_session_verifies_one_number_for_its_whole_life(deps):
    session = new_session(deps)
    start(deps, session)
    start(deps, session)  # the same number: another code

    assert refusal(start, deps, session, OTHER_NUMBER).errno == 107
    assert [sms.recipient for sms in queued(deps)] == [NUMBER, NUMBER]


def test_the_per_number_limit_says_when_it_lifts_and_it_lifts_then(make_deps):
    deps = make_deps(rate_limit_msisdn="2/10m")
    sessions = [new_session(deps) for _ in range(3)]
    deps.clock.advance(100)
    start(deps, sessions[0])
    deps.clock.advance(50)
    start(deps, sessions[1])

    refused = refusal(start, deps, sessions[2])  # until the first is 10 minutes old
    assert (refused.status, refused.errno, refused.retry_after) == (429, 115, 550)
    deps.clock.advance(549)
    assert refusal(start, deps, sessions[2]).retry_after == 1
    deps.clock.advance(1)
    start(deps, sessions[2])
    assert len(queued(deps)) == 3


def test_a_refused_request_leaves_nothing_behind(make_deps):
    deps = make_deps(rate_limit_msisdn="1/10m", rate_limit_method="2/1h")
    first, refused, third = (new_session(deps) for _ in range(3))
    start(deps, first)

    assert refusal(start, deps, refused).errno == 115
    start(deps, refused, OTHER_NUMBER)  # neither bound to NUMBER nor charged to the budget
    assert [sms.recipient for sms in queued(deps)] == [NUMBER, OTHER_NUMBER]
    assert refusal(start, deps, third, "+33611111111").errno == 116


def test_the_budget_of_a_method_is_shared_by_every_number(make_deps):
    deps = make_deps(rate_limit_method="2/1h")
    for number in (NUMBER, OTHER_NUMBER):
        start(deps, new_session(deps), number)

    refused = refusal(start, deps, new_session(deps), "+33611111111")
    assert (refused.errno, refused.retry_after) == (116, 3600)


def test_short_codes_are_limited_per_session_resends_included(make_deps):
    deps = make_deps(rate_limit_short_code="2/1h")
    session = new_session(deps)
    start(deps, session, short_code=True)
    mt.resend_code(deps, session, ["en"])

    assert refusal(mt.resend_code, deps, session, ["en"]).errno == 114
    start(deps, session)  # a long code is not a short-code request
    start(deps, new_session(deps), OTHER_NUMBER, short_code=True)


def test_a_resent_code_is_of_the_same_kind_in_the_language_asked_then(deps):
    session = new_session(deps)
    start(deps, session, short_code=True, languages=["en"])

    mt.resend_code(deps, session, ["fr"])

    first, second = queued(deps)
    assert (second.recipient, second.purpose) == (NUMBER, "sms/mt")
    assert second.text.startswith("Votre code de vérification est ")
    assert verify.verify_code(deps, session, short_code_in(second.text)) == NUMBER


def test_only_the_latest_code_verifies_after_a_resend(deps):
    session = new_session(deps)
    start(deps, session)
    old = last_text_to(deps, NUMBER)

    mt.resend_code(deps, session, [])

    new = last_text_to(deps, NUMBER)
    assert refusal(verify.verify_code, deps, session, old).errno == 105
    assert verify.verify_code(deps, session, new) == NUMBER


def test_there_is_nothing_to_resend_before_a_verification_was_started(deps):
    session = new_session(deps)

    refused = refusal(mt.resend_code, deps, session, [])

    assert refused.errno == 107 and "sms/mt/verify" in refused.message
    assert queued(deps) == []

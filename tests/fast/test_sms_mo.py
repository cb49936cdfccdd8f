"""The SMS-MO flow: a phone texts its session's hawk id to a modem; the number the network
stamped on the SMS is bound to the session and a long code is sent back to it. The
caller (gateway/pipeline/inbound.py) runs it in a savepoint of its own transaction."""
from __future__ import annotations

from gateway.verification import mt, verify
from gateway.verification.momt import parse_mo_request, start_momt_verification

from .conftest import NUMBER, OTHER_NUMBER, new_session, publish_modem, queued, refusal


def text_from(deps, sender: str, session: str) -> str:
    """The inbound handler's part: one transaction, the use case in a savepoint."""
    with deps.uow() as uow:
        with uow.savepoint():
            msisdn = start_momt_verification(uow, deps, session, sender)
        uow.commit()
    return msisdn


def test_the_request_names_the_session_with_or_without_the_v1_prefix():
    hawk = "AB" * 32
    assert parse_mo_request(f"/v1/msisdn/sms/momt/verify {hawk}") == hawk.lower()
    assert parse_mo_request(f"  /sms/momt/verify   {hawk}\n") == hawk.lower()
    assert parse_mo_request(f"/v1/msisdn/sms/momt/verify {hawk[:-1]}") is None
    assert parse_mo_request("Hello, is this the verification service?") is None


def test_the_sender_gets_a_long_code_that_verifies_its_number(deps):
    session = new_session(deps)

    assert text_from(deps, "+33 6 12 34 56 78", session) == NUMBER

    [sms] = queued(deps)
    assert (sms.recipient, sms.purpose, sms.region, len(sms.text)) == (NUMBER, "sms/momt",
                                                                       "FR", 64)
    assert verify.verify_code(deps, session, sms.text) == NUMBER


def test_a_resend_goes_back_to_the_sender_by_the_same_method(deps):
    session = new_session(deps)
    text_from(deps, NUMBER, session)

    mt.resend_code(deps, session, ["fr"])

    first, second = queued(deps)
    assert (second.recipient, second.purpose, len(second.text)) == (NUMBER, "sms/momt", 64)
    assert verify.verify_code(deps, session, second.text) == NUMBER


def test_a_sender_not_in_international_form_is_refused(deps):
    refused = refusal(text_from, deps, "0612345678", new_session(deps))

    assert refused.errno == 107 and "sender" in refused.message
    assert queued(deps) == []


def test_an_sms_for_an_unknown_session_queues_nothing(deps):
    assert refusal(text_from, deps, NUMBER, "0" * 64).errno == 110
    assert queued(deps) == []


def test_a_session_bound_to_another_number_ignores_a_second_sender(deps):
    session = new_session(deps)
    text_from(deps, NUMBER, session)

    assert refusal(text_from, deps, OTHER_NUMBER, session).errno == 107
    assert [sms.recipient for sms in queued(deps)] == [NUMBER]


def test_a_refused_request_undoes_only_its_own_part_of_the_transaction(make_deps):
    deps = make_deps(rate_limit_msisdn="1/10m")
    accepted, refused_session = new_session(deps), new_session(deps)
    with deps.uow() as uow:
        with uow.savepoint():
            start_momt_verification(uow, deps, accepted, NUMBER)
        refused = refusal(_in_savepoint, uow, deps, refused_session, NUMBER)
        uow.commit()

    assert refused.errno == 115
    assert [sms.recipient for sms in queued(deps)] == [NUMBER]
    assert verify.verify_code(deps, accepted, queued(deps)[0].text) == NUMBER
    assert text_from(deps, OTHER_NUMBER, refused_session) == OTHER_NUMBER  # was not bound


def _in_savepoint(uow, deps, session, sender):
    with uow.savepoint():
        start_momt_verification(uow, deps, session, sender)


def test_no_code_is_queued_while_no_modem_can_send_it(make_deps):
    deps = make_deps(modems=0)
    publish_modem(deps, healthy=False)

    refused = refusal(text_from, deps, NUMBER, new_session(deps))

    assert (refused.errno, refused.retry_after) == (201, 30)
    assert queued(deps) == []

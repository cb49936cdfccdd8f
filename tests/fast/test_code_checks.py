"""sms/verify_code: the right code, wrong tries, lifetimes."""
from __future__ import annotations

from gateway.verification import certificate, mt, sessions, verify

from .conftest import (NUMBER, OTHER_NUMBER, key_of, last_text_to, new_session, refusal,
                       short_code_in)


def started(deps, msisdn=NUMBER, short_code=True) -> tuple[str, str]:
    """A session with a code sent to ``msisdn``; (hawk id, the code as received)."""
    session = new_session(deps)
    mt.start_mt_verification(deps, session, mt.CodeRequest(
        msisdn=msisdn, method=mt.METHOD_MT, short_code=short_code))
    text = last_text_to(deps, msisdn)
    return session, short_code_in(text) if short_code else text


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** 6:06d}"


def test_the_right_code_verifies_the_number_once(deps):
    session, code = started(deps)

    assert verify.verify_code(deps, session, f" {code} ") == NUMBER

    again = refusal(verify.verify_code, deps, session, code)
    assert (again.status, again.errno) == (400, 105)


def test_a_long_code_typed_in_capitals_still_verifies(deps):
    session, code = started(deps, short_code=False)

    assert verify.verify_code(deps, session, code.upper()) == NUMBER


def test_a_verified_session_outlives_a_pending_one_until_its_own_lifetime(deps):
    session, code = started(deps)
    verify.verify_code(deps, session, code)

    deps.clock.advance(deps.settings.pending_session_ttl)
    assert key_of(deps, session)
    deps.clock.advance(deps.settings.verified_session_ttl - deps.settings.pending_session_ttl)
    assert refusal(key_of, deps, session).errno == 110


def test_each_wrong_try_is_counted_and_the_last_allowed_one_burns_the_code(deps):
    session, code = started(deps)

    messages = [refusal(verify.verify_code, deps, session, wrong(code)).message
                for _ in range(deps.settings.max_code_attempts)]

    assert [m.split("(")[1] for m in messages] == ["2 tries left)", "1 tries left)",
                                                   "0 tries left)"]
    burnt = refusal(verify.verify_code, deps, session, code)
    assert (burnt.status, burnt.errno) == (410, 111)
    assert refusal(certificate.sign_certificate, deps, session,
                   deps.signing_key.public_key_document(), None).errno == 104


def test_a_new_code_after_a_burnt_one_gets_every_try_again(make_deps):
    deps = make_deps(max_code_attempts=2)
    session, code = started(deps)
    for _ in range(2):
        refusal(verify.verify_code, deps, session, wrong(code))

    mt.resend_code(deps, session, [])

    fresh = short_code_in(last_text_to(deps, NUMBER))
    assert refusal(verify.verify_code, deps, session, wrong(fresh)).errno == 105
    assert verify.verify_code(deps, session, fresh) == NUMBER


def test_a_code_works_until_the_second_its_lifetime_ends(deps):
    early, early_code = started(deps)
    late, late_code = started(deps, OTHER_NUMBER)

    deps.clock.advance(deps.settings.short_code_ttl - 1)
    assert verify.verify_code(deps, early, early_code) == NUMBER
    deps.clock.advance(1)
    expired = refusal(verify.verify_code, deps, late, late_code)
    assert (expired.status, expired.errno) == (410, 111)


def test_a_long_code_lives_longer_than_a_short_one(deps):
    session, code = started(deps, short_code=False)

    deps.clock.advance(deps.settings.long_code_ttl - 1)
    assert verify.verify_code(deps, session, code) == NUMBER


def test_a_code_before_any_was_sent_is_invalid(deps):
    assert refusal(verify.verify_code, deps, new_session(deps), "123456").errno == 105


def test_a_code_for_an_unknown_session_is_an_invalid_token(deps):
    assert refusal(verify.verify_code, deps, "0" * 64, "123456").errno == 110

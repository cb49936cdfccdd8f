"""One transaction per request, on the in-memory unit of work: the request's unit of work
is the ambient one (as gateway/http/transaction.py opens it), the client counter and the
Hawk nonce are written in it, and the use case's own ``deps.uow()`` is nested in it."""
from __future__ import annotations

from werkzeug.test import EnvironBuilder

from gateway.errors import ApiError
from gateway.http.clients import limit_client
from gateway.verification import discover, mt, sessions, verify

from .conftest import NUMBER, OTHER_NUMBER, new_session, nonce_is_new, queued, refusal


def a_request(deps, use_case, *args, nonce: str = "n1", session: str | None = None):
    """Run ``use_case`` as a request does: counter, Hawk key and nonce, then the use case,
    then one commit, also when the use case refused. Returns its result or its error."""
    request = EnvironBuilder(environ_base={"REMOTE_ADDR": "203.0.113.7"}).get_request()
    with deps.uow.ambient() as uow:
        try:
            limit_client(uow, deps, request)
        except ApiError as error:
            uow.rollback()
            return error
        if session is not None:
            sessions.hawk_key(uow, deps, session)
            assert sessions.remember_nonce(uow, deps, session, nonce,
                                           int(deps.now().timestamp()))
        try:
            outcome = use_case(deps, *args)
        except ApiError as error:
            outcome = error
        uow.commit()
    return outcome


def client_limited(deps) -> bool:
    """Whether the next request of the client is refused by its limit (117)."""
    outcome = a_request(deps, lambda d: None)
    return isinstance(outcome, ApiError) and outcome.errno == 117


def test_a_refused_use_case_keeps_the_nonce_and_the_client_hit_but_not_its_own_work(make_deps):
    deps = make_deps(rate_limit_msisdn="1/10m", rate_limit_client="2/1m")
    mt.start_mt_verification(deps, new_session(deps), mt.CodeRequest(
        msisdn=NUMBER, method=mt.METHOD_MT, short_code=False))
    session = new_session(deps)

    refused = a_request(deps, mt.start_mt_verification, session, mt.CodeRequest(
        msisdn=NUMBER, method=mt.METHOD_MT, short_code=False), session=session)

    assert (refused.status, refused.errno) == (429, 115)
    assert len(queued(deps)) == 1  # the refused SMS was not queued
    assert nonce_is_new(deps, session, "n1", int(deps.now().timestamp())) is False
    other = a_request(deps, mt.start_mt_verification, session, mt.CodeRequest(
        msisdn=OTHER_NUMBER, method=mt.METHOD_MT, short_code=False), session=session,
        nonce="n2")
    assert other is None  # the refused request bound no number to the session
    assert client_limited(deps)  # both requests were counted


def test_a_wrong_code_in_a_request_counts_the_try_and_keeps_the_nonce(deps):
    session = new_session(deps)
    mt.start_mt_verification(deps, session, mt.CodeRequest(
        msisdn=NUMBER, method=mt.METHOD_MT, short_code=True))

    wrong = a_request(deps, verify.verify_code, session, "000000", session=session)

    assert (wrong.status, wrong.errno) == (400, 105)
    with deps.uow(read_only=True) as uow:
        assert uow.codes.for_session(uow.sessions.by_digest(
            deps.secret.digest("hawk-id", session)).id).failed_attempts == 1
    assert nonce_is_new(deps, session, "n1", int(deps.now().timestamp())) is False


def test_discover_in_a_request_reads_inside_the_requests_transaction(make_deps):
    deps = make_deps(rate_limit_client="1/1m")
    methods = a_request(deps, lambda d: discover.discover(
        d, msisdn=None, mcc="208", mnc=None, roaming=False, mt_verify_url="https://x/v"))
    assert methods["verificationMethods"] == ["sms/momt", "sms/mt"]
    assert client_limited(deps)


def test_a_use_case_alone_still_commits_its_own_transaction(deps):
    session = new_session(deps)
    mt.start_mt_verification(deps, session, mt.CodeRequest(
        msisdn=NUMBER, method=mt.METHOD_MT, short_code=False))
    assert len(queued(deps)) == 1
    assert refusal(verify.verify_code, deps, session, "f" * 64).errno == 105

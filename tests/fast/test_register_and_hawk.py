"""register, unregister and what Hawk authentication asks of storage (the session's key,
nonces), and the per-client request budget of gateway/http/clients.py."""
from __future__ import annotations

from werkzeug.test import EnvironBuilder

from gateway.crypto.tokens import derive_hawk_credentials
from gateway.http.clients import limit_client
from gateway.verification import mt, sessions, verify

from .conftest import NUMBER, key_of, new_session, nonce_is_new, refusal


def test_a_new_token_lets_its_holder_sign_with_the_key_it_derives(deps):
    token = sessions.register(deps)

    credentials = derive_hawk_credentials(bytes.fromhex(token))
    assert len(token) == 64
    assert key_of(deps, credentials.id) == credentials.key


def test_every_registration_is_a_different_session(deps):
    assert len({sessions.register(deps) for _ in range(3)}) == 3


def test_a_hawk_id_nobody_registered_is_an_invalid_token(deps):
    assert refusal(key_of, deps, "0" * 64).errno == 110


def test_a_nonce_is_accepted_once_and_its_replay_is_refused(deps):
    session = new_session(deps)
    stamp = int(deps.now().timestamp())

    assert nonce_is_new(deps, session, "abc", stamp) is True
    assert nonce_is_new(deps, session, "abc", stamp) is False
    assert nonce_is_new(deps, session, "abd", stamp) is True
    assert nonce_is_new(deps, new_session(deps), "abc", stamp) is True


def test_unregistering_ends_the_session_and_its_pending_code(deps):
    session = new_session(deps)
    mt.start_mt_verification(deps, session, mt.CodeRequest(msisdn=NUMBER, method=mt.METHOD_MT,
                                                           short_code=False))

    sessions.unregister(deps, session)

    assert refusal(key_of, deps, session).errno == 110
    assert refusal(verify.verify_code, deps, session, "0" * 64).errno == 110
    assert refusal(sessions.unregister, deps, session).errno == 110


def test_a_session_that_verifies_nothing_ends_after_the_pending_lifetime(deps):
    session = new_session(deps)

    deps.clock.advance(deps.settings.pending_session_ttl - 1)
    assert key_of(deps, session)
    deps.clock.advance(1)
    assert refusal(key_of, deps, session).errno == 110


def count_client(deps, request) -> None:
    """The per-client limit as a request runs it: counted in a transaction that commits,
    or rolled back when refused."""
    with deps.uow() as uow:
        limit_client(uow, deps, request)
        uow.commit()


def request_from(address: str, forwarded_for: str | None = None):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return EnvironBuilder(headers=headers, environ_base={"REMOTE_ADDR": address}).get_request()


def test_a_client_over_its_budget_is_told_the_second_its_window_frees(make_deps):
    deps = make_deps(rate_limit_client="2/1m")
    count_client(deps, request_from("203.0.113.7"))
    deps.clock.advance(15)
    count_client(deps, request_from("203.0.113.7"))

    refused = refusal(count_client, deps, request_from("203.0.113.7"))
    assert (refused.status, refused.errno, refused.retry_after) == (429, 117, 45)
    count_client(deps, request_from("198.51.100.9"))  # another client has its own budget
    deps.clock.advance(44)
    assert refusal(count_client, deps, request_from("203.0.113.7")).retry_after == 1
    deps.clock.advance(1)
    count_client(deps, request_from("203.0.113.7"))


def test_a_client_in_an_exempt_network_is_never_refused(make_deps):
    deps = make_deps(rate_limit_client="1/1m", rate_limit_exempt_networks="10.0.0.0/8")
    for _ in range(3):
        count_client(deps, request_from("10.1.2.3"))


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget(make_deps):
    deps = make_deps(rate_limit_client="1/1m", trusted_proxies="127.0.0.1/32")
    count_client(deps, request_from("127.0.0.1", "203.0.113.7"))
    count_client(deps, request_from("127.0.0.1", "198.51.100.9"))

    assert refusal(count_client, deps, request_from("127.0.0.1", "203.0.113.7")).errno == 117

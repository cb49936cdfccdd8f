"""certificate/sign: a BrowserID certificate only for a verified number."""
from __future__ import annotations

from gateway.crypto import browserid
from gateway.verification import mt, verify
from gateway.verification.certificate import sign_certificate

from .conftest import NUMBER, last_text_to, new_session, refusal


def verified(deps, msisdn=NUMBER) -> str:
    session = new_session(deps)
    mt.start_mt_verification(deps, session, mt.CodeRequest(msisdn=msisdn, method=mt.METHOD_MT,
                                                           short_code=False))
    verify.verify_code(deps, session, last_text_to(deps, msisdn))
    return session


def claims_of(deps, cert: str) -> dict:
    """The claims, once the signature is checked with the server's published key."""
    return browserid.verify_certificate(cert, deps.signing_key.public_key_document())


def client_key(deps) -> dict:
    """Any RSA-2048 public key will do (making one is slow): the server's own."""
    return deps.signing_key.public_key_document()


def test_a_certificate_names_the_verified_number_and_when_it_was_verified(make_deps):
    deps = make_deps(public_url="https://verify.example.org")
    session = verified(deps)
    verified_at = int(deps.now().timestamp())
    deps.clock.advance(3600)

    claims = claims_of(deps, sign_certificate(deps, session, client_key(deps), 600))

    now_ms = int(deps.now().timestamp()) * 1000
    assert claims["iss"] == "verify.example.org"
    assert claims["principal"]["email"].endswith("@verify.example.org")
    assert claims["public-key"] == client_key(deps)
    assert (claims["iat"], claims["exp"]) == (now_ms, now_ms + 600_000)
    assert (claims["verifiedMSISDN"], claims["lastVerifiedAt"]) == (NUMBER, verified_at)


def test_a_number_keeps_its_principal_across_sessions(deps):
    emails = [claims_of(deps, sign_certificate(deps, verified(deps), client_key(deps), None))
              ["principal"]["email"] for _ in range(2)]

    assert emails[0] == emails[1]


def test_a_certificate_lives_at_most_the_configured_maximum(make_deps):
    deps = make_deps(certificate_max_duration=300)
    session = verified(deps)

    for asked in (None, 3600):
        claims = claims_of(deps, sign_certificate(deps, session, client_key(deps), asked))
        assert claims["exp"] - claims["iat"] == 300_000


def test_a_session_whose_number_is_not_verified_gets_no_certificate(deps):
    session = new_session(deps)
    mt.start_mt_verification(deps, session, mt.CodeRequest(msisdn=NUMBER, method=mt.METHOD_MT,
                                                           short_code=False))

    refused = refusal(sign_certificate, deps, session, client_key(deps), None)

    assert (refused.status, refused.errno) == (400, 104)


def test_a_public_key_that_cannot_be_read_is_an_invalid_parameter(deps):
    session = verified(deps)

    for key in ({"algorithm": "RS", "n": "12"}, "not json", {"algorithm": "EC"}):
        refused = refusal(sign_certificate, deps, session, key, None)
        assert refused.errno == 107 and refused.message.startswith("publicKey")


def test_an_ended_session_gets_no_certificate(deps):
    session = verified(deps)
    deps.clock.advance(deps.settings.verified_session_ttl)

    assert refusal(sign_certificate, deps, session, client_key(deps), None).errno == 110

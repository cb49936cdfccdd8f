"""CIBA by two-way SMS over real HTTP on a real SQLite file: the SMS queued in the one
outbox (read back sealed as the worker would), the reply handed to the real inbound
handler, the poll answered by the token endpoint. Only time is fake."""
from __future__ import annotations

import re

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from gateway.pipeline.inbound import store_inbound
from gateway.verification import clients, proofs
from modem.inbox import InboundSms

PHONE, OTHER = "+33612345678", "+33698765432"
SCOPE = "openid number-verification:verify"
GRANT = "urn:openid:params:grant-type:ciba"


def reply(gw, text, sender=PHONE):
    now = gw.clock.now()
    return store_inbound(gw.deps, InboundSms(
        modem="modem0", recipient="+33700000001", sender=sender, text=text,
        smsc_timestamp=now, smsc=None, partial=False, received_at=now, _claim=None))


@pytest.fixture
def app(gateway):
    with gateway.deps.uow() as uow:
        client_id, secret = clients.add_client(uow, gateway.deps, "Shop", ["https://s.example/cb"])
        uow.commit()
    return gateway, (client_id, secret)


def start(gw, auth, hint=f"tel:{PHONE}", scope=SCOPE):
    return gw.http.post(gw.url + "/oauth2/bc-authorize", auth=auth,
                        data={"login_hint": hint, "scope": scope})


def poll(gw, auth, auth_req_id):
    return gw.http.post(gw.url + "/oauth2/token", auth=auth,
                        data={"grant_type": GRANT, "auth_req_id": auth_req_id})


def test_ciba_texts_the_number_and_its_reply_gives_the_client_its_tokens(app):
    gw, auth = app
    started = start(gw, auth)
    assert started.status_code == 200, started.text
    body = started.json()
    assert set(body) == {"auth_req_id", "expires_in", "interval"}
    sms = gw.last_sms_to(PHONE)
    assert "Shop" in sms
    [code] = re.findall(r'Reply "OK (\d{4})" to confirm', sms)

    pending = poll(gw, auth, body["auth_req_id"])
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"
    assert poll(gw, auth, body["auth_req_id"]).json()["error"] == "slow_down"
    gw.clock.advance(body["interval"])

    assert reply(gw, f"OK {code}", sender=OTHER).kind == "other"  # another number
    row = reply(gw, f"ok {code}")
    assert (row.kind, row.outcome, row.sender) == ("ciba-reply", "ciba confirmed", "+33*******78")
    token = poll(gw, auth, body["auth_req_id"])
    assert token.status_code == 200, token.text
    tokens = token.json()
    assert tokens["expires_in"] <= 300 and "refresh_token" not in tokens
    claims = jwt.decode(tokens["id_token"], KeySet.import_key_set(
        gw.get("/oauth2/jwks").json())).claims
    assert len(claims["sub"]) == 64
    verified = gw.http.post(gw.url + "/number-verification/v2/verify",
                            json={"phoneNumber": PHONE},
                            headers={"Authorization": "Bearer " + tokens["access_token"]})
    assert verified.json() == {"devicePhoneNumberVerified": True}
    assert poll(gw, auth, body["auth_req_id"]).json()["error"] == "invalid_grant"  # once


def test_a_no_reply_is_access_denied_and_silence_is_expired_token(app):
    gw, auth = app
    denied = start(gw, auth).json()["auth_req_id"]
    [code] = re.findall(r'"NO (\d{4})"', gw.last_sms_to(PHONE))
    assert reply(gw, f"NO {code}").outcome == "ciba denied"
    assert poll(gw, auth, denied).json()["error"] == "access_denied"
    silent = start(gw, auth, hint=f"tel:{OTHER}").json()["auth_req_id"]
    gw.clock.advance(proofs.PROOF_TTL + 1)
    assert poll(gw, auth, silent).json()["error"] == "expired_token"


def test_ciba_refuses_bad_requests_with_oauth_errors(app):
    gw, (client_id, secret) = app
    assert start(gw, (client_id, "wrong")).status_code == 401
    assert start(gw, (client_id, secret), hint="").json()["error"] == "invalid_request"
    assert start(gw, (client_id, secret), hint="tel:12").json()["error"] == "unknown_user_id"
    assert start(gw, (client_id, secret), scope="email").json()["error"] == "invalid_scope"
    premium = start(gw, (client_id, secret), hint="tel:+33899123456")
    assert premium.status_code == 400 and "destination refused" in premium.json()[
        "error_description"]
    assert poll(gw, (client_id, secret), "nope").json()["error"] == "invalid_grant"


def test_the_ciba_sms_is_counted_by_the_sms_budget_of_the_number(start_gateway):
    gw = start_gateway(rate_limit_msisdn="1/10m")
    with gw.deps.uow() as uow:
        auth = clients.add_client(uow, gw.deps, "Shop", ["https://s.example/cb"])
        uow.commit()
    assert start(gw, auth).status_code == 200
    refused = start(gw, auth)
    # CIBA's authentication errors have no slow_down: the server denies, for now.
    assert refused.status_code == 403 and refused.json()["error"] == "access_denied"
    assert int(refused.headers["Retry-After"]) >= 1

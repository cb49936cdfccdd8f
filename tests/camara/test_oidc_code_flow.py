"""The CAMARA face over real HTTP on a real SQLite file: discovery, JWKS, the authorization
code flow with PKCE proved by an SMS-MO handed to the real inbound handler, the token
endpoint (client_secret_basic and _post) and Number Verification with its OpenAPI
document. The client side is Authlib's OAuth2Session (a client library, not the server's
code)."""
from __future__ import annotations

import hashlib
import re
import secrets
from html import unescape
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet
from openapi_schema_validator import OAS30Validator

from gateway.api.camara.openapi import DOCUMENT
from gateway.pipeline.inbound import store_inbound
from gateway.verification import clients
from modem.inbox import InboundSms

PHONE, OTHER = "+33612345678", "+33698765432"
REDIRECT = "http://127.0.0.1:9/cb"
SCOPE = "openid number-verification:verify number-verification:device-phone-number:read"


def phone_sends(gw, text, sender=PHONE):
    now = gw.clock.now()
    store_inbound(gw.deps, InboundSms(
        modem="modem0", recipient="+33700000001", sender=sender, text=text,
        smsc_timestamp=now, smsc=None, partial=False, received_at=now, _claim=None))


@pytest.fixture
def app_client(gateway):
    with gateway.deps.uow() as uow:
        client_id, secret = clients.add_client(uow, gateway.deps, "Shop", [REDIRECT])
        uow.commit()
    return gateway, client_id, secret


def authorize(gw, client_id, secret, **extra):
    session = OAuth2Session(client_id, secret, scope=SCOPE, redirect_uri=REDIRECT,
                            code_challenge_method="S256")
    verifier = secrets.token_urlsafe(48)
    url, state = session.create_authorization_url(gw.url + "/oauth2/authorize",
                                                  code_verifier=verifier, nonce="n-1", **extra)
    page = gw.http.get(url)
    assert page.status_code == 200, page.text
    [sms] = re.findall(r'href="(sms:[^"]*)"', page.text)
    [cont] = re.findall(r'id="continue" href="([^"]*)"', page.text)
    return session, verifier, state, unescape(sms), unescape(cont)


def code_flow(gw, client_id, secret, sender=PHONE):
    session, verifier, state, sms, cont = authorize(gw, client_id, secret)
    phone_sends(gw, unquote(sms.split("body=")[1]), sender)
    response = gw.http.get(gw.url + cont, allow_redirects=False)
    assert response.status_code == 302, response.text
    token = session.fetch_token(gw.url + "/oauth2/token",
                                authorization_response=response.headers["Location"],
                                code_verifier=verifier)
    return token


def check(response, path, method, status):
    """The response matches the OpenAPI document."""
    spec = DOCUMENT["paths"][path][method]["responses"][str(status)]
    schema = spec["content"]["application/json"]["schema"]
    name = schema["$ref"].rsplit("/", 1)[1]
    OAS30Validator(DOCUMENT["components"]["schemas"][name]).validate(response.json())
    assert response.status_code == status


def test_discovery_names_every_endpoint_and_the_jwks_serves_the_signing_key(gateway):
    config = gateway.get("/.well-known/openid-configuration").json()
    for field in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri",
                  "backchannel_authentication_endpoint", "scopes_supported",
                  "grant_types_supported"):
        assert field in config
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert config["jwks_uri"] == config["issuer"] + "/oauth2/jwks"  # from public_url
    keys = gateway.get("/oauth2/jwks").json()["keys"]
    assert keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256"


def test_the_page_holds_one_sms_link_to_the_modem_and_a_continue_link(app_client):
    gw, client_id, secret = app_client
    _session, _v, _state, sms, cont = authorize(gw, client_id, secret)
    assert sms.startswith("sms:+33700000001?body=")
    early = gw.http.get(gw.url + cont, allow_redirects=False)
    assert early.status_code == 409 and early.json()["code"] == "PROOF_PENDING"


def test_the_code_flow_with_pkce_proves_the_number_of_the_phone_that_sent_the_sms(app_client):
    gw, client_id, secret = app_client
    token = code_flow(gw, client_id, secret)
    assert token["token_type"].lower() == "bearer" and token["expires_in"] <= 300
    assert "refresh_token" not in token
    jwks = KeySet.import_key_set(gw.get("/oauth2/jwks").json())
    claims = jwt.decode(token["id_token"], jwks).claims
    assert claims["aud"] == [client_id] or claims["aud"] == client_id
    assert claims["nonce"] == "n-1" and PHONE not in claims["sub"] and "3361" not in claims["sub"]
    assert len(claims["sub"]) == 64
    second = code_flow(gw, client_id, secret)
    assert jwt.decode(second["id_token"], jwks).claims["sub"] == claims["sub"]  # stable

    bearer = {"Authorization": "Bearer " + token["access_token"], "x-correlator": "abc-1"}
    ok = gw.http.post(gw.url + "/number-verification/v2/verify", json={"phoneNumber": PHONE},
                      headers=bearer)
    check(ok, "/verify", "post", 200)
    assert ok.json() == {"devicePhoneNumberVerified": True}
    assert ok.headers["x-correlator"] == "abc-1"
    again = gw.http.post(gw.url + "/number-verification/v2/verify",
                         json={"phoneNumber": PHONE}, headers=bearer)
    check(again, "/verify", "post", 401)  # single use
    assert again.json()["code"] == "UNAUTHENTICATED"


def test_verify_answers_false_for_another_number_and_true_for_the_hash(app_client):
    gw, client_id, secret = app_client
    url = gw.url + "/number-verification/v2/verify"
    other = gw.http.post(url, json={"phoneNumber": OTHER}, headers={
        "Authorization": "Bearer " + code_flow(gw, client_id, secret)["access_token"]})
    assert other.json() == {"devicePhoneNumberVerified": False}
    hashed = hashlib.sha256(PHONE.encode()).hexdigest().upper()
    same = gw.http.post(url, json={"hashedPhoneNumber": hashed}, headers={
        "Authorization": "Bearer " + code_flow(gw, client_id, secret)["access_token"]})
    assert same.json() == {"devicePhoneNumberVerified": True}
    share = gw.http.get(gw.url + "/number-verification/v2/device-phone-number", headers={
        "Authorization": "Bearer " + code_flow(gw, client_id, secret)["access_token"]})
    check(share, "/device-phone-number", "get", 200)
    assert share.json() == {"devicePhoneNumber": PHONE}


@pytest.mark.parametrize("body", [None, {}, {"phoneNumber": PHONE, "hashedPhoneNumber": "a" * 64},
                                  {"phoneNumber": "0612345678"}, {"hashedPhoneNumber": "xyz"},
                                  {"phoneNumber": 33612345678}])
def test_a_bad_verify_body_is_invalid_argument(app_client, body):
    gw, client_id, secret = app_client
    headers = {"Authorization": "Bearer " + code_flow(gw, client_id, secret)["access_token"]}
    response = gw.http.post(gw.url + "/number-verification/v2/verify", json=body,
                            headers=headers)
    check(response, "/verify", "post", 400)
    assert response.json()["code"] == "INVALID_ARGUMENT"


def test_no_token_or_a_bad_one_is_unauthenticated(gateway):
    url = gateway.url + "/number-verification/v2/verify"
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
        response = gateway.http.post(url, json={"phoneNumber": PHONE}, headers=headers)
        check(response, "/verify", "post", 401)


def test_the_token_endpoint_refuses_a_wrong_verifier_and_a_wrong_secret(app_client):
    gw, client_id, secret = app_client
    session, verifier, state, sms, cont = authorize(gw, client_id, secret)
    phone_sends(gw, unquote(sms.split("body=")[1]))
    location = gw.http.get(gw.url + cont, allow_redirects=False).headers["Location"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    wrong = gw.http.post(gw.url + "/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": "x" * 50, "client_id": client_id, "client_secret": secret})
    assert wrong.status_code == 400 and wrong.json()["error"] in ("invalid_grant", "invalid_request")
    bad_secret = gw.http.post(gw.url + "/oauth2/token", auth=(client_id, "nope"), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": verifier})
    assert bad_secret.status_code == 401 and bad_secret.json()["error"] == "invalid_client"


def test_the_openapi_document_is_served(gateway):
    assert gateway.get("/number-verification/v2/openapi.json").json() == DOCUMENT


def test_the_page_speaks_the_language_of_the_device(app_client):
    gw, client_id, secret = app_client
    session = OAuth2Session(client_id, secret, scope=SCOPE, redirect_uri=REDIRECT,
                            code_challenge_method="S256")
    url, _ = session.create_authorization_url(gw.url + "/oauth2/authorize",
                                              code_verifier="v" * 50)
    page = gw.http.get(url, headers={"Accept-Language": "fr-CA, en;q=0.5"})
    assert '<html lang="fr">' in page.text and "Envoyer le SMS de vérification" in page.text
    status = re.search(r'fetch\("([^"]+)"\)', page.text).group(1)
    assert gw.get(status).json() == {"status": "pending", "message": "En attente de votre SMS…"}


def test_with_a_login_hint_an_sms_from_another_number_is_refused_and_says_so(app_client):
    gw, client_id, secret = app_client
    session, verifier, state, sms, cont = authorize(gw, client_id, secret,
                                                    login_hint=f"tel:{PHONE}")
    phone_sends(gw, unquote(sms.split("body=")[1]), sender=OTHER)
    refused = gw.http.get(gw.url + cont, allow_redirects=False)
    assert refused.status_code == 409 and refused.json()["code"] == "PROOF_REFUSED"
    assert "another number" in refused.json()["message"]
    phone_sends(gw, unquote(sms.split("body=")[1]) + " ", sender=PHONE)  # the right phone
    assert gw.http.get(gw.url + cont, allow_redirects=False).status_code == 302


def test_bad_authorization_requests_get_json_errors_never_a_500(app_client):
    gw, client_id, secret = app_client
    base = gw.url + "/oauth2/authorize"
    good = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
            "scope": SCOPE, "code_challenge": "x" * 43, "code_challenge_method": "S256"}
    for change in ({"client_id": "gw_unknown"}, {"redirect_uri": "https://evil.example/"},
                   {"login_hint": "tel:12"}, {"client_id": None}):
        params = {k: v for k, v in {**good, **change}.items() if v is not None}
        response = gw.http.get(base, params=params, allow_redirects=False)
        assert response.status_code in (400, 401), response.text
        assert response.headers["Content-Type"] == "application/json"
        assert "error" in response.json()
    no_pkce = {k: v for k, v in good.items() if not k.startswith("code_challenge")}
    missing = gw.http.get(base, params=no_pkce, allow_redirects=False)
    assert missing.status_code == 302 and "error=invalid_request" in missing.headers["Location"]
    plain = gw.http.get(base, params={**good, "code_challenge_method": "plain"},
                        allow_redirects=False)
    assert plain.status_code == 302 and "error=invalid_request" in plain.headers["Location"]
    silent = gw.http.get(base, params={**good, "prompt": "none"}, allow_redirects=False)
    assert silent.status_code == 302 and "error=login_required" in silent.headers["Location"]
    assert gw.get("/oauth2/authorize/continue", params={"proof": "NV-x"}).status_code == 404


def test_a_code_is_single_use_and_a_missing_scope_is_permission_denied(app_client):
    gw, client_id, secret = app_client
    session = OAuth2Session(client_id, secret, scope="openid number-verification:verify",
                            redirect_uri=REDIRECT, code_challenge_method="S256")
    verifier = "w" * 50
    url, _ = session.create_authorization_url(gw.url + "/oauth2/authorize",
                                              code_verifier=verifier)
    page = gw.http.get(url).text
    sms = unescape(re.findall(r'href="(sms:[^"]*)"', page)[0])
    phone_sends(gw, unquote(sms.split("body=")[1]))
    cont = unescape(re.findall(r'id="continue" href="([^"]*)"', page)[0])
    location = gw.http.get(gw.url + cont, allow_redirects=False).headers["Location"]
    token = session.fetch_token(gw.url + "/oauth2/token", authorization_response=location,
                                code_verifier=verifier)
    code = parse_qs(urlsplit(location).query)["code"][0]
    again = gw.http.post(gw.url + "/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": verifier, "client_id": client_id, "client_secret": secret})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    denied = gw.http.get(gw.url + "/number-verification/v2/device-phone-number", headers={
        "Authorization": "Bearer " + token["access_token"], "x-correlator": "z-9"})
    check(denied, "/device-phone-number", "get", 403)
    assert denied.json()["code"] == "PERMISSION_DENIED" and denied.headers["x-correlator"] == "z-9"
    # The 403 did not burn the token: the scope it holds still works, once.
    ok = gw.http.post(gw.url + "/number-verification/v2/verify", json={"phoneNumber": PHONE},
                      headers={"Authorization": "Bearer " + token["access_token"]})
    assert ok.json() == {"devicePhoneNumberVerified": True}


def test_the_database_keeps_no_number_token_or_secret_in_clear(app_client):
    gw, client_id, secret = app_client
    token = code_flow(gw, client_id, secret)
    raw = b"".join(path.read_bytes() for path in gw.settings.state_dir.glob("*.sqlite3*"))
    for value in (PHONE, PHONE[1:], secret, token["access_token"]):
        assert value.encode() not in raw, value


def test_pending_proofs_of_one_client_address_are_limited(app_client):
    gw, client_id, secret = app_client
    session = OAuth2Session(client_id, secret, scope=SCOPE, redirect_uri=REDIRECT,
                            code_challenge_method="S256")
    url, _ = session.create_authorization_url(gw.url + "/oauth2/authorize",
                                              code_verifier="v" * 50)
    for _ in range(5):
        assert gw.http.get(url).status_code == 200
    refused = gw.http.get(url)
    assert refused.status_code == 429 and refused.json()["error"] == "temporarily_unavailable"
    assert int(refused.headers["Retry-After"]) >= 1
    gw.clock.advance(301)  # expired proofs are no longer pending
    assert gw.http.get(url).status_code == 200


def test_every_schema_of_the_openapi_document_is_a_valid_schema(gateway):
    for name, schema in DOCUMENT["components"]["schemas"].items():
        OAS30Validator.check_schema(schema)
    for path, operations in DOCUMENT["paths"].items():
        for operation in operations.values():
            for response in operation["responses"].values():
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref.rsplit("/", 1)[1] in DOCUMENT["components"]["schemas"]


def test_sub_differs_between_clients_for_the_same_number(app_client):
    gw, client_id, secret = app_client
    with gw.deps.uow() as uow:
        other_id, other_secret = clients.add_client(uow, gw.deps, "Other", [REDIRECT])
        uow.commit()
    jwks = KeySet.import_key_set(gw.get("/oauth2/jwks").json())
    first = jwt.decode(code_flow(gw, client_id, secret)["id_token"], jwks).claims
    second = jwt.decode(code_flow(gw, other_id, other_secret)["id_token"], jwks).claims
    assert first["sub"] != second["sub"] and second["aud"] in (other_id, [other_id])

"""What a stranger can and cannot do to the CAMARA face, over real HTTP on a real SQLite
file (only time is fake): learn nothing of a number's CIBA request from the authorization
page's status and continue links, not lock a client out of CIBA by opening pages, not use a
proof, a code or a token twice; the page keeps its token out of caches, frames and Referer
headers; and a backend exempt from the per-client limit is served like any other."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from authlib.integrations.requests_client import OAuth2Session

from gateway.verification import clients

from test_ciba import poll, reply
from test_ciba import start as start_ciba
from test_oidc_code_flow import (PHONE, REDIRECT, SCOPE, authorize, code_flow,
                                 phone_sends)

OTHER_PHONE = "+33698765432"


def add_client(gw, name="Shop"):
    with gw.deps.uow() as uow:
        client_id, secret = clients.add_client(uow, gw.deps, name, [REDIRECT])
        uow.commit()
    return client_id, secret


@pytest.fixture
def shop(gateway):
    return (gateway, *add_client(gateway))


def authorize_url(gw, client_id, secret):
    session = OAuth2Session(client_id, secret, scope=SCOPE, redirect_uri=REDIRECT,
                            code_challenge_method="S256")
    url, _state = session.create_authorization_url(gw.url + "/oauth2/authorize",
                                                   code_verifier="v" * 50)
    return url


def test_the_page_s_status_and_continue_links_tell_nothing_of_a_ciba_request(shop):
    gw, client_id, secret = shop
    assert start_ciba(gw, (client_id, secret)).status_code == 200
    [code] = re.findall(r'Reply "OK (\d{4})"', gw.last_sms_to(PHONE))
    wrong = f"{(int(code) + 1) % 10000:04d}"
    unknown = gw.get("/oauth2/authorize/status", params={"proof": f"CIBA:{PHONE}:{wrong}"})
    assert unknown.status_code == 404
    for _ in range(2):  # pending, then proven: always what an unknown token gets
        ciba_token = f"CIBA:{PHONE}:{code}"
        status = gw.get("/oauth2/authorize/status", params={"proof": ciba_token})
        assert (status.status_code, status.json()) == (404, unknown.json())
        cont = gw.get("/oauth2/authorize/continue", params={"proof": ciba_token},
                      allow_redirects=False)
        assert (cont.status_code, cont.json()["code"]) == (404, "NOT_FOUND")
        reply(gw, f"OK {code}")


def test_opening_pages_from_many_addresses_cannot_lock_the_client_out_of_ciba(start_gateway):
    """Each anonymous page makes a pending proof (5 per address, an IPv6 /64 being one):
    from 40 /64s, the client's whole page budget. Its backend's CIBA requests have a
    budget of their own; the pages stay bounded."""
    gw = start_gateway(trusted_proxies=["127.0.0.1/32"])
    client_id, secret = add_client(gw)
    url = authorize_url(gw, client_id, secret)
    for net in range(40):
        for host in range(5):
            page = gw.http.get(url, headers={"X-Forwarded-For": f"2001:db8:{net:x}::{host + 1}"})
            assert page.status_code == 200, page.text
    one_more = gw.http.get(url, headers={"X-Forwarded-For": "2001:db8:ffff::1"})
    assert one_more.status_code == 429
    assert one_more.json()["error_description"] == "too many pending proofs for this client"

    started = start_ciba(gw, (client_id, secret))
    assert started.status_code == 200, started.text
    assert "Shop asks to confirm" in gw.last_sms_to(PHONE)


def test_one_proof_gives_one_token_and_the_token_one_answer(shop):
    gw, client_id, secret = shop
    session, verifier, _state, sms, cont = authorize(gw, client_id, secret)
    phone_sends(gw, unquote(sms.split("body=")[1]))
    codes = []
    for _ in range(2):  # the page followed twice: two codes for the one proof
        location = gw.http.get(gw.url + cont, allow_redirects=False).headers["Location"]
        codes.append(parse_qs(urlsplit(location).query)["code"][0])
    redeemed = [gw.http.post(gw.url + "/oauth2/token", auth=(client_id, secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": verifier}) for code in codes]
    assert [r.status_code for r in redeemed] == [200, 400]
    assert redeemed[1].json()["error"] == "invalid_grant"
    bearer = {"Authorization": "Bearer " + redeemed[0].json()["access_token"]}
    answers = [gw.http.post(gw.url + "/number-verification/v2/verify",
                            json={"phoneNumber": PHONE}, headers=bearer) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 401]
    assert answers[1].json()["code"] == "UNAUTHENTICATED"


def test_a_backend_exempt_from_the_client_limit_runs_every_flow(start_gateway):
    """For an exempt client the request's first statement is the client's lookup: it must
    not begin a transaction that then refuses the view's writes (a 500)."""
    gw = start_gateway(rate_limit_exempt_networks=["127.0.0.1/32"])
    client_id, secret = add_client(gw)
    token = code_flow(gw, client_id, secret)
    verified = gw.http.post(gw.url + "/number-verification/v2/verify",
                            json={"phoneNumber": PHONE},
                            headers={"Authorization": "Bearer " + token["access_token"]})
    assert verified.json() == {"devicePhoneNumberVerified": True}

    started = start_ciba(gw, (client_id, secret), hint=f"tel:{OTHER_PHONE}")
    assert started.status_code == 200, started.text
    auth_req_id = started.json()["auth_req_id"]
    assert poll(gw, (client_id, secret), auth_req_id).json()["error"] == \
        "authorization_pending"
    [code] = re.findall(r'Reply "OK (\d{4})"', gw.last_sms_to(OTHER_PHONE))
    reply(gw, f"OK {code}", sender=OTHER_PHONE)
    gw.clock.advance(5)
    tokens = poll(gw, (client_id, secret), auth_req_id)
    assert tokens.status_code == 200, tokens.text


def test_the_page_and_its_status_are_kept_out_of_caches_frames_and_referers(shop):
    gw, client_id, secret = shop
    page = gw.http.get(authorize_url(gw, client_id, secret))
    headers = page.headers
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    policy = dict(part.strip().split(" ", 1)
                  for part in headers["Content-Security-Policy"].split(";"))
    assert policy["frame-ancestors"] == "'none'" and policy["default-src"] == "'none'"
    # Its one inline script may still run: it carries the policy's nonce.
    nonce = re.fullmatch(r"'nonce-([\w-]+)'", policy["script-src"]).group(1)
    assert page.text.count("<script") == page.text.count(f'<script nonce="{nonce}">') == 1
    assert policy["connect-src"] == "'self'"  # the status polls
    status = gw.get(re.search(r'fetch\("([^"]+)"\)', page.text).group(1))
    assert status.json()["status"] == "pending"
    assert (status.headers["Cache-Control"], status.headers["Referrer-Policy"]) == \
        ("no-store", "no-referrer")
    second = gw.http.get(authorize_url(gw, client_id, secret))
    assert second.headers["Content-Security-Policy"] != headers["Content-Security-Policy"]

"""Number Verification end to end over `serve --simulate`: an app registered with
`msisdn-gateway clients add`, Authlib's OAuth2Session (the client library, not the
server's code) running the code flow with PKCE while a virtual phone sends the SMS
through /__sim__, and CIBA with the phone replying to the SMS it received."""
import hashlib
import json
import re
import secrets
import subprocess
from html import unescape
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session

from processes import SCRIPT, clean_environment, eventually, start_serve, stop

PHONE, OTHER = "+33612345601", "+33612345602"
REDIRECT = "http://127.0.0.1:9/callback"
SCOPE = "openid number-verification:verify number-verification:device-phone-number:read"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    state = tmp_path_factory.mktemp("state")
    process, url = start_serve(state, "--simulate")
    added = subprocess.run(
        [str(SCRIPT), "clients", "add", "Shop", "--redirect-uri", REDIRECT, "--json",
         "--state-dir", str(state)], capture_output=True, text=True, check=True,
        env=clean_environment())
    client = json.loads(added.stdout)
    yield url, client["client_id"], client["client_secret"]
    stop(process)


def phone_sends(url, phone, to, text):
    response = requests.post(f"{url}/__sim__/phones/{phone}/messages",
                             json={"to": to, "text": text})
    assert response.status_code in (200, 202, 204), response.text


def code_flow(url, client_id, secret, phone=PHONE):
    session = OAuth2Session(client_id, secret, scope=SCOPE, redirect_uri=REDIRECT,
                            code_challenge_method="S256")
    verifier = secrets.token_urlsafe(48)
    auth_url, _state = session.create_authorization_url(
        url + "/oauth2/authorize", code_verifier=verifier, nonce=secrets.token_hex(8))
    page = requests.get(auth_url)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    [sms] = re.findall(r'href="(sms:[^"]*)"', page.text)
    [cont] = re.findall(r'id="continue" href="([^"]*)"', page.text)
    to, body = unescape(sms)[4:].split("?body=")
    assert requests.get(url + unescape(cont), allow_redirects=False).status_code == 409
    phone_sends(url, phone, to, unquote(body))
    status = re.search(r'fetch\("([^"]+)"\)', page.text).group(1)
    eventually(lambda: requests.get(url + status).json()["status"] == "proven")
    redirect = requests.get(url + unescape(cont), allow_redirects=False)
    assert redirect.status_code == 302
    assert parse_qs(urlsplit(redirect.headers["Location"]).query)["state"] == [_state]
    return session.fetch_token(url + "/oauth2/token", code_verifier=verifier,
                               authorization_response=redirect.headers["Location"])


def verify(url, token, body, **headers):
    return requests.post(url + "/number-verification/v2/verify", json=body,
                         headers={"Authorization": f"Bearer {token}", **headers})


def test_the_code_flow_proves_the_number_of_the_phone_that_sent_the_sms(served):
    url, client_id, secret = served
    token = code_flow(url, client_id, secret)
    assert token["expires_in"] <= 300 and "refresh_token" not in token
    ok = verify(url, token["access_token"], {"phoneNumber": PHONE}, **{"x-correlator": "c-1"})
    assert ok.json() == {"devicePhoneNumberVerified": True}
    assert ok.headers["x-correlator"] == "c-1"
    assert verify(url, token["access_token"], {"phoneNumber": PHONE}).json()["code"] == \
        "UNAUTHENTICATED"  # single use
    other = code_flow(url, client_id, secret)["access_token"]
    assert verify(url, other, {"phoneNumber": OTHER}).json() == {
        "devicePhoneNumberVerified": False}
    hashed = hashlib.sha256(PHONE.encode()).hexdigest()
    assert verify(url, code_flow(url, client_id, secret)["access_token"],
                  {"hashedPhoneNumber": hashed}).json() == {"devicePhoneNumberVerified": True}
    share = requests.get(url + "/number-verification/v2/device-phone-number", headers={
        "Authorization": "Bearer " + code_flow(url, client_id, secret)["access_token"]})
    assert share.json() == {"devicePhoneNumber": PHONE}


def test_each_error_code_in_the_camara_shape(served):
    url, client_id, secret = served
    assert verify(url, "nope", {"phoneNumber": PHONE}).json() == {
        "status": 401, "code": "UNAUTHENTICATED",
        "message": "Request not authenticated due to missing, invalid, or expired credentials."}
    bad = verify(url, code_flow(url, client_id, secret)["access_token"], {})
    assert (bad.status_code, bad.json()["code"]) == (400, "INVALID_ARGUMENT")
    session = OAuth2Session(client_id, secret, scope="openid number-verification:verify",
                            redirect_uri=REDIRECT, code_challenge_method="S256")
    verifier = secrets.token_urlsafe(48)
    auth_url, _ = session.create_authorization_url(url + "/oauth2/authorize",
                                                   code_verifier=verifier)
    page = requests.get(auth_url).text
    to, body = unescape(re.findall(r'href="(sms:[^"]*)"', page)[0])[4:].split("?body=")
    phone_sends(url, PHONE, to, unquote(body))
    cont = unescape(re.findall(r'id="continue" href="([^"]*)"', page)[0])
    location = eventually(lambda: requests.get(url + cont, allow_redirects=False)
                          .headers.get("Location"))
    token = session.fetch_token(url + "/oauth2/token", code_verifier=verifier,
                                authorization_response=location)["access_token"]
    denied = requests.get(url + "/number-verification/v2/device-phone-number",
                          headers={"Authorization": f"Bearer {token}"})
    assert (denied.status_code, denied.json()["code"]) == (403, "PERMISSION_DENIED")


def test_ciba_with_the_phone_replying_to_the_sms(served):
    url, client_id, secret = served
    phone = "+33612345603"
    started = requests.post(url + "/oauth2/bc-authorize", auth=(client_id, secret),
                            data={"login_hint": f"tel:{phone}", "scope": SCOPE}).json()
    poll = {"grant_type": "urn:openid:params:grant-type:ciba",
            "auth_req_id": started["auth_req_id"]}
    pending = requests.post(url + "/oauth2/token", auth=(client_id, secret), data=poll)
    assert pending.json()["error"] == "authorization_pending"
    inbox = eventually(lambda: requests.get(f"{url}/__sim__/phones/{phone}/messages").json())
    [code] = re.findall(r'Reply "OK (\d{4})"', inbox[0]["text"])
    phone_sends(url, phone, inbox[0]["from"], f"OK {code}")

    def token():
        answer = requests.post(url + "/oauth2/token", auth=(client_id, secret), data=poll)
        return answer.json() if answer.status_code == 200 else None

    tokens = eventually(token, timeout=30, interval=started["interval"])
    assert verify(url, tokens["access_token"], {"phoneNumber": phone}).json() == {
        "devicePhoneNumberVerified": True}

"""A TextSecure client (tests/textsecure_client.py, written from the seed) against the
whole product as `make run` starts it (`serve --simulate`): the code reaches the virtual
phone through the outbox, the worker, the simulated modem and the virtual network, and is
read back through /__sim__; then confirm, push id, prekeys, directory, and every error
status of the seed."""
import base64

import pytest
import requests

from processes import eventually, start_serve, stop
from textsecure_client import TextSecureClient, code_of, contact_token

ALICE, BOB, CAROL = "+33612345101", "+33612345102", "+33612345103"
LIMITS = {"MSISDN_GATEWAY_TEXTSECURE_DIRECTORY_DAILY_LIMIT": "6",
          "MSISDN_GATEWAY_RATE_LIMIT_TEXTSECURE_PREKEYS": "4/1h"}


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory):
    process, url = start_serve(tmp_path_factory.mktemp("state"), "--simulate", env=LIMITS)
    yield url
    stop(process)


def inbox(url, phone):
    return requests.get(f"{url}/__sim__/phones/{phone}/messages").json()


def received_code(url, phone, count=1):
    """The code of the ``count``-th SMS the virtual phone received, once it arrived."""
    messages = eventually(lambda: len(inbox(url, phone)) >= count and inbox(url, phone))
    return code_of(messages[count - 1]["text"])


def status(response, expected):
    assert response.status_code == expected, response.text
    if expected >= 400:
        assert response.json()["code"] == expected
    return response


def register(url, number, **confirm):
    phone = TextSecureClient(url, number)
    status(phone.request_code(headers={"Accept-Language": "de"}), 200)
    status(phone.confirm(received_code(url, number), **confirm), 200)
    return phone


def test_registration_prekeys_and_directory_end_to_end(gateway_url):
    alice = TextSecureClient(gateway_url, ALICE)
    status(alice.request_code(), 200)
    [sms] = eventually(lambda: inbox(gateway_url, ALICE))
    assert sms["text"].startswith("Your TextSecure verification code: ")
    code = code_of(sms["text"])
    wrong = f"{(int(code.replace('-', '')) + 1) % 10**6:06d}"
    status(alice.confirm(wrong), 403)
    status(alice.confirm(code, auth=(ALICE, "")), 401)
    status(alice.confirm(code, auth=(BOB, alice.password)), 401)
    status(alice.confirm(code, json={"signalingKey": "AAAA"}), 415)
    status(alice.confirm(code, supports_sms=True), 200)

    status(alice.register_push("gcm", "APA91b-alice"), 200)
    status(alice.register_push("apn", "a" * 64), 200)
    status(alice.unregister_push("apn"), 200)
    status(alice.register_push("gcm", "x", auth=(ALICE, "not her password")), 401)
    status(alice.register_push("gcm", "x", json={"gcmRegistrationId": 7}), 415)
    status(alice.register_prekeys(count=2), 200)
    status(alice.register_prekeys(json={"lastResortKey": alice.prekey(1), "keys": []}), 415)
    status(alice.register_prekeys(count=2), 200)  # replaces the keys

    bob = register(gateway_url, BOB)
    assert [status(bob.fetch_prekey(ALICE), 200).json() for _ in range(3)] == [
        *alice.prekeys, alice.last_resort_key]
    status(bob.fetch_prekey(CAROL), 404)  # the 4th fetch: a miss counts too
    status(bob.fetch_prekey("not-a-number"), 400)
    status(bob.fetch_prekey(ALICE), 413)  # 4 fetches an hour
    status(bob.fetch_prekey(ALICE, auth=(BOB, "wrong")), 401)

    found = status(bob.contacts([ALICE, CAROL, BOB]), 200).json()["contacts"]
    assert sorted(found, key=lambda c: c["token"]) == sorted(
        [{"token": contact_token(ALICE), "relay": None, "supportsSms": True},
         {"token": contact_token(BOB), "relay": None, "supportsSms": False}],
        key=lambda c: c["token"])
    assert status(bob.contact(ALICE), 200).json()["token"] == contact_token(ALICE)
    status(bob.contact(CAROL), 404)
    status(bob.contacts([], json={"contacts": ["!"]}), 400)
    response = status(bob.contacts([f"+3361234{n:04d}" for n in range(2)]), 413)  # 6 a day
    assert int(response.headers["Retry-After"]) <= 86400


def test_code_request_errors(gateway_url):
    carol = TextSecureClient(gateway_url, CAROL)
    status(carol.request_code("voice"), 415)
    status(carol.request_code("fax"), 415)
    status(carol.request_code(number="12345"), 400)
    status(carol.request_code(number="+12025550123"), 400)  # not a country of the modems
    assert [carol.request_code().status_code for _ in range(3)] == [200, 200, 200]
    response = status(carol.request_code(), 413)  # 3 per number in 10 minutes
    assert int(response.headers["Retry-After"]) >= 1
    status(carol.confirm(received_code(gateway_url, CAROL, 3)), 200)


def test_relay_answers_501_and_bad_credentials_401(gateway_url):
    response = requests.put(f"{gateway_url}/v1/messages/{BOB}", json={"messages": []})
    assert status(response, 501).json()["message"]
    for path in ("/v1/messages/", "/v1/attachments/", "/v1/attachments/7"):
        status(requests.request("PUT" if "messages" in path else "GET", gateway_url + path,
                                allow_redirects=False), 501)
    garbage = {"Authorization": "Basic " + base64.b64encode(b"+33612345101").decode()}
    status(requests.put(f"{gateway_url}/v1/keys/", headers=garbage, json={}), 401)

"""Interoperability with clients of the reference implementation, over real HTTP:
discover with ``mcc`` alone, and Hawk-signed requests without a body and without a payload
hash (what the spec's curl examples and requests-hawk send); a body still needs its hash.
Also: a database that cannot be written is the JSON 503, not a 500."""
from __future__ import annotations

import base64
import hashlib
import sqlite3

import requests
from mohawk import Sender
from requests_hawk import HawkAuth

from conftest import assert_error
from gateway.storage import db

UNREGISTER = "/v1/msisdn/unregister"


def bodyless_auth(gw, token: str) -> HawkAuth:
    """requests-hawk as a client of the reference uses it for a request without a body."""
    return HawkAuth(hawk_session=token, server_url=gw.url, always_hash_content=False,
                    _timestamp=int(gw.clock.now().timestamp()))


def test_discover_accepts_mcc_without_mnc_and_ranks_modems_by_country(start_gateway):
    gw = start_gateway(modems=0)
    gw.publish_modem("abroad", number="+4915100000001", mcc="262", mnc="01")
    gw.publish_modem("home", number="+33700000002", mcc="208", mnc="10")
    body = gw.post("/v1/msisdn/discover", {"mcc": "208"}).json()
    assert body["verificationMethods"] == ["sms/momt", "sms/mt"]
    assert body["verificationDetails"]["sms/momt"]["moVerifier"] == "+33700000002"
    assert body["verificationDetails"]["sms/mt"]["mtSender"] == "+33700000002"


def test_without_mnc_only_a_whole_country_in_mt_networks_offers_sms_mt(start_gateway):
    network_only = start_gateway(mt_networks="20801")
    assert network_only.post("/v1/msisdn/discover", {"mcc": "208"}).json()[
        "verificationMethods"] == ["sms/momt"]
    country = start_gateway(mt_networks="208")
    assert country.post("/v1/msisdn/discover", {"mcc": "208"}).json()[
        "verificationMethods"] == ["sms/momt", "sms/mt"]


def test_a_malformed_mnc_is_still_refused(gateway):
    assert_error(gateway.post("/v1/msisdn/discover", {"mcc": "208", "mnc": "1"}), 400, 107)
    assert_error(gateway.post("/v1/msisdn/discover", {"mcc": "208", "mnc": 1}), 400, 107)


def test_a_bodyless_signed_request_with_a_json_content_type_and_no_hash_is_accepted(gateway):
    token = gateway.register()
    response = gateway.http.post(gateway.url + UNREGISTER, auth=bodyless_auth(gateway, token),
                                 headers={"Content-Type": "application/json"})
    assert "hash=" not in response.request.headers["Authorization"]
    assert response.request.body is None
    assert response.status_code == 204, response.text


def test_a_bodyless_resend_code_from_requests_hawk_is_authenticated(gateway):
    token = gateway.register()
    response = gateway.http.post(gateway.url + "/v1/msisdn/sms/resend_code",
                                 auth=bodyless_auth(gateway, token),
                                 headers={"Content-Type": "application/json"})
    assert_error(response, 400, 107)  # authenticated: nothing to resend yet


def signed_without_body(gw, token: str, payload_hash: str | None) -> requests.Response:
    credentials = gw.auth(token).credentials
    sender = Sender(credentials, gw.url + UNREGISTER, "POST", always_hash_content=False,
                    _timestamp=int(gw.clock.now().timestamp()))
    header = sender.request_header
    if payload_hash is not None:  # sign again, with the hash in the MAC
        sender = Sender(credentials, gw.url + UNREGISTER, "POST", content=b"",
                        content_type="application/json", always_hash_content=True,
                        _timestamp=int(gw.clock.now().timestamp()))
        header = sender.request_header
        if payload_hash != "valid":
            header = header.replace(sender.req_resource.gen_content_hash().decode(),
                                    payload_hash)
    return gw.http.post(gw.url + UNREGISTER, data=b"",
                        headers={"Authorization": header, "Content-Type": "application/json"})


def test_a_hash_given_for_an_empty_body_is_checked(gateway):
    assert signed_without_body(gateway, gateway.register(), "valid").status_code == 204
    wrong = base64.b64encode(hashlib.sha256(b"something else").digest()).decode()
    assert_error(signed_without_body(gateway, gateway.register(), wrong), 401, 109)


def test_a_present_body_without_its_payload_hash_is_still_refused(gateway):
    token = gateway.register()
    url = gateway.url + "/v1/msisdn/sms/verify_code"
    unhashed = Sender(gateway.auth(token).credentials, url, "POST", always_hash_content=False,
                      _timestamp=int(gateway.clock.now().timestamp())).request_header
    assert "hash=" not in unhashed
    response = gateway.http.post(url, data=b'{"code": "123456"}', headers={
        "Authorization": unhashed, "Content-Type": "application/json"})
    body = assert_error(response, 401, 109)
    assert "payload hash" in body["message"]
    tampered = gateway.http.prepare_request(requests.Request(
        "POST", url, json={"code": "123456"}, auth=gateway.auth(token)))
    tampered.body = b'{"code": "654321"}'
    assert_error(gateway.http.send(tampered), 401, 109)


def test_a_locked_database_is_the_json_503_with_retry_after(gateway, monkeypatch):
    monkeypatch.setattr(db, "WRITE_LOCK_TIMEOUT", 0.05)  # not 10 s
    holder = sqlite3.connect(gateway.engine.url.database, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        assert_error(gateway.post("/v1/msisdn/register"), 503, 201)
        holder.execute("ROLLBACK")
        assert gateway.post("/v1/msisdn/register").status_code == 200
    finally:
        holder.close()

"""Hawk: payload hashes, nonces shared by every worker, skew, public URL behind a proxy."""
import requests
from mohawk import Sender

from conftest import assert_error

UNREGISTER = "/v1/msisdn/unregister"


def test_a_replayed_request_is_refused(gateway):
    token = gateway.register()
    request = gateway.http.prepare_request(requests.Request(
        "POST", gateway.url + "/v1/msisdn/discover", json={"mcc": "208", "mnc": "01"}))
    signed = gateway.http.prepare_request(requests.Request(
        "POST", gateway.url + "/v1/msisdn/sms/resend_code", json={}, auth=gateway.auth(token)))
    first = gateway.http.send(signed)
    assert_error(first, 400, 107)  # authenticated: nothing to resend yet
    assert_error(gateway.http.send(signed), 401, 109)
    assert gateway.http.send(request).status_code == 200  # unsigned endpoints unaffected


def test_nonces_are_shared_by_api_workers_through_the_database(start_gateway, tmp_path):
    url = f"sqlite:///{tmp_path}/shared.sqlite3"
    first, second = start_gateway(database_url=url), start_gateway(database_url=url)
    token = first.register()
    auth = first.auth(token, server_url="http://127.0.0.1:1")
    signed = first.http.prepare_request(requests.Request(
        "POST", "http://127.0.0.1:1/v1/msisdn/sms/resend_code", json={}, auth=auth))
    responses = []
    for gw in (first, second):  # the same signed request sent to two workers
        signed.url = gw.url + "/v1/msisdn/sms/resend_code"
        signed.headers["Host"] = "127.0.0.1:1"
        responses.append(gw.http.send(signed))
    assert_error(responses[0], 400, 107)
    assert_error(responses[1], 401, 109)


def test_a_stale_timestamp_is_refused_with_the_servers_time(gateway):
    token = gateway.register()
    now = int(gateway.clock.now().timestamp())
    response = gateway.http.post(gateway.url + UNREGISTER, json={},
                                 auth=gateway.auth(token, _timestamp=now - 61))
    assert_error(response, 401, 109)
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Hawk ") and f'ts="{now}"' in challenge and 'tsm="' in challenge
    ok = gateway.http.post(gateway.url + UNREGISTER, json={},
                           auth=gateway.auth(token, _timestamp=now - 59))
    assert ok.status_code == 204


def test_a_body_without_a_payload_hash_is_refused(gateway):
    token = gateway.register()
    credentials = gateway.auth(token).credentials
    body = b'{"code": "123456"}'
    sender = Sender(credentials, gateway.url + "/v1/msisdn/sms/verify_code", "POST",
                    always_hash_content=False, _timestamp=int(gateway.clock.now().timestamp()))
    assert "hash=" not in sender.request_header
    response = gateway.http.post(gateway.url + "/v1/msisdn/sms/verify_code", data=body,
                                 headers={"Authorization": sender.request_header,
                                          "Content-Type": "application/json"})
    assert_error(response, 401, 109)


def test_garbage_authorization_headers_are_401_not_500(gateway):
    for header in ("Hawk", "Basic Zm9vOmJhcg==", 'Hawk id="x", ts="nope", nonce="n", mac="m"',
                   'Hawk id="' + "a" * 64 + '", ts="1", nonce="n", mac="m"', "Hawk \x01"):
        response = gateway.http.post(gateway.url + UNREGISTER, json={},
                                     headers={"Authorization": header})
        assert response.status_code == 401, (header, response.text)
        assert response.json()["errno"] in (109, 110)


def via_proxy(gw, token, client_url):
    """What a TLS proxy delivers: the client signed for ``client_url``; we receive it."""
    signed = gw.http.prepare_request(requests.Request(
        "POST", client_url + UNREGISTER, json={}, auth=gw.auth(token, server_url=client_url)))
    signed.url = gw.url + UNREGISTER
    return gw.http.send(signed)


def test_behind_a_tls_proxy_signatures_are_checked_against_the_public_url(start_gateway):
    gw = start_gateway(public_url="https://verify.example.org")
    response = via_proxy(gw, gw.register(), "https://verify.example.org")
    assert response.status_code == 204, response.text
    assert_error(via_proxy(gw, gw.register(), "https://verify.example.org:8443"), 401, 109)
    assert_error(via_proxy(gw, gw.register(), gw.url), 401, 109)


def test_the_server_stores_a_keyed_hash_of_the_hawk_id_not_the_id(gateway):
    from requests_hawk import HawkAuth
    from sqlalchemy import select

    from gateway.storage.models import VerificationSession

    token = gateway.register()
    hawk_id = HawkAuth(hawk_session=token).credentials["id"].decode()
    with gateway.deps.uow() as uow:
        [row] = uow.db.scalars(select(VerificationSession)).all()
    assert row.hawk_id_digest != hawk_id
    assert row.hawk_id_digest == gateway.deps.secret.digest("hawk-id", hawk_id)

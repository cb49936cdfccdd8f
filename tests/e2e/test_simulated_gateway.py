"""The whole product as `make run` starts it (`serve --simulate`), driven over HTTP with
requests-hawk: codes reach virtual phones through the worker, the simulated modems and
the virtual network, and are read back through /__sim__."""
import re

import pytest
import requests
from requests_hawk import HawkAuth

from processes import eventually, start_serve, stop

PHONE = "+33612345678"
MODEM = "+33700000001"


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory):
    process, url = start_serve(tmp_path_factory.mktemp("state"), "--simulate")
    yield url
    stop(process)


class Client:
    def __init__(self, url):
        self.url, self.http = url, requests.Session()
        self.token = self.http.post(url + "/v1/msisdn/register").json()["msisdnSessionToken"]
        self.auth = HawkAuth(hawk_session=self.token, server_url=url)

    def post(self, path, body=None, **kwargs):
        return self.http.post(self.url + path, json=body if body is not None else {},
                              auth=self.auth, **kwargs)

    def hawk_id(self):
        return self.auth.credentials["id"].decode()

    def inbox(self, phone):
        return self.http.get(f"{self.url}/__sim__/phones/{phone}/messages").json()

    def next_sms(self, phone, count):
        """The text of the ``count``-th SMS received by ``phone``, once it arrived."""
        return eventually(lambda: len(self.inbox(phone)) >= count and self.inbox(phone))[
            count - 1]["text"]


def test_long_code_certificate_and_unregister(gateway_url):
    client, phone = Client(gateway_url), "+33612345001"
    assert client.post("/v1/msisdn/sms/mt/verify", {"msisdn": phone, "mcc": "208"}
                       ).status_code == 204
    code = client.next_sms(phone, 1)
    assert re.fullmatch(r"[0-9a-f]{64}", code)
    assert client.post("/v1/msisdn/sms/verify_code", {"code": code}).json() == {"msisdn": phone}
    key = {"algorithm": "RS", "e": "65537", "n": str((1 << 2047) + 12345 * 2 + 1)}
    cert = client.post("/v1/certificate/sign", {"publicKey": key}).json()["cert"]
    assert cert.count(".") == 2
    assert client.post("/v1/msisdn/unregister").status_code == 204
    assert client.post("/v1/msisdn/sms/verify_code", {"code": code}).json()["errno"] == 110


def test_short_code_in_the_clients_language_resend_and_wrong_codes(gateway_url):
    client, phone = Client(gateway_url), "+33612345002"
    response = client.post("/v1/msisdn/sms/mt/verify",
                           {"msisdn": phone, "mcc": "208", "shortVerificationCode": True},
                           headers={"Accept-Language": "de"})
    assert response.status_code == 204
    first = client.next_sms(phone, 1)
    assert "Bestätigungscode" in first
    assert client.post("/v1/msisdn/sms/resend_code", headers={"Accept-Language": "de"}
                       ).status_code == 204
    code = re.search(r"\d{6}", client.next_sms(phone, 2)).group()
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    assert client.post("/v1/msisdn/sms/verify_code", {"code": wrong}).json()["errno"] == 105
    assert client.post("/v1/msisdn/sms/verify_code", {"code": code}).json() == {"msisdn": phone}


def test_the_mo_then_mt_flow(gateway_url):
    client = Client(gateway_url)
    discovered = client.http.post(gateway_url + "/v1/msisdn/discover",
                                  json={"mcc": "208", "mnc": "01"}).json()
    verifier = discovered["verificationDetails"]["sms/momt"]["moVerifier"]
    assert verifier == MODEM
    sent = client.http.post(f"{gateway_url}/__sim__/phones/{PHONE}/messages",
                            json={"to": verifier,
                                  "text": f"/v1/msisdn/sms/momt/verify {client.hawk_id()}"})
    assert sent.status_code == 202
    code = client.next_sms(PHONE, 1)
    assert client.post("/v1/msisdn/sms/verify_code", {"code": code}).json() == {"msisdn": PHONE}

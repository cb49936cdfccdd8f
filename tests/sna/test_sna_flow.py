"""The SNA face (issue 14) over real HTTP on a real SQLite file: initiate, the link page
proved by an SMS-MO handed to the real inbound handler, the SMS link queued in the one
outbox, verify/code, the status endpoint, the seed's error codes. Only time is fake."""
from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from sqlalchemy import select

from gateway.pipeline.inbound import store_inbound
from gateway.storage.models import SnaRequest
from gateway.verification import clients, sna
from modem.inbox import InboundSms

PHONE, OTHER = "+33612345678", "+33698765432"
DIGITS = PHONE[1:]
REDIRECT = "https://app.example/sna/done"


def phone_sends(gw, text, sender=PHONE):
    now = gw.clock.now()
    store_inbound(gw.deps, InboundSms(
        modem="modem0", recipient="+33700000001", sender=sender, text=text,
        smsc_timestamp=now, smsc=None, partial=False, received_at=now, _claim=None))


class App:
    """An app's server: its credentials and the calls it makes."""

    def __init__(self, gw, name="Shop", webhook=None):
        self.gw = gw
        with gw.deps.uow() as uow:
            self.client_id, self.secret = clients.add_client(uow, gw.deps, name, [REDIRECT],
                                                             webhook)
            uow.commit()

    def headers(self, **extra):
        return {"clientId": self.client_id, "clientSecret": self.secret, **extra}

    def initiate(self, phone=DIGITS, **body):
        body = {"phoneNumber": phone, "redirectURI": REDIRECT, **body}
        return self.gw.http.post(self.gw.url + "/auth/v1/initiate/sna", json=body,
                                 headers=self.headers())

    def verify(self, code):
        return self.gw.http.post(self.gw.url + "/auth/v1/verify/code", json={"code": code},
                                 headers=self.headers())

    def status(self, request_id):
        return self.gw.http.get(self.gw.url + "/auth/v1/status/sna",
                                params={"requestId": request_id}, headers=self.headers())


@pytest.fixture
def app(gateway):
    return App(gateway)


def started(app, **body):
    response = app.initiate(**body)
    assert response.status_code == 200, response.text
    return response.json()


def local(gw, url):
    """``url`` on the test server (the gateway names its configured public origin)."""
    parts = urlsplit(url)
    return gw.url + url[len(parts.scheme) + 3 + len(parts.netloc):]


def page(gw, link):
    response = gw.http.get(local(gw, link), allow_redirects=False)
    assert response.status_code == 200, response.text
    [sms_href] = re.findall(r'href="(sms:[^"]*)"', response.text) or [None]
    [cont] = re.findall(r'id="continue" href="([^"]*)"', response.text)
    return (unescape(sms_href) if sms_href else None), gw.url + unescape(cont)


def redirected(response):
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    query = parse_qs(urlsplit(location).query)
    return query["code"][0], query["requestId"][0]


def sna_error(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["errorCode"] == str(code), body
    assert set(body) >= {"errorCode", "message", "description"}
    return body


def test_an_sms_mo_from_the_claimed_number_verifies_it_and_the_code_tells_the_app(gateway, app):
    begun = started(app)
    assert "/auth/v1/sna/link/NV-" in begun["link"]
    sms_href, cont = page(gateway, begun["link"])
    assert sms_href.startswith("sms:+33700000001?body=")
    sna_error(gateway.http.get(cont, allow_redirects=False), 400, 7101)  # not proven yet
    assert app.status(begun["requestId"]).json()["status"] == "PENDING"
    phone_sends(gateway, unquote(sms_href.split("body=")[1]))
    code, request_id = redirected(gateway.http.get(cont, allow_redirects=False))
    assert request_id == begun["requestId"]
    body = app.verify(code).json()
    assert body["requestId"] == request_id and body["message"] == "SUCCESS"
    details = body["userDetails"]
    assert details["status"] == "SUCCESS" and details["completedAt"] and details["token"]
    [identity] = details["identities"]
    assert identity == {"identityType": "MOBILE", "identityValue": DIGITS, "channel": "SNA",
                        "methods": ["SMS_MO"], "verified": True,
                        "verifiedTimestamp": details["completedAt"]}
    assert app.status(request_id).json()["status"] == "SUCCESS"


def test_a_code_is_single_use(gateway, app):
    begun = started(app)
    sms_href, cont = page(gateway, begun["link"])
    phone_sends(gateway, unquote(sms_href.split("body=")[1]))
    code, _ = redirected(gateway.http.get(cont, allow_redirects=False))
    assert app.verify(code).status_code == 200
    sna_error(app.verify(code), 400, 7109)
    sna_error(gateway.http.get(cont, allow_redirects=False), 400, 7101)  # no second code


def test_a_code_lives_five_minutes(gateway, app):
    begun = started(app)
    sms_href, cont = page(gateway, begun["link"])
    phone_sends(gateway, unquote(sms_href.split("body=")[1]))
    code, _ = redirected(gateway.http.get(cont, allow_redirects=False))
    gateway.clock.advance(sna.CODE_TTL + 1)
    sna_error(app.verify(code), 400, 7109)


def test_a_code_is_only_good_for_the_client_that_asked(gateway, app):
    other = App(gateway, "Other")
    begun = started(app)
    sms_href, cont = page(gateway, begun["link"])
    phone_sends(gateway, unquote(sms_href.split("body=")[1]))
    code, _ = redirected(gateway.http.get(cont, allow_redirects=False))
    sna_error(other.verify(code), 400, 7109)
    sna_error(other.status(begun["requestId"]), 404, 7104)
    assert app.verify(code).json()["message"] == "SUCCESS"


def test_once_the_app_sent_the_sms_itself_the_link_redirects_at_once(gateway, app):
    begun = started(app)
    token = begun["link"].rsplit("/", 1)[1]
    phone_sends(gateway, f"Verify my number {token}")  # an app with the SMS permission
    code, _ = redirected(gateway.http.get(local(gateway, begun["link"]), allow_redirects=False))
    assert app.verify(code).json()["userDetails"]["identities"][0]["verified"] is True


def test_a_proof_from_another_number_ends_the_request_as_failed(gateway, app):
    begun = started(app)
    sms_href, cont = page(gateway, begun["link"])
    phone_sends(gateway, unquote(sms_href.split("body=")[1]), sender=OTHER)
    phone_sends(gateway, unquote(sms_href.split("body=")[1]))  # too late: already ended
    code, _ = redirected(gateway.http.get(cont, allow_redirects=False))
    body = app.verify(code)
    assert body.status_code == 200
    body = body.json()
    assert (body["message"], body["errorCode"]) == ("USER_VERIFICATION_FAILED", "7128")
    identity = body["userDetails"]["identities"][0]
    assert identity["verified"] is False and identity["identityValue"] == DIGITS
    assert body["userDetails"]["status"] == "FAILED"
    assert app.status(begun["requestId"]).json()["errorCode"] == "7128"


def test_a_request_expires_after_its_lifetime_and_fails(start_gateway):
    gateway = start_gateway(sna_request_ttl=120)
    app = App(gateway)
    begun = started(app)
    sms_href, cont = page(gateway, begun["link"])
    gateway.clock.advance(121)
    phone_sends(gateway, unquote(sms_href.split("body=")[1]))  # too late
    status = app.status(begun["requestId"]).json()
    assert (status["status"], status["errorCode"]) == ("FAILED", "7130")
    code, _ = redirected(gateway.http.get(cont, allow_redirects=False))
    body = app.verify(code).json()
    assert (body["message"], body["errorCode"]) == ("USER_VERIFICATION_FAILED", "7130")


def test_a_request_nobody_asks_about_is_ended_by_the_cleanup_with_its_webhook(
        start_gateway):
    from gateway.process.worker import cleanup
    from gateway.storage.models import WebhookEvent

    gateway = start_gateway(sna_request_ttl=120)
    app = App(gateway, webhook="https://hooks.example/sna")
    begun = started(app)
    gateway.clock.advance(60)
    assert cleanup(gateway.deps)["sna_ended"] == 0  # still running
    gateway.clock.advance(61)
    assert cleanup(gateway.deps)["sna_ended"] == 1  # no status read: the cleanup ends it
    with gateway.deps.uow() as uow:
        [event] = list(uow.db.scalars(select(WebhookEvent)))
    assert event.client_id == app.client_id and event.status == "pending"
    status = app.status(begun["requestId"]).json()
    assert (status["status"], status["errorCode"]) == ("FAILED", "7130")
    assert cleanup(gateway.deps)["sna_ended"] == 0  # once


def test_the_default_request_lifetime_is_fifteen_minutes(gateway):
    assert gateway.settings.sna_request_ttl == 900


def test_no_number_token_or_code_is_stored_in_clear(gateway, app):
    begun = started(app)
    with gateway.deps.uow() as uow:
        row = uow.db.scalars(select(SnaRequest)).one()
    stored = " ".join(str(getattr(row, column.name)) for column in SnaRequest.__table__.columns)
    assert DIGITS not in stored and begun["link"].rsplit("/", 1)[1] not in stored
    assert DIGITS.encode() not in row.msisdn_sealed


@pytest.mark.parametrize("headers, code", [({}, 7012), ({"clientId": "gw_x"}, 7012),
                                           ({"clientId": "gw_x", "clientSecret": "no"}, 7002)])
def test_missing_or_wrong_credentials_are_refused(gateway, app, headers, code):
    response = gateway.http.post(gateway.url + "/auth/v1/initiate/sna", headers=headers,
                                 json={"phoneNumber": DIGITS, "redirectURI": REDIRECT})
    body = sna_error(response, 401, code)
    assert body["message"] == "ACCESS_BLOCKED"
    wrong = {"clientId": app.client_id, "clientSecret": app.secret + "x"}
    sna_error(gateway.http.post(gateway.url + "/auth/v1/verify/code", headers=wrong,
                                json={"code": "x"}), 401, 7002)


@pytest.mark.parametrize("phone", ["+33612345678", "0612345678x", "33", "3361234567", 33612345678,
                                   None, "33612345678" * 3])
def test_a_bad_phone_number_is_7102(app, phone):
    sna_error(app.initiate(phone=phone), 400, 7102)


def test_a_redirect_uri_the_client_did_not_register_is_7108(app):
    sna_error(app.initiate(redirectURI="https://evil.example/cb"), 400, 7108)
    sna_error(app.initiate(redirectURI=None), 400, 7108)


@pytest.mark.parametrize("body, code", [
    ({"mcc": "208"}, 7126), ({"mnc": "01"}, 7126), ({"mcc": "999", "mnc": "01"}, 7126),
    ({"mcc": "20", "mnc": "01"}, 7126), ({"mcc": 208, "mnc": "01"}, 7126),
    ({"mcc": "234", "mnc": "15"}, 7127)])
def test_mcc_and_mnc_are_checked_against_the_number_and_the_served_networks(app, body, code):
    sna_error(app.initiate(**body), 400, code)
    assert app.initiate(mcc="208", mnc="01").status_code == 200


def test_mcc_mnc_outside_the_configured_networks_is_7126(start_gateway):
    app = App(start_gateway(mt_networks=["20801"]))
    sna_error(app.initiate(mcc="208", mnc="10"), 400, 7126)
    assert app.initiate(mcc="208", mnc="01").status_code == 200


def test_a_number_of_a_country_the_gateway_does_not_serve_is_7125(app):
    sna_error(app.initiate(phone="12015550123"), 400, 7125)


@pytest.mark.parametrize("data", ["not json", "[1, 2]", "null"])
def test_a_body_that_is_not_a_json_object_is_a_clear_400(gateway, app, data):
    response = gateway.http.post(gateway.url + "/auth/v1/initiate/sna", data=data,
                                 headers=app.headers(**{"Content-Type": "application/json"}))
    sna_error(response, 400, 7101)
    sna_error(app.initiate(proof="carrier-pigeon"), 400, 7101)
    sna_error(app.initiate(proof=["sms_mo"]), 400, 7101)
    sna_error(app.initiate(proof={"kind": "sms_mo"}), 400, 7101)
    sna_error(app.initiate(phone={"a": 1}, redirectURI=[REDIRECT]), 400, 7102)
    sna_error(app.initiate(redirectURI=[REDIRECT]), 400, 7108)
    sna_error(app.initiate(mcc=["208"], mnc={"x": 1}), 400, 7126)


@pytest.mark.parametrize("code", [None, 12, "", "x" * 500, ["a"], "abc\x00", "é" * 20])
def test_a_bad_code_is_a_clear_400(app, code):
    sna_error(app.verify(code), 400, 7109)


def test_a_lone_surrogate_in_a_body_is_a_clear_400(gateway, app):
    # json.loads takes "\ud800"; hashing it as UTF-8 answered 500.
    for path in ("/auth/v1/verify/code", "/auth/v1/initiate/sna"):
        response = gateway.http.post(gateway.url + path, data=b'{"code": "\\ud800"}',
                                     headers=app.headers(**{"Content-Type":
                                                            "application/json"}))
        sna_error(response, 400, 7101)


@pytest.mark.parametrize("request_id", ["a\x00b", "\u00e9" * 10, "x" * 500])
def test_a_request_id_that_is_none_of_ours_is_unknown(app, request_id):
    sna_error(app.status(request_id), 404, 7104)


def test_an_unknown_link_is_a_json_404(gateway):
    for path in ("/auth/v1/sna/link/nope", "/auth/v1/sna/link/nope/continue",
                 "/auth/v1/sna/link/nope/status", "/auth/v1/sna/sms/nope"):
        sna_error(gateway.http.get(gateway.url + path, allow_redirects=False), 404, 7104)


@pytest.mark.parametrize("setting, code, second", [
    ("rate_limit_sna_identity", 7021, {}),
    ("rate_limit_sna_application", 7023, {"phone": "33698765432"}),
    ("rate_limit_sna_total", 7024, {"phone": "33698765432"}),
    ("rate_limit_sna_ip", 7022, {"phone": "33698765432"})])
def test_initiations_are_limited_with_a_retry_after(start_gateway, setting, code, second):
    gateway = start_gateway(**{setting: ["1/1h"]})
    app = App(gateway)
    assert app.initiate().status_code == 200
    body = sna_error(app.initiate(**second), 429, code)
    assert 3590 <= body["retryAfter"] <= 3600
    gateway.clock.advance(body["retryAfter"])
    assert app.initiate(**second).status_code == 200


def test_the_ip_limit_counts_every_application_of_an_address(start_gateway):
    gateway = start_gateway(rate_limit_sna_ip=["1/1h"])
    assert App(gateway, "One").initiate().status_code == 200
    sna_error(App(gateway, "Two").initiate(phone="33698765432"), 429, 7022)


def test_calls_about_one_authentication_are_limited_7020(start_gateway):
    gateway = start_gateway(rate_limit_sna_authentication=["2/15m"])
    app = App(gateway)
    request_id = started(app)["requestId"]
    assert app.status(request_id).status_code == 200
    assert app.status(request_id).status_code == 200
    body = sna_error(app.status(request_id), 429, 7020)
    assert body["retryAfter"] > 0 and "Retry-After" in app.status(request_id).headers
    assert app.status(started(app, phone="33698765432")["requestId"]).status_code == 200


def test_the_sms_link_keeps_the_budgets_of_every_sms(start_gateway):
    gateway = start_gateway(rate_limit_msisdn=["1/1h"])
    app = App(gateway)
    assert app.initiate(proof="sms_link").status_code == 200
    body = sna_error(app.initiate(proof="sms_link"), 429, 7021)
    assert body["retryAfter"] > 0
    assert len(gateway.outbox()) == 1


def test_an_app_server_may_hold_many_pending_requests_from_one_address(app):
    for index in range(8):  # the proofs' per-address cap is for phones, not app servers
        assert app.initiate(phone=f"3361234560{index}").status_code == 200

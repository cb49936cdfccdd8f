"""The SNA SMS link (``proof`` "sms_link") over real HTTP on a real SQLite file. Opening
the link proves nothing: link previews and scanners open what an SMS holds. A
confirmation on its page proves the SIM and sends that browser, and only it, to the app
with the code: the page that started the request may be a stranger's, waiting for the
holder to tap. A refusal ends the request failed. Only time is fake."""
from __future__ import annotations

import re

import pytest

from test_sna_flow import PHONE, App, local, page, redirected, sna_error, started


@pytest.fixture
def app(gateway):
    return App(gateway)


def sms_url(gateway) -> str:
    """The link the SMS to the claimed number carries, on the test server."""
    [url] = re.findall(r"https?://\S+", gateway.last_sms_to(PHONE))
    return local(gateway, url)


def test_the_sms_link_proof_texts_a_one_time_url_through_the_outbox(gateway, app):
    begun = started(app, proof="sms_link")
    sms_href, _cont = page(gateway, begun["link"])
    assert sms_href is None
    assert gateway.last_sms_to(PHONE).startswith("Shop: open to confirm this is your number")
    [row] = gateway.outbox()
    assert (row.purpose, row.recipient, row.status) == ("sna", "+33*******78", "queued")
    assert sms_url(gateway).split("/")[-1] != begun["link"].split("/")[-1]


def test_opening_the_sms_link_proves_nothing(gateway, app):
    begun = started(app, proof="sms_link")
    _sms, cont = page(gateway, begun["link"])
    for _ in range(2):  # a messaging app's link preview, then a security scanner
        shown = gateway.http.get(sms_url(gateway), allow_redirects=False)
        assert shown.status_code == 200, shown.text
    assert shown.headers["Content-Type"].startswith("text/html")
    assert "Shop asks to confirm that this phone number is yours" in shown.text
    assert 'id="confirm"' in shown.text and 'id="decline"' in shown.text
    assert (shown.headers["Cache-Control"], shown.headers["X-Frame-Options"],
            shown.headers["Referrer-Policy"]) == ("no-store", "DENY", "no-referrer")
    assert app.status(begun["requestId"]).json()["status"] == "PENDING"
    sna_error(gateway.http.get(cont, allow_redirects=False), 400, 7101)  # no code


def test_a_confirmation_sends_that_browser_and_only_it_to_the_app_with_the_code(
        gateway, app):
    begun = started(app, proof="sms_link")
    _sms, cont = page(gateway, begun["link"])
    code, request_id = redirected(gateway.http.post(sms_url(gateway), allow_redirects=False))
    assert request_id == begun["requestId"]
    # The page that started the request (whoever claimed the number) learns it is done,
    # and gets no code: the holder's code is not replaced either.
    for waiting in (gateway.http.get(cont, allow_redirects=False),
                    gateway.http.get(local(gateway, begun["link"]), allow_redirects=False)):
        assert waiting.status_code == 200, waiting.text
        assert 'id="done"' in waiting.text and "code=" not in waiting.text
        assert "Location" not in waiting.headers
    body = app.verify(code).json()
    assert body["message"] == "SUCCESS" and body["requestId"] == request_id
    [identity] = body["userDetails"]["identities"]
    assert identity["methods"] == ["SMS_LINK"] and identity["verified"] is True
    assert app.status(request_id).json()["status"] == "SUCCESS"


def test_the_holder_may_continue_again_until_the_code_is_used(gateway, app):
    started(app, proof="sms_link")
    url = sms_url(gateway)
    first, _ = redirected(gateway.http.post(url, allow_redirects=False))
    shown = gateway.http.get(url)
    assert "This number is confirmed for Shop" in shown.text and 'id="decline"' not in shown.text
    again, _ = redirected(gateway.http.post(url, allow_redirects=False))
    sna_error(app.verify(first), 400, 7109)  # a fresh code replaces the one before
    assert app.verify(again).json()["message"] == "SUCCESS"
    sna_error(gateway.http.post(url, allow_redirects=False), 400, 7101)  # used
    assert "This request has ended" in gateway.http.get(url).text


def test_declining_ends_the_request_failed_and_a_later_confirmation_changes_nothing(
        gateway, app):
    begun = started(app, proof="sms_link")
    url = sms_url(gateway)
    declined = gateway.http.post(url + "/decline", allow_redirects=False)
    assert declined.status_code == 200 and 'id="declined"' in declined.text
    status = app.status(begun["requestId"]).json()
    assert (status["status"], status["errorCode"]) == ("FAILED", "7130")
    sna_error(gateway.http.post(url + "/decline"), 400, 7101)  # ended already
    assert 'id="confirm"' not in gateway.http.get(url).text
    # The app still learns the outcome through a code, here from the SMS link's form.
    code, _ = redirected(gateway.http.post(url, allow_redirects=False))
    body = app.verify(code).json()
    assert (body["message"], body["errorCode"]) == ("USER_VERIFICATION_FAILED", "7130")
    assert "declined" in body["description"]
    assert body["userDetails"]["identities"][0]["verified"] is False


def test_after_a_refusal_the_link_page_hands_the_failure_to_the_app(gateway, app):
    begun = started(app, proof="sms_link")
    gateway.http.post(sms_url(gateway) + "/decline")
    code, request_id = redirected(gateway.http.get(local(gateway, begun["link"]),
                                                   allow_redirects=False))
    assert request_id == begun["requestId"]
    assert app.verify(code).json()["message"] == "USER_VERIFICATION_FAILED"


def test_an_sms_link_of_the_sms_mo_proof_does_not_exist(gateway, app):
    begun = started(app)  # sms_mo: its page token is its proof token
    token = begun["link"].rsplit("/", 1)[1]
    for response in (gateway.http.get(f"{gateway.url}/auth/v1/sna/sms/{token}"),
                     gateway.http.post(f"{gateway.url}/auth/v1/sna/sms/{token}"),
                     gateway.http.post(f"{gateway.url}/auth/v1/sna/sms/{token}/decline")):
        sna_error(response, 404, 7104)
    assert app.status(begun["requestId"]).json()["status"] == "PENDING"


@pytest.mark.parametrize("path", ["", "/decline"])
def test_an_unknown_sms_link_is_a_json_404(gateway, path):
    sna_error(gateway.http.post(f"{gateway.url}/auth/v1/sna/sms/nope{path}"), 404, 7104)

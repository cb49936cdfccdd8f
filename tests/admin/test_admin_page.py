"""The admin page over real HTTP on 127.0.0.1 (the app, a real SQLite file, a fake
clock): off until a password is set, only from admin_networks, a login with a limit per
address, CSRF on every form, the pages, and the actions (test SMS, guard, faults)."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select

from gateway.admin.password import hash_password, write_password_hash
from gateway.storage.models import OutboundSms, SimModemCommand, VerificationSession

PASSWORD = "correct horse battery"
PAGE_LIMIT = 150 * 1024


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field in the page"
    return match.group(1)


def _login(gateway, password=PASSWORD):
    form = gateway.get("/admin/login")
    assert form.status_code == 200
    return gateway.http.post(gateway.url + "/admin/login", allow_redirects=False,
                             data={"csrf": _csrf(form.text), "password": password})


@pytest.fixture
def admin(start_gateway):
    gateway = start_gateway()
    write_password_hash(gateway.settings, hash_password(PASSWORD))
    return gateway


@pytest.fixture
def logged_in(admin):
    response = _login(admin)
    assert response.status_code == 303, response.text
    return admin


def test_the_admin_page_is_off_until_a_password_is_set(start_gateway):
    gateway = start_gateway()
    response = gateway.get("/admin/")
    assert response.status_code == 404
    assert "msisdn-gateway admin password" in response.text


def test_a_page_without_a_session_sends_to_the_login_form(admin):
    response = admin.get("/admin/outbox", allow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login?next=/admin/outbox")


def test_a_wrong_password_is_refused_and_gives_no_session(admin):
    response = _login(admin, "not the password")
    assert response.status_code == 401
    assert "Wrong password" in response.text
    assert "gw_admin" not in response.cookies
    assert admin.get("/admin/", allow_redirects=False).status_code == 302


def test_the_right_password_gives_an_httponly_strict_session_cookie(admin):
    response = _login(admin)
    assert response.status_code == 303
    cookie = response.headers["Set-Cookie"]
    assert "gw_admin=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain http here
    assert "Path=/admin" in cookie
    assert admin.get("/admin/").status_code == 200


def test_the_session_cookie_is_secure_behind_https(start_gateway):
    gateway = start_gateway(public_url="https://gw.example.org")
    write_password_hash(gateway.settings, hash_password(PASSWORD))
    form = gateway.get("/admin/login")
    assert "Secure" in form.headers["Set-Cookie"]  # the login form's cookie too
    token = _csrf(form.text)
    response = requests.post(gateway.url + "/admin/login", allow_redirects=False,
                             data={"csrf": token, "password": PASSWORD},
                             headers={"Cookie": f"gw_admin_login={token}"})
    assert response.status_code == 303
    assert "Secure" in response.headers["Set-Cookie"]


def test_a_login_without_its_csrf_token_is_refused(admin):
    admin.get("/admin/login")  # the login cookie, but no token in the form
    response = admin.http.post(admin.url + "/admin/login", data={"password": PASSWORD},
                               allow_redirects=False)
    assert response.status_code == 403
    assert "CSRF" in response.text


def test_a_form_without_the_session_csrf_token_is_refused(logged_in):
    response = logged_in.http.post(logged_in.url + "/admin/send", allow_redirects=False,
                                   data={"number": "+33612345678", "text": "hi",
                                         "confirm": "yes"})
    assert response.status_code == 403
    assert not [r for r in logged_in.outbox() if r.purpose == "test"]


def test_logins_are_limited_per_address(start_gateway):
    gateway = start_gateway(admin_login_limit=["3/15m"])
    write_password_hash(gateway.settings, hash_password(PASSWORD))
    assert [_login(gateway, "wrong").status_code for _ in range(3)] == [401] * 3
    refused = _login(gateway)  # even the right password, while the limit holds
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    gateway.clock.advance(15 * 60)
    assert _login(gateway).status_code == 303


def test_an_address_outside_the_allowed_networks_is_refused(start_gateway):
    gateway = start_gateway(admin_networks=["10.0.0.0/8"])
    write_password_hash(gateway.settings, hash_password(PASSWORD))
    for path in ("/admin/", "/admin/login"):
        response = gateway.get(path, allow_redirects=False)
        assert response.status_code == 403
        assert "admin_networks" in response.text


def test_a_forwarded_address_outside_the_networks_is_refused_behind_a_trusted_proxy(
        start_gateway):
    gateway = start_gateway(trusted_proxies=["127.0.0.1/32"])
    write_password_hash(gateway.settings, hash_password(PASSWORD))
    assert gateway.get("/admin/login", headers={"X-Forwarded-For": "192.168.1.20"}
                       ).status_code == 200
    assert gateway.get("/admin/login", headers={"X-Forwarded-For": "203.0.113.9"}
                       ).status_code == 403


def test_the_overview_shows_the_modem_queue_chart_and_verifications(logged_in):
    logged_in.publish_modem("modem0", signal_dbm=-85, sent_today=7, daily_quota=200,
                            last_error="CMS ERROR 500")
    response = logged_in.get("/admin/")
    assert response.status_code == 200
    page = response.text
    assert len(response.content) < PAGE_LIMIT
    assert 'aria-label="signal 2 of 4 bars, -85 dBm"' in page
    assert "-85 dBm" in page and "7 parts" in page and "of 200" in page
    assert "CMS ERROR 500" in page
    assert '<svg class="chart"' in page
    assert "http://" not in page.replace(logged_in.url, "") and "https://" not in page
    assert response.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_a_test_sms_is_queued_with_a_confirmation_and_its_status_shown(logged_in):
    form = logged_in.get("/admin/send")
    data = {"csrf": _csrf(form.text), "number": "+33612345678", "text": "hello"}
    unconfirmed = logged_in.http.post(logged_in.url + "/admin/send", data=data,
                                      allow_redirects=False)
    assert unconfirmed.status_code == 400
    response = logged_in.http.post(logged_in.url + "/admin/send",
                                   data={**data, "confirm": "yes"}, allow_redirects=False)
    assert response.status_code == 303
    status = logged_in.get(response.headers["Location"])
    assert status.status_code == 200
    assert 'id="sms-status"' in status.text and "queued" in status.text
    assert "+33612345678" not in status.text  # masked
    assert 'data-refresh="2"' in status.text
    [row] = [r for r in logged_in.outbox() if r.purpose == "test"]
    assert row.status == "queued"


def test_a_bad_number_is_a_clear_400_page(logged_in):
    csrf = _csrf(logged_in.get("/admin/send").text)
    response = logged_in.http.post(logged_in.url + "/admin/send", data={
        "csrf": csrf, "number": "not a number", "text": "x", "confirm": "yes"})
    assert response.status_code == 400
    assert "number" in response.text and "<html" in response.text


def test_the_outbox_and_inbox_mask_numbers_and_filter(logged_in):
    now = logged_in.clock.now()
    with logged_in.deps.uow() as uow:
        uow.outbox.add(OutboundSms(recipient="+33*******78", purpose="test", status="failed",
                                   attempts=1, next_attempt_at=now, created_at=now,
                                   updated_at=now, expires_at=now + timedelta(hours=1)))
        uow.commit()
    assert "+33*******78" in logged_in.get("/admin/outbox?status=failed").text
    assert "+33*******78" not in logged_in.get("/admin/outbox?status=queued").text
    assert logged_in.get("/admin/outbox?status=bogus").status_code == 400
    assert logged_in.get("/admin/inbox?kind=other").status_code == 200
    assert logged_in.get("/admin/inbox?kind=bogus").status_code == 400


def test_the_guard_page_refuses_a_bad_prefix_and_unblocks_a_good_one(logged_in):
    now = logged_in.clock.now()
    with logged_in.deps.uow() as uow:  # 3 code SMS 10 minutes ago (judged), 2 just now
        uow.guard.count("+44741", now - timedelta(minutes=10), now + timedelta(hours=2), sms=3)
        uow.guard.count("+44741", now, now + timedelta(hours=2), sms=2)
        uow.commit()
    page = logged_in.get("/admin/guard")
    assert page.status_code == 200
    assert ('<td data-label="SMS">5</td><td data-label="Judged">3</td>'
            '<td data-label="Verified">0</td><td data-label="Conversion">0%</td>') in page.text
    csrf = _csrf(page.text)
    bad = logged_in.http.post(logged_in.url + "/admin/guard/clear",
                              data={"csrf": csrf, "prefix": "abc", "confirm": "yes"})
    assert bad.status_code == 400 and "prefix" in bad.text
    good = logged_in.http.post(logged_in.url + "/admin/guard/clear", allow_redirects=False,
                               data={"csrf": csrf, "prefix": "+44741", "confirm": "yes"})
    assert good.status_code == 303


def test_faults_are_switched_only_under_simulate(logged_in):
    csrf = _csrf(logged_in.get("/admin/").text)
    response = logged_in.http.post(logged_in.url + "/admin/faults", data={
        "csrf": csrf, "modem": "modem0", "fault": "no_network", "action": "on",
        "confirm": "yes"})
    assert response.status_code == 404


def test_under_simulate_a_fault_switch_is_queued_for_the_worker(start_gateway):
    gateway = start_gateway(simulate=True)
    write_password_hash(gateway.settings, hash_password(PASSWORD))
    assert _login(gateway).status_code == 303
    page = gateway.get("/admin/")
    assert 'id="fault-form"' in page.text
    csrf = _csrf(page.text)
    bad = gateway.http.post(gateway.url + "/admin/faults", data={
        "csrf": csrf, "modem": "modem0", "fault": "no_such", "action": "on", "confirm": "yes"})
    assert bad.status_code == 400 and "unknown fault" in bad.text
    for action in ("on", "off"):
        response = gateway.http.post(gateway.url + "/admin/faults", allow_redirects=False,
                                     data={"csrf": csrf, "modem": "modem0",
                                           "fault": "no_network", "action": action,
                                           "confirm": "yes"})
        assert response.status_code == 303
    with gateway.deps.uow() as uow:
        commands = list(uow.db.scalars(select(SimModemCommand).order_by(SimModemCommand.id)))
    assert [(c.modem, c.action, c.fault) for c in commands] == [
        ("modem0", "inject", "no_network"), ("modem0", "clear", "no_network")]


def test_a_new_password_ends_every_session(logged_in):
    write_password_hash(logged_in.settings, hash_password("another password"))
    assert logged_in.get("/admin/", allow_redirects=False).status_code == 302


def test_the_script_is_served_from_the_package(admin):
    response = admin.get("/admin/static/admin.js")
    assert response.status_code == 200
    assert "data-refresh" in response.text


@pytest.mark.parametrize("path", ["/admin/", "/admin/outbox", "/admin/inbox", "/admin/guard",
                                  "/admin/clients", "/admin/send", "/admin/login"])
def test_every_page_is_light_self_contained_and_fits_a_phone(logged_in, path):
    response = logged_in.get(path)
    assert response.status_code == 200
    assert len(response.content) < PAGE_LIMIT
    page = response.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing from another host
    for field in re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', page):
        assert f'for="{field}"' in page, f"{path}: {field} has no label"


def test_an_api_client_is_added_with_its_secret_shown_once_and_removed(logged_in):
    csrf = _csrf(logged_in.get("/admin/clients").text)
    added = logged_in.http.post(logged_in.url + "/admin/clients", data={
        "csrf": csrf, "name": "Shop", "redirect_uris": "https://shop.example/cb",
        "confirm": "yes"})
    assert added.status_code == 201
    secret = re.search(r'id="client-secret">([^<]+)<', added.text).group(1)
    client_id = re.search(r"Client <strong>([^<]+)</strong>", added.text).group(1)
    listed = logged_in.get("/admin/clients").text
    assert client_id in listed and secret not in listed
    bad = logged_in.http.post(logged_in.url + "/admin/clients", data={
        "csrf": csrf, "name": "Bad", "redirect_uris": "ftp://x", "confirm": "yes"})
    assert bad.status_code == 400 and "redirect URI" in bad.text
    removed = logged_in.http.post(f"{logged_in.url}/admin/clients/{client_id}/remove",
                                  data={"csrf": csrf, "confirm": "yes"}, allow_redirects=False)
    assert removed.status_code == 303
    assert client_id not in logged_in.get("/admin/clients").text.split("removed")[-1]


def test_the_overview_counts_verifications_per_method_and_country(logged_in):
    now = logged_in.clock.now()
    with logged_in.deps.uow() as uow:
        for index, verified in enumerate((True, False)):
            session = VerificationSession(hawk_id_digest=f"{index:064d}",
                                          hawk_key_sealed=b"k", method="sms/mt",
                                          verified_at=now if verified else None,
                                          created_at=now, expires_at=now + timedelta(days=1))
            uow.db.add(session)
            uow.db.flush()
            for _resend in range(2):  # a resent code is the same verification
                uow.db.add(OutboundSms(recipient="+33*******78", purpose="sms/mt",
                                       session_id=session.id, region="FR", status="delivered",
                                       attempts=1, next_attempt_at=now, created_at=now,
                                       updated_at=now, expires_at=now + timedelta(hours=1)))
        uow.db.commit()
    page = logged_in.get("/admin/").text
    assert re.search(r"<td>sms/mt</td><td>FR</td><td>2</td><td>1</td><td>50%</td>", page)
    assert "4 sent, 4 delivered, 0 failed" in page


def test_an_unreadable_password_file_is_a_clear_503_not_a_500(admin):
    from gateway.admin.password import password_file

    password_file(admin.settings).write_bytes(b"\xff\xfe not ascii")
    response = admin.get("/admin/login")
    assert response.status_code == 503
    assert "admin password file" in response.text

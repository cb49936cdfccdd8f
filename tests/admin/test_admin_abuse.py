"""The admin page against abuse, over real HTTP on 127.0.0.1 (the app, a real SQLite file,
a fake clock): login limits per client (an IPv6 /64) and for the whole box, notices that
are only ours, ids too large for the database, and a password file written through no
planted temporary file, and a logout that ends a copied session cookie too."""
from __future__ import annotations

import stat

import requests
from click.testing import CliRunner

from gateway.admin.password import hash_password, password_file, write_password_hash
from gateway.cli.server_commands import main
from test_admin_page import (PASSWORD, _csrf, _login, admin,  # noqa: F401  (fixtures)
                             logged_in)

PROXY = "127.0.0.1/32"  # the test client stands for a proxy forwarding the LAN's addresses
PHISHING = "The admin page moved to http://evil.example"


def _login_from(gateway, address: str, password: str = "not the password"):
    headers = {"X-Forwarded-For": address}
    form = gateway.get("/admin/login", headers=headers)
    assert form.status_code == 200
    return gateway.http.post(gateway.url + "/admin/login", allow_redirects=False,
                             headers=headers, data={"csrf": _csrf(form.text),
                                                    "password": password})


def _admin_behind_proxy(start_gateway, **overrides):
    gateway = start_gateway(trusted_proxies=[PROXY], **overrides)
    write_password_hash(gateway.settings, hash_password(PASSWORD))
    return gateway


def test_every_address_of_one_ipv6_64_shares_one_login_limit(start_gateway):
    gateway = _admin_behind_proxy(start_gateway, admin_login_limit=["3/15m"])
    statuses = [_login_from(gateway, f"fd00:1:2:3::{host}").status_code
                for host in range(1, 9)]
    assert statuses == [401] * 3 + [429] * 5
    refused = _login_from(gateway, "fd00:1:2:3:abcd::1", PASSWORD)
    assert refused.status_code == 429 and "from this address" in refused.text
    assert _login_from(gateway, "fd00:1:2:4::1").status_code == 401  # another /64


def test_logins_from_every_address_together_are_limited_on_the_box(start_gateway):
    gateway = _admin_behind_proxy(start_gateway)
    clients = iter(f"fd00:1:2:{network:x}::1" for network in range(1000))
    statuses = [_login_from(gateway, next(clients)).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]  # 5 a minute, one /64 each
    refused = _login_from(gateway, next(clients), PASSWORD)
    assert refused.status_code == 429 and "on this box" in refused.text
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    for _minute in range(5):  # 30 in a quarter of an hour
        gateway.clock.advance(60)
        assert [_login_from(gateway, next(clients)).status_code
                for _ in range(5)] == [401] * 5
    gateway.clock.advance(60)
    assert _login_from(gateway, next(clients), PASSWORD).status_code == 429
    gateway.clock.advance(15 * 60)
    assert _login_from(gateway, next(clients), PASSWORD).status_code == 303


def test_admin_unlock_on_the_box_lets_the_operator_in_after_the_limits_were_used_up(
        start_gateway):
    gateway = _admin_behind_proxy(start_gateway, admin_login_limit=["2/15m"])
    clients = iter(f"fd00:1:2:{network:x}::1" for network in range(1000))
    assert [_login_from(gateway, "fd00:9::1").status_code for _ in range(3)] == (
        [401, 401, 429])  # an address used up its own limit
    assert [_login_from(gateway, next(clients)).status_code for _ in range(4)] == (
        [401] * 3 + [429])  # and others the box's, 5 a minute
    refused = _login_from(gateway, next(clients), PASSWORD)
    assert refused.status_code == 429 and "msisdn-gateway admin unlock" in refused.text
    unlock = ["admin", "unlock", "--database-url", gateway.settings.effective_database_url,
              "--state-dir", str(gateway.settings.state_dir)]

    result = CliRunner().invoke(main, unlock)

    assert result.exit_code == 0, result.output
    assert "admin login limits cleared" in result.output
    assert _login_from(gateway, next(clients), PASSWORD).status_code == 303
    assert _login_from(gateway, "fd00:9::1", PASSWORD).status_code == 303
    again = CliRunner().invoke(main, unlock)
    assert again.exit_code == 0 and "admin login limits cleared" in again.output
    assert _login_from(gateway, "fd00:9::1").status_code == 401  # limits still count


def test_admin_unlock_with_nothing_counted_says_so(start_gateway):
    gateway = start_gateway()
    result = CliRunner().invoke(main, [
        "admin", "unlock", "--database-url", gateway.settings.effective_database_url,
        "--state-dir", str(gateway.settings.state_dir)])
    assert result.exit_code == 0 and "nothing to clear" in result.output


def test_a_link_cannot_put_text_in_the_notice_and_an_action_shows_its_own(logged_in):
    for path in ("/admin/guard", "/admin/login"):
        page = logged_in.get(path, params={"notice": PHISHING})
        assert page.status_code == 200
        assert "evil.example" not in page.text and 'class="notice"' not in page.text
    csrf = _csrf(logged_in.get("/admin/guard").text)
    done = logged_in.http.post(logged_in.url + "/admin/guard/clear", data={
        "csrf": csrf, "prefix": "+44741", "confirm": "yes"})
    assert done.status_code == 200
    assert '<p class="notice" role="status">Prefix unblocked' in done.text


def test_a_notice_carried_through_the_login_shows_nothing(admin):
    form = admin.get("/admin/login", params={"next": f"/admin/?notice={PHISHING}"})
    assert 'class="notice"' not in form.text  # (the form carries `next` on, hidden)
    response = admin.http.post(admin.url + "/admin/login", data={
        "csrf": _csrf(form.text), "password": PASSWORD,
        "next": f"/admin/?notice={PHISHING}"})
    assert response.status_code == 200 and "Overview" in response.text
    assert "evil.example" not in response.text and 'class="notice"' not in response.text


def test_a_test_sms_id_too_large_for_the_database_is_not_found(logged_in):
    for row_id in (2 ** 63 - 1, 2 ** 63, 10 ** 30):
        assert logged_in.get(f"/admin/send/{row_id}").status_code == 404, row_id


def test_a_stale_temporary_file_readable_by_all_does_not_make_the_password_readable(
        make_settings, tmp_path):
    settings = make_settings()
    temporary = password_file(settings).with_name("admin-password.tmp")
    temporary.write_text("stale\n")
    temporary.chmod(0o644)
    assert _set_password(tmp_path).exit_code == 0
    assert stat.S_IMODE(password_file(settings).stat().st_mode) == 0o600


def test_a_link_planted_as_the_temporary_file_is_not_followed(make_settings, tmp_path):
    settings = make_settings()
    victim = tmp_path / "victim"
    victim.write_text("not yours\n")
    password_file(settings).with_name("admin-password.tmp").symlink_to(victim)
    assert _set_password(tmp_path).exit_code == 0
    assert victim.read_text() == "not yours\n"
    assert not password_file(settings).is_symlink()
    assert stat.S_IMODE(password_file(settings).stat().st_mode) == 0o600


def _set_password(state_dir):
    return CliRunner().invoke(main, ["admin", "password", "--state-dir", str(state_dir)],
                              input=PASSWORD + "\n")


def test_a_logout_ends_the_session_for_a_copy_of_its_cookie_too(logged_in):
    copied = logged_in.http.cookies.get("gw_admin")
    assert logged_in.get("/admin/").status_code == 200
    page = logged_in.get("/admin/")
    assert logged_in.http.post(logged_in.url + "/admin/logout", allow_redirects=False,
                               data={"csrf": _csrf(page.text)}).status_code == 303
    stolen = requests.get(logged_in.url + "/admin/", cookies={"gw_admin": copied},
                          allow_redirects=False)
    assert stolen.status_code == 302 and "/admin/login" in stolen.headers["Location"]
    assert _login(logged_in).status_code == 303  # a new login works
    assert logged_in.get("/admin/").status_code == 200

"""No Host reflection: URLs the API answers come from public_url or allowed_hosts, never
from the request's Host as sent; Hawk keeps working for clients that sign for the host
they used. Real HTTP through the Flask app, a real SQLite file."""
import pytest
import requests

from conftest import assert_error
from gateway.config.settings import SettingsError

DEVICE = {"mcc": "208", "mnc": "01"}
MT_PATH = "/v1/msisdn/sms/mt/verify"
UNREGISTER = "/v1/msisdn/unregister"


def mt_url(gw, host=None):
    headers = {"Host": host} if host else {}
    response = gw.http.post(gw.url + "/v1/msisdn/discover", json=DEVICE, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["verificationDetails"]["sms/mt"]["url"]


def endpoint(gw, host):
    return gw.http.get(gw.url + "/", headers={"Host": host}).json()["endpoint"]


def signed_for(gw, token, client_url, host=None, path=UNREGISTER):
    """What reaches us when a client signed for ``client_url`` (a proxy may rewrite Host)."""
    signed = gw.http.prepare_request(requests.Request(
        "POST", client_url + path, json={}, auth=gw.auth(token, server_url=client_url)))
    signed.url = gw.url + path
    if host is not None:
        signed.headers["Host"] = host
    return gw.http.send(signed)


HOSTILE = ["evil.example", "evil.example:8080", "EVIL.example", "127.0.0.1:5000.evil.example",
           "evil.example/x?", "[::1]:99999", "a" * 63 + ".example", "127.0.0.1:5000@evil.example"]


@pytest.mark.parametrize("host", HOSTILE)
def test_without_any_configuration_an_unknown_host_gets_the_listen_address(gateway, host):
    assert mt_url(gateway, host) == "http://127.0.0.1:5000" + MT_PATH
    assert endpoint(gateway, host) == "http://127.0.0.1:5000"


@pytest.mark.parametrize("host", HOSTILE + ["verify.example.org.evil"])
def test_with_a_public_url_an_unknown_host_gets_the_public_url(start_gateway, host):
    gw = start_gateway(public_url="https://verify.example.org")
    assert mt_url(gw, host) == "https://verify.example.org" + MT_PATH
    assert endpoint(gw, host) == "https://verify.example.org"


def test_an_allowed_host_gets_urls_on_itself_as_configured_with_the_public_scheme(start_gateway):
    gw = start_gateway(public_url="https://verify.example.org",
                       allowed_hosts=["verify.example.net", "gw.example.com:8443"])
    assert mt_url(gw, "verify.example.net") == "https://verify.example.net" + MT_PATH
    assert mt_url(gw, "Verify.Example.NET:443") == "https://verify.example.net" + MT_PATH
    assert mt_url(gw, "gw.example.com:8443") == "https://gw.example.com:8443" + MT_PATH
    assert mt_url(gw, "verify.example.net:8443") == "https://verify.example.org" + MT_PATH
    assert mt_url(gw, "gw.example.com") == "https://verify.example.org" + MT_PATH
    assert mt_url(gw, "verify.example.org") == "https://verify.example.org" + MT_PATH
    assert endpoint(gw, "gw.example.com:8443") == "https://gw.example.com:8443"


def test_without_a_public_url_allowed_hosts_keep_the_requests_scheme(start_gateway):
    gw = start_gateway(allowed_hosts=["192.0.2.10:5000", "[2001:db8::1]:5000"])
    assert mt_url(gw, "192.0.2.10:5000") == "http://192.0.2.10:5000" + MT_PATH
    assert mt_url(gw, "[2001:DB8::1]:5000") == "http://[2001:db8::1]:5000" + MT_PATH
    assert mt_url(gw, "192.0.2.10") == "http://127.0.0.1:5000" + MT_PATH
    assert mt_url(gw, "evil.example") == "http://127.0.0.1:5000" + MT_PATH


def test_without_configuration_hawk_checks_the_host_the_client_signed_for(gateway):
    """Nothing is answered from it: a MAC made for another host fails."""
    token = gateway.register()
    assert signed_for(gateway, token, "http://evil.example").status_code == 204
    token = gateway.register()
    assert_error(signed_for(gateway, token, "http://evil.example", host="other.example"),
                 401, 109)


def test_with_allowed_hosts_hawk_takes_an_allowed_host_or_the_public_url_only(start_gateway):
    gw = start_gateway(public_url="https://verify.example.org",
                       allowed_hosts=["verify.example.net"])
    cases = [  # (the URL the client signed for, the Host we receive, accepted)
        ("https://verify.example.net", "verify.example.net", True),
        ("https://verify.example.org", "verify.example.org", True),
        ("https://verify.example.org", "127.0.0.1:5000", True),  # a proxy rewrote Host
        ("https://verify.example.org", None, True),
        ("https://verify.example.net", "127.0.0.1:5000", False),
        ("http://evil.example", "evil.example", False),
        ("https://evil.example", "evil.example", False),
        ("http://verify.example.net", "verify.example.net", False),  # scheme: public_url's
    ]
    for client_url, host, accepted in cases:
        response = signed_for(gw, gw.register(), client_url, host)
        if accepted:
            assert response.status_code == 204, (client_url, host, response.text)
        else:
            assert_error(response, 401, 109)


def test_allowed_hosts_without_a_public_url_hawk_refuses_other_hosts(start_gateway):
    gw = start_gateway(allowed_hosts=["gw.lan:5000"])
    assert signed_for(gw, gw.register(), "http://gw.lan:5000", "gw.lan:5000").status_code == 204
    assert signed_for(gw, gw.register(), "http://127.0.0.1:5000").status_code == 204
    assert_error(signed_for(gw, gw.register(), "http://evil.example", "evil.example"), 401, 109)


def test_no_redirect_or_error_answer_names_the_requests_host(start_gateway):
    gw = start_gateway(public_url="https://verify.example.org")
    for method, path, host in (
            ("GET", "//", "evil.example"), ("POST", "/v1//msisdn//discover", "evil.example"),
            ("POST", "//v1/msisdn/discover", "evil.example"), ("GET", "/v1/", "evil.example"),
            ("GET", "/nowhere", "evil.example"), ("OPTIONS", "/v1/msisdn/discover", "evil"),
            ("POST", "/v1/msisdn/discover", "evil" + "a" * 300)):
        response = gw.http.request(method, gw.url + path, headers={"Host": host},
                                   allow_redirects=False, json=DEVICE)
        assert response.headers["Content-Type"] == "application/json", (path, response.text)
        assert "Location" not in response.headers, (path, response.headers)
        assert "evil" not in response.text, (path, response.text)


@pytest.mark.parametrize("value", ["evil.example/path", "https://evil.example", "a b",
                                   "host:99999", "user@host", "[zz]", "", "under_score"])
def test_allowed_hosts_are_validated_at_start(make_settings, value):
    with pytest.raises(SettingsError, match="allowed_hosts"):
        make_settings(allowed_hosts=[value])


def test_allowed_hosts_come_from_the_environment_as_a_list():
    from gateway.config.settings import load_settings

    settings = load_settings(environ={
        "MSISDN_GATEWAY_ALLOWED_HOSTS": "verify.example.net, [2001:db8::1]:8443"})
    assert settings.allowed_hosts == ("verify.example.net", "[2001:db8::1]:8443")

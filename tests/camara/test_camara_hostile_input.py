"""Hostile and malformed requests to the CAMARA face: a clear 4xx in JSON, never a 500."""
from __future__ import annotations

import pytest

from gateway.verification import clients


@pytest.fixture
def gw(gateway):
    with gateway.deps.uow() as uow:
        gateway.client = clients.add_client(uow, gateway.deps, "A", ["https://a.example/cb"])
        uow.commit()
    return gateway


REQUESTS = [
    ("post", "/oauth2/token", {"data": {"grant_type": "authorization_code", "code": "x"}}),
    ("post", "/oauth2/token", {"data": {"grant_type": "password"}}),
    ("post", "/oauth2/token", {"data": "\x00\xff garbage"}),
    ("post", "/oauth2/token", {"json": {"grant_type": "authorization_code"}}),
    ("post", "/oauth2/token", {"data": {"grant_type": "urn:openid:params:grant-type:ciba"}}),
    ("post", "/oauth2/bc-authorize", {"data": {"login_hint": "tel:+33612345678"}}),
    ("post", "/oauth2/bc-authorize", {"json": [1, 2]}),
    ("get", "/oauth2/authorize", {}),
    ("get", "/oauth2/authorize", {"params": {"response_type": "token", "client_id": "x"}}),
    ("get", "/oauth2/authorize", {"params": [("client_id", "a"), ("client_id", "b")]}),
    ("get", "/oauth2/authorize/status", {}),
    ("get", "/oauth2/authorize/status", {"params": {"proof": "NV-" + "A" * 16, "lang": "xx"}}),
    ("get", "/oauth2/authorize/continue", {"params": {"proof": ["a", "b"]}}),
    ("post", "/number-verification/v2/verify", {"data": "{not json",
                                                 "headers": {"Authorization": "Bearer x"}}),
    ("post", "/number-verification/v2/verify", {"headers": {"Authorization": "Bearer ",
                                                            "x-correlator": "x" * 5000}}),
    ("get", "/number-verification/v2/device-phone-number",
     {"headers": {"Authorization": "Bearer \u00e9t\u00e9".encode()}}),
]


@pytest.mark.parametrize("method, path, kwargs", REQUESTS)
def test_a_malformed_request_gets_a_clear_json_error(gw, method, path, kwargs):
    response = getattr(gw.http, method)(gw.url + path, allow_redirects=False, **kwargs)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert "x" * 300 not in response.headers.get("x-correlator", "")


def test_the_client_registry_refuses_what_is_no_client(gw):
    from gateway.errors import InvalidParameter
    with gw.deps.uow() as uow:
        for name, uris, hook in (("", ["https://a/cb"], None), ("A", [], None),
                                 ("A", ["https://a/cb"], "ftp://hook"),
                                 ("x" * 101, ["https://a/cb"], None),
                                 ("A", ["https://a/cb"] * 2 + [f"https://a/{i}" for i in range(10)], None)):
            with pytest.raises(InvalidParameter):
                clients.add_client(uow, gw.deps, name, uris, hook)
        assert clients.authenticate_client(uow, gw.client[0], "wrong") is None
        assert clients.authenticate_client(uow, "gw_nope", gw.client[1]) is None
        assert clients.authenticate_client(uow, gw.client[0], gw.client[1]).name == "A"

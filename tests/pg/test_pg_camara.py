"""The CAMARA face's single-use proofs and tokens on PostgreSQL (a throw-away cluster,
tests/pg/pg_cluster.py), where requests run at once under READ COMMITTED: an access token
presented by 8 requests at once answers one of them, and the codes that one proof's page
got (one per visit of its continue link) redeemed at once give one token. The flows are
those of tests/camara/test_oidc_code_flow.py, over real HTTP.

The racers come from different addresses (behind a trusted proxy): requests of one
address queue on the row lock of its per-client counter, and would never overlap."""
from __future__ import annotations

import importlib
import sys
import threading
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests

from gateway.verification import clients

# The cluster fixtures of test_postgresql (module-scoped: this module gets its own cluster).
from test_postgresql import (pg_cluster, run_threads, shared_database,  # noqa: F401
                             start_pg_gateway)

RACERS = 8


def camara_tests():
    """tests/camara/test_oidc_code_flow.py, importable by its basename as pytest does."""
    directory = str(Path(__file__).resolve().parents[1] / "camara")
    if directory not in sys.path:
        sys.path.append(directory)
    return importlib.import_module("test_oidc_code_flow")


@pytest.fixture
def shop(start_pg_gateway):
    gw = start_pg_gateway(trusted_proxies=["127.0.0.1/32"])
    with gw.deps.uow() as uow:
        client_id, secret = clients.add_client(uow, gw.deps, "Shop", [camara_tests().REDIRECT])
        uow.commit()
    return gw, client_id, secret


def at_once(request, count: int = RACERS) -> list:
    """``request(index, headers)`` sent by ``count`` threads released together, each from
    an address of its own (a connection of its own: a requests.Session is not meant to
    be shared by threads); their answers."""
    gate, answers = threading.Barrier(count), [None] * count

    def racer(index):
        headers = {"X-Forwarded-For": f"203.0.113.{index + 1}"}
        gate.wait(timeout=30)
        answers[index] = request(index, headers)

    run_threads(racer, count)
    return answers


def test_an_access_token_presented_at_once_answers_once(shop):
    gw, client_id, secret = shop
    flows = camara_tests()
    for _ in range(10):
        bearer = "Bearer " + flows.code_flow(gw, client_id, secret)["access_token"]
        answers = at_once(lambda _index, headers: requests.post(
            gw.url + "/number-verification/v2/verify", json={"phoneNumber": flows.PHONE},
            headers={**headers, "Authorization": bearer}))
        assert sorted(a.status_code for a in answers) == [200] + [401] * (RACERS - 1)


def test_the_codes_of_one_proof_redeemed_at_once_give_one_token(shop):
    gw, client_id, secret = shop
    flows = camara_tests()
    for _ in range(5):
        _session, verifier, _state, sms, cont = flows.authorize(gw, client_id, secret)
        flows.phone_sends(gw, unquote(sms.split("body=")[1]))
        codes = [parse_qs(urlsplit(gw.http.get(gw.url + cont, allow_redirects=False)
                                   .headers["Location"]).query)["code"][0]
                 for _ in range(RACERS)]

        def redeem(index, headers):
            return requests.post(gw.url + "/oauth2/token", auth=(client_id, secret),
                                headers=headers, data={
                                    "grant_type": "authorization_code", "code": codes[index],
                                    "redirect_uri": flows.REDIRECT, "code_verifier": verifier})

        answers = at_once(redeem)
        assert sorted(a.status_code for a in answers) == [200] + [400] * (RACERS - 1)

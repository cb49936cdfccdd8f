"""Phishing-resistant code SMS end to end: the real Flask app over HTTP, the real worker,
modem pool and AT driver over simulated modems, and the virtual phone that receives the
SMS. What the phone shows ends with "@<host> #<code>" (after the app hash line when one
is set), arrived as one SMS part, and the code in it verifies the number."""
import re

import pytest
import requests
from sqlalchemy import select

import modem.sim
from gateway.storage.models import OutboundPart

PHONE = "+33612345678"
ORIGIN_LINE = re.compile(r"@([a-z0-9.-]+) #([0-9]+)")
from pipeline_harness import pipeline  # noqa: F401 (a fixture)


def signed_post(gw, token, path, body, **headers):
    """Sign for the URL the client uses (public_url, as behind a TLS proxy), send to ours."""
    client_url = gw.settings.public_url or gw.url
    signed = gw.http.prepare_request(requests.Request(
        "POST", client_url + path, json=body, headers=headers,
        auth=gw.auth(token, server_url=client_url)))
    signed.url = gw.url + path
    return gw.http.send(signed)


def request_short_code(gw, token, path="/v1/msisdn/sms/mt/verify", **headers):
    body = {"msisdn": PHONE, "mcc": "208", "shortVerificationCode": True}
    response = signed_post(gw, token, path, body if path.endswith("mt/verify") else {},
                           **headers)
    assert response.status_code == 204, response.text


def verify_code(gw, token, code):
    return signed_post(gw, token, "/v1/msisdn/sms/verify_code", {"code": code}).json()


def received(gw, worker) -> list[str]:
    """What the phone received, oldest first (the due SMS sent first)."""
    worker.send_due()
    worker.sync()
    return [m["text"] for m in gw.get(f"/__sim__/phones/{PHONE}/messages").json()]


def one_part_each(gw) -> None:
    with gw.deps.uow() as uow:
        parts = list(uow.db.scalars(select(OutboundPart)))
    assert parts and all(p.part_count == 1 for p in parts)


def test_the_phone_gets_the_origin_bound_line_of_public_url_and_the_code_verifies(pipeline):
    gw, worker = pipeline(sms_origin_bound=True, public_url="https://verify.example.org")
    token = gw.register()
    request_short_code(gw, token)

    [text] = received(gw, worker)

    body, blank, last = text.split("\n")
    assert (body.startswith("Your verification code is "), blank) == (True, "")
    host, code = ORIGIN_LINE.fullmatch(last).groups()
    assert host == "verify.example.org" and re.search(rf"\b{code}\b", body)
    one_part_each(gw)
    assert verify_code(gw, token, code) == {"msisdn": PHONE}


def test_a_resent_code_in_french_carries_the_app_hash_then_the_configured_host(pipeline):
    gw, worker = pipeline(sms_origin_bound=True, sms_origin_host="shop.example.com",
                          sms_app_hash="FA+9qCX9VSu")
    token = gw.register()
    request_short_code(gw, token, **{"Accept-Language": "fr-FR"})
    [first] = received(gw, worker)
    request_short_code(gw, token, "/v1/msisdn/sms/resend_code", **{"Accept-Language": "fr"})

    again, second = received(gw, worker)

    assert again == first
    for text in (first, second):
        lines = text.split("\n")
        assert len(lines) == 4 and lines[0].startswith("Votre code de vérification est ")
        assert lines[1:3] == ["", "FA+9qCX9VSu"]
        assert ORIGIN_LINE.fullmatch(lines[3]).group(1) == "shop.example.com"
    one_part_each(gw)
    code = ORIGIN_LINE.fullmatch(second.split("\n")[-1]).group(2)
    assert verify_code(gw, token, code) == {"msisdn": PHONE}


def test_without_the_options_the_sms_is_the_one_line_text(pipeline):
    gw, worker = pipeline()
    request_short_code(gw, gw.register())
    [text] = received(gw, worker)
    assert "\n" not in text and "@" not in text

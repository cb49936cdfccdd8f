"""The Hawk checks of gateway/http/hawk.py agree with mohawk's, the reference client
library (requests-hawk signs with it): header parsing, the request MAC and the payload
hash, for the headers clients send (ext, app and dlg, query strings, ports)."""
from __future__ import annotations

import pytest
from mohawk import Sender
from mohawk.util import calculate_payload_hash, parse_authorization_header

from gateway.errors import InvalidSignature
from gateway.http import hawk

CREDENTIALS = {"id": "a" * 64, "key": "b" * 64, "algorithm": "sha256"}


@pytest.mark.parametrize("url, options", [
    ("http://127.0.0.1:5000/v1/msisdn/sms/verify_code", {}),
    ("https://Verify.Example.org/v1/msisdn/register?lang=fr&x=1", {"ext": "some data"}),
    ("https://verify.example.org:8443/v1/certificate/sign", {"app": "an-app", "dlg": "d"}),
])
def test_the_mac_and_the_header_are_read_as_mohawk_writes_them(url, options):
    body, content_type = b'{"code": "123456"}', "application/json; charset=utf-8"
    sender = Sender(CREDENTIALS, url, "POST", content=body, content_type=content_type,
                    **options)
    header = sender.request_header

    parsed = hawk.parse_header(header)
    assert parsed == parse_authorization_header(header)
    resource = sender.req_resource
    host, port, _prefix = hawk._origin(url)
    ours = hawk._Resource(CREDENTIALS["key"], parsed, "POST", resource.name, host, port)
    assert hawk.calculate_mac("header", ours, parsed["hash"]).decode() == parsed["mac"]
    assert hawk.payload_hash(body, content_type) == parsed["hash"]


@pytest.mark.parametrize("content_type", ["", "application/json", "Text/Plain ; q=1"])
@pytest.mark.parametrize("body", [b"", b"{}", "é".encode()])
def test_the_payload_hash_is_mohawks(body, content_type):
    assert hawk.payload_hash(body, content_type) == calculate_payload_hash(
        body, "sha256", content_type).decode()


@pytest.mark.parametrize("header", [
    "Basic Zm9vOmJhcg==", "Hawk", 'Hawk id="x", ts="1", nonce="n"',
    'Hawk id="x", ts="1", nonce="n", mac="m", mac="m"',
    'Hawk id="x", ts="1", nonce="n", mac="m", colour="blue"',
    'Hawk id="x", ts="1", nonce="n", mac="m" trailing',
    'Hawk id="\x01", ts="1", nonce="n", mac="m"',
    "Hawk " + "a" * 5000])
def test_a_malformed_header_is_an_invalid_signature(header):
    with pytest.raises(InvalidSignature):
        hawk.parse_header(header)

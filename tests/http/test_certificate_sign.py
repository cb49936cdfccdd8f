"""certificate/sign: BrowserID certificates checked with an independent verifier
(cryptography, from the numbers published at /.well-known/browserid)."""
import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, padding, rsa

from conftest import assert_error

NUMBER = "+33612345678"


def b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verified_session(gw, number=NUMBER):
    token = gw.register()
    assert gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": number, "mcc": "208"}, token
                   ).status_code == 204
    code = gw.last_sms_to(number)
    assert gw.post("/v1/msisdn/sms/verify_code", {"code": code}, token).status_code == 200
    return token


def check_with_well_known(gw, cert: str) -> dict:
    """Verify the RS256 signature with the key published by the server; return claims."""
    document = gw.get("/.well-known/browserid").json()["public-key"]
    assert document["algorithm"] == "RS"
    header, payload, signature = cert.split(".")
    assert json.loads(b64decode(header)) == {"alg": "RS256"}
    public = rsa.RSAPublicNumbers(int(document["e"]), int(document["n"])).public_key()
    public.verify(b64decode(signature), f"{header}.{payload}".encode(), padding.PKCS1v15(),
                  hashes.SHA256())
    return json.loads(b64decode(payload))


@pytest.fixture(scope="module")
def client_rsa_key():
    numbers = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key() \
        .public_numbers()
    return {"algorithm": "RS", "n": str(numbers.n), "e": str(numbers.e)}


def test_a_verified_number_gets_a_browserid_certificate(gateway, client_rsa_key):
    token = verified_session(gateway)
    response = gateway.post("/v1/certificate/sign",
                            {"publicKey": client_rsa_key, "duration": 3600}, token)
    assert response.status_code == 200, response.text
    claims = check_with_well_known(gateway, response.json()["cert"])
    now_ms = int(gateway.clock.now().timestamp() * 1000)
    assert claims["public-key"] == client_rsa_key
    assert claims["iss"] == gateway.settings.effective_issuer == "127.0.0.1"
    assert claims["principal"]["email"].endswith("@127.0.0.1")
    assert claims["iat"] == now_ms and claims["exp"] == now_ms + 3600 * 1000
    assert claims["verifiedMSISDN"] == NUMBER
    assert claims["lastVerifiedAt"] == now_ms // 1000


def test_the_principal_is_stable_for_a_number_and_differs_between_numbers(
        gateway, client_rsa_key):
    emails = []
    for number in (NUMBER, NUMBER, "+33698765432"):
        token = verified_session(gateway, number)
        cert = gateway.post("/v1/certificate/sign", {"publicKey": client_rsa_key}, token
                            ).json()["cert"]
        emails.append(check_with_well_known(gateway, cert)["principal"]["email"])
    assert emails[0] == emails[1] != emails[2]


def test_the_duration_is_capped_by_configuration(start_gateway, client_rsa_key):
    gw = start_gateway(certificate_max_duration=600)
    token = verified_session(gw)
    for asked in (None, 10 * 86400):
        body = {"publicKey": json.dumps(client_rsa_key)}  # a JSON string is accepted too
        if asked:
            body["duration"] = asked
        claims = check_with_well_known(
            gw, gw.post("/v1/certificate/sign", body, token).json()["cert"])
        assert claims["exp"] - claims["iat"] == 600 * 1000


def test_a_dsa_public_key_is_signed(gateway):
    private = dsa.generate_private_key(key_size=2048)
    numbers = private.public_key().public_numbers()
    group = numbers.parameter_numbers
    key = {"algorithm": "DS", "y": f"{numbers.y:x}", "p": f"{group.p:x}", "q": f"{group.q:x}",
           "g": f"{group.g:x}"}
    token = verified_session(gateway)
    response = gateway.post("/v1/certificate/sign", {"publicKey": key}, token)
    assert response.status_code == 200, response.text
    assert check_with_well_known(gateway, response.json()["cert"])["public-key"] == key


@pytest.mark.parametrize("public_key, body_extra", [
    ({"algorithm": "RS", "n": "12345", "e": "65537"}, {}),
    ({"algorithm": "XX"}, {}),
    ("{not json", {}),
    ({"algorithm": "RS", "e": "65537"}, {}),
    (None, {"duration": 0}),
    (None, {"duration": "long"}),
])
def test_bad_keys_and_durations_are_invalid_parameters(gateway, client_rsa_key, public_key,
                                                       body_extra):
    token = verified_session(gateway)
    body = {"publicKey": public_key or client_rsa_key, **body_extra}
    assert_error(gateway.post("/v1/certificate/sign", body, token), 400, 107)


def test_a_missing_public_key_is_a_missing_parameter(gateway):
    assert_error(gateway.post("/v1/certificate/sign", {}, verified_session(gateway)), 400, 108)

"""BrowserID keys and certificates (gateway.crypto.browserid).

Certificates are checked with an independent verifier built here from the
numbers of the server's public-key document: cryptography's own RSA/DSA
verification, and the textbook PKCS#1 v1.5 / DSA equations PyBrowserID uses.
"""

import base64
import hashlib
import json
import uuid

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from gateway.crypto.browserid import (
    InvalidPublicKey,
    PublicKey,
    SigningKey,
    generate_signing_key,
    load_signing_key,
    parse_public_key,
    principal_uuid,
    sign_certificate,
    verify_certificate,
)

IAT = 1_700_000_000_000
EXP = IAT + 86_400_000
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


# --- fixtures: keys are generated once per module ---------------------------

@pytest.fixture(scope="module")
def rs_server():
    return load_signing_key(generate_signing_key("RS", 2048))


@pytest.fixture(scope="module")
def ds_server():
    return load_signing_key(generate_signing_key("DS", 2048))


@pytest.fixture(scope="module", params=["RS", "DS"])
def server(request, rs_server, ds_server):
    return rs_server if request.param == "RS" else ds_server


@pytest.fixture(scope="module")
def rs_client():
    numbers = rsa.generate_private_key(65537, 1024).public_key().public_numbers()
    return {"algorithm": "RS", "n": str(numbers.n), "e": str(numbers.e)}


def _ds_dict(key_size):
    numbers = dsa.generate_private_key(key_size).public_key().public_numbers()
    group = numbers.parameter_numbers
    return {"algorithm": "DS", "y": format(numbers.y, "x"), "p": format(group.p, "x"),
            "q": format(group.q, "x"), "g": format(group.g, "x")}


@pytest.fixture(scope="module")
def ds_client():
    return _ds_dict(1024)


@pytest.fixture(scope="module")
def ds2048_client():
    return _ds_dict(2048)


def _b64decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign(server, public_key, **extra):
    return sign_certificate(server, public_key=parse_public_key(public_key),
                            email="0f1e@msisdn.example.com", issuer="msisdn.example.com",
                            issued_at_ms=IAT, expires_at_ms=EXP,
                            extra_claims=extra or {"verifiedMSISDN": "+33612345678",
                                                   "lastVerifiedAt": 1_700_000_000})


# --- parsing client public keys ---------------------------------------------

@pytest.mark.parametrize("as_string", [False, True])
def test_parse_rs(rs_client, as_string):
    key = parse_public_key(json.dumps(rs_client) if as_string else rs_client)
    assert isinstance(key, PublicKey)
    assert key.algorithm == "RS" and key.n == int(rs_client["n"]) and key.e == 65537
    assert key.to_json_dict() == rs_client


@pytest.mark.parametrize("as_string", [False, True])
def test_parse_ds(ds_client, as_string):
    key = parse_public_key(json.dumps(ds_client) if as_string else ds_client)
    assert key.algorithm == "DS" and key.y == int(ds_client["y"], 16)
    assert key.to_json_dict() == ds_client
    assert list(key.to_json_dict()) == ["algorithm", "y", "p", "q", "g"]


def test_parse_ds_2048(ds2048_client):
    assert parse_public_key(ds2048_client).to_json_dict() == ds2048_client


def test_rs_integers_are_accepted_and_canonicalised(rs_client):
    key = parse_public_key({"algorithm": "RS", "n": int(rs_client["n"]), "e": 65537})
    assert key.to_json_dict() == rs_client
    assert parse_public_key({**rs_client, "n": "000" + rs_client["n"]}).to_json_dict() == rs_client


def test_ds_hex_is_canonicalised(ds_client):
    shouting = {k: ("00" + v.upper() if k != "algorithm" else v) for k, v in ds_client.items()}
    assert parse_public_key(shouting).to_json_dict() == ds_client


def test_unknown_members_are_dropped_from_the_canonical_form(rs_client):
    key = parse_public_key({**rs_client, "kid": "mine"})
    assert key.to_json_dict() == rs_client


def test_public_key_is_frozen_and_validated_on_construction(rs_client):
    key = parse_public_key(rs_client)
    with pytest.raises(AttributeError):
        key.e = 3
    with pytest.raises(InvalidPublicKey):
        PublicKey("RS", n=key.n, e=4)


def _odd(bits):
    return (1 << (bits - 1)) | 1


def _rs(n, e=65537):
    return {"algorithm": "RS", "n": str(n), "e": str(e)}


def _ds_with(ds_client, **changes):
    numbers = {k: int(v, 16) for k, v in ds_client.items() if k != "algorithm"}
    numbers.update(changes)
    return {"algorithm": "DS", **{k: format(v, "x") for k, v in numbers.items()}}


DROP = object()


def _rsk(modulus, /, **changes):
    """An RS key dict with n, e = "65537" and the given members changed (DROP removes)."""
    key = {"algorithm": "RS", "n": modulus, "e": "65537", **changes}
    return {k: v for k, v in key.items() if v is not DROP}


RS_INVALID = {  # case: (expected message fragment, key from a valid decimal n)
    "unknown algorithm": ("algorithm", lambda n: _rsk(n, algorithm="EC")),
    "lowercase algorithm": ("algorithm", lambda n: _rsk(n, algorithm="rs")),
    "no algorithm": ("algorithm", lambda n: _rsk(n, algorithm=DROP)),
    "missing n": ("n is missing", lambda n: _rsk(n, n=DROP)),
    "missing e": ("e is missing", lambda n: _rsk(n, e=DROP)),
    "n float": ("decimal", lambda n: _rsk(12345.0)),
    "e float": ("decimal", lambda n: _rsk(n, e=65537.0)),
    "e bool": ("decimal", lambda n: _rsk(n, e=True)),
    "n list": ("decimal", lambda n: _rsk([n])),
    "n null": ("decimal", lambda n: _rsk(None)),
    "n hex": ("decimal", lambda n: _rsk(format(int(n), "x"))),
    "n negative": ("decimal", lambda n: _rsk("-" + n)),
    "n spaces": ("decimal", lambda n: _rsk(" " + n)),
    "n underscores": ("decimal", lambda n: _rsk(n[:5] + "_" + n[5:])),
    "n arabic digits": ("decimal", lambda n: _rsk("\u0661\u0662\u0663")),
    "n empty": ("decimal", lambda n: _rsk("")),
    "e zero int": ("decimal", lambda n: _rsk(n, e=0)),
    "n too small": ("1023 bits", lambda n: _rs(_odd(1023))),
    "n 512 bits": ("512 bits", lambda n: _rs(_odd(512))),
    "n too large": ("8193 bits", lambda n: _rs(_odd(8193))),
    "n absurdly long": ("decimal", lambda n: _rs("9" * 5000)),
    "n even": ("even", lambda n: _rs(int(n) + 1)),
    "e even": ("odd", lambda n: _rs(int(n), 65536)),
    "e one": ("at least 3", lambda n: _rs(int(n), 1)),
    "e not below n": ("smaller than n", lambda n: _rs(int(n), int(n) + 2)),
    "private exponent d": ("private key", lambda n: _rsk(n, d="3")),
    "DS member y": ("not used by algorithm RS", lambda n: _rsk(n, y="ab")),
}


@pytest.mark.parametrize("case", sorted(RS_INVALID))
def test_invalid_rs_keys(rs_client, case):
    message, make = RS_INVALID[case]
    value = make(rs_client["n"])
    with pytest.raises(InvalidPublicKey, match=message):
        parse_public_key(value)
    with pytest.raises(InvalidPublicKey):
        parse_public_key(json.dumps(value))


COMPOSITE_Q = (1 << 159) + 1  # a multiple of 3; q * 2**864 + 1 is an odd 1024-bit p, q | p - 1

DS_INVALID = {  # case: (expected message fragment, key from a valid DSA-1024 key)
    "missing g": ("g is missing", lambda d: {k: v for k, v in d.items() if k != "g"}),
    "missing y": ("y is missing", lambda d: {k: v for k, v in d.items() if k != "y"}),
    "y as integer": ("hexadecimal", lambda d: {**d, "y": int(d["y"], 16)}),
    "y 0x prefix": ("hexadecimal", lambda d: {**d, "y": "0x" + d["y"]}),
    "y not hex": ("hexadecimal", lambda d: {**d, "y": "xyz"}),
    "y empty": ("hexadecimal", lambda d: {**d, "y": ""}),
    "p absurdly long": ("hexadecimal", lambda d: {**d, "p": "f" * 5000}),
    "private x": ("private key", lambda d: {**d, "x": "12"}),
    "RS member n": ("not used by algorithm DS", lambda d: {**d, "n": "12"}),
    "base64 data format": ("version", lambda d: {**d, "version": "2012.08.15"}),
    "q does not divide p-1": ("inconsistent", lambda d: _ds_with(d, q=int(d["q"], 16) + 2)),
    "q not prime": ("inconsistent", lambda d: _ds_with(d, q=COMPOSITE_Q, p=(COMPOSITE_Q << 864) + 1)),
    "p even": ("inconsistent", lambda d: _ds_with(d, p=int(d["p"], 16) + 1)),
    "g one": ("publicKey.g", lambda d: _ds_with(d, g=1)),
    "g equals p": ("publicKey.g", lambda d: _ds_with(d, g=int(d["p"], 16))),
    "g wrong order": ("order q", lambda d: _ds_with(d, g=int(d["p"], 16) - 1)),
    "y one": ("publicKey.y", lambda d: _ds_with(d, y=1)),
    "y p-1": ("publicKey.y", lambda d: _ds_with(d, y=int(d["p"], 16) - 1)),
    "y above p": ("publicKey.y", lambda d: _ds_with(d, y=int(d["p"], 16) + 5)),
    "y outside subgroup": ("subgroup", lambda d: _ds_with(d, y=2)),
    "sizes 1024/256": ("1024/256", lambda d: _ds_with(d, q=_odd(256))),
    "sizes 2048/160": ("2048/160", lambda d: _ds_with(d, p=_odd(2048))),
    "sizes 512/160": ("512/160", lambda d: _ds_with(d, p=_odd(512))),
}


@pytest.mark.parametrize("case", sorted(DS_INVALID))
def test_invalid_ds_keys(ds_client, case):
    message, make = DS_INVALID[case]
    value = make(ds_client)
    with pytest.raises(InvalidPublicKey, match=message):
        parse_public_key(value)
    with pytest.raises(InvalidPublicKey):
        parse_public_key(json.dumps(value))


@pytest.mark.parametrize("value", [None, 5, [], ["RS"], "", "{", "[1]", '"RS"', "null",
                                   "[" * 100_000, b'{"algorithm": "RS"}'])
def test_public_key_must_be_an_object(value):
    with pytest.raises(InvalidPublicKey):
        parse_public_key(value)


def test_invalid_public_key_is_a_value_error():
    assert issubclass(InvalidPublicKey, ValueError)


# --- the server's signing key -----------------------------------------------

def test_server_keys(rs_server, ds_server):
    assert isinstance(rs_server, SigningKey) and rs_server.algorithm == "RS256"
    assert ds_server.algorithm == "DS256"
    rs_doc = rs_server.public_key_document()
    assert set(rs_doc) == {"algorithm", "n", "e"} and rs_doc["algorithm"] == "RS"
    assert int(rs_doc["n"]).bit_length() == 2048 and rs_doc["e"] == "65537"
    ds_doc = ds_server.public_key_document()
    assert list(ds_doc) == ["algorithm", "y", "p", "q", "g"]
    assert int(ds_doc["p"], 16).bit_length() == 2048 and int(ds_doc["q"], 16).bit_length() == 256
    for doc in (rs_doc, ds_doc):  # documents are valid BrowserID keys in canonical form
        assert parse_public_key(doc).to_json_dict() == doc


def test_generated_key_is_pkcs8_pem():
    pem = generate_signing_key()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert load_signing_key(pem).algorithm == "RS256"


@pytest.mark.parametrize("kind, bits", [("RS", 1024), ("RS", 4096), ("DS", 1024), ("EC", 256)])
def test_generate_unsupported(kind, bits):
    with pytest.raises(ValueError):
        generate_signing_key(kind, bits)


def _pem(key, password=None):
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             encryption)


@pytest.mark.parametrize("make_pem, message", [
    (lambda: b"", "readable"),
    (lambda: b"not a key", "readable"),
    (lambda: b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "readable"),
    (lambda: _pem(ec.generate_private_key(ec.SECP256R1())), "unsupported signing key type"),
    (lambda: _pem(rsa.generate_private_key(65537, 1024)), "RSA-2048"),
    (lambda: _pem(dsa.generate_private_key(1024)), "DSA-2048/256"),
    (lambda: _pem(rsa.generate_private_key(65537, 1024), b"secret"), "readable"),
])
def test_load_signing_key_errors(make_pem, message):
    with pytest.raises(ValueError, match=message):
        load_signing_key(make_pem())


# --- certificates -----------------------------------------------------------

def _independent_verify(cert, document):
    """Verify cert from the document's numbers only, as a relying party would."""
    header_b64, payload_b64, signature_b64 = cert.split(".")
    signed = f"{header_b64}.{payload_b64}".encode()
    signature = _b64decode(signature_b64)
    alg = json.loads(_b64decode(header_b64))["alg"]
    if document["algorithm"] == "RS":
        assert alg == "RS256"
        n, e = int(document["n"]), int(document["e"])
        rsa.RSAPublicNumbers(e, n).public_key().verify(
            signature, signed, padding.PKCS1v15(), hashes.SHA256())
        # textbook PKCS#1 v1.5, as PyBrowserID's pure-python verifier does it
        em = pow(int.from_bytes(signature, "big"), e, n).to_bytes(256, "big")
        tail = b"\x00" + SHA256_DIGEST_INFO + hashlib.sha256(signed).digest()
        assert em == b"\x00\x01" + b"\xff" * (256 - 2 - len(tail)) + tail
    else:
        assert alg == "DS256" and len(signature) == 64
        y, p, q, g = (int(document[k], 16) for k in ("y", "p", "q", "g"))
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        public = dsa.DSAPublicNumbers(y, dsa.DSAParameterNumbers(p, q, g)).public_key()
        public.verify(encode_dss_signature(r, s), signed, hashes.SHA256())
        # textbook DSA, as PyBrowserID's pure-python verifier does it
        assert 0 < r < q and 0 < s < q
        w = pow(s, -1, q)
        h = int.from_bytes(hashlib.sha256(signed).digest(), "big")
        assert pow(g, h * w % q, p) * pow(y, r * w % q, p) % p % q == r
    return json.loads(_b64decode(payload_b64))


def test_certificate_verifies_independently(server, rs_client):
    cert = _sign(server, rs_client)
    claims = _independent_verify(cert, server.public_key_document())
    assert claims == verify_certificate(cert, server.public_key_document())


def test_certificate_format_and_claims(server, ds_client):
    cert = _sign(server, json.dumps(ds_client))
    parts = cert.split(".")
    assert len(parts) == 3 and "=" not in cert and "+" not in cert and "/" not in cert
    assert json.loads(_b64decode(parts[0])) == {"alg": server.algorithm}
    assert b" " not in _b64decode(parts[1])  # compact JSON, as browserid-crypto
    claims = verify_certificate(cert, server.public_key_document())
    assert claims == {
        "public-key": ds_client,
        "principal": {"email": "0f1e@msisdn.example.com"},
        "iat": IAT, "exp": EXP, "iss": "msisdn.example.com",
        "verifiedMSISDN": "+33612345678", "lastVerifiedAt": 1_700_000_000,
    }
    assert type(claims["iat"]) is int and type(claims["exp"]) is int
    assert list(claims)[:5] == ["public-key", "principal", "iat", "exp", "iss"]


def test_tampered_payload_is_rejected(server, rs_client):
    header, payload, signature = _sign(server, rs_client).split(".")
    claims = json.loads(_b64decode(payload))
    claims["exp"] += 1
    forged = _b64encode(json.dumps(claims, separators=(",", ":")).encode())
    document = server.public_key_document()
    with pytest.raises(ValueError, match="signature"):
        verify_certificate(f"{header}.{forged}.{signature}", document)
    with pytest.raises((InvalidSignature, AssertionError)):
        _independent_verify(f"{header}.{forged}.{signature}", document)


def test_tampered_signature_and_wrong_key_are_rejected(rs_server, ds_server, rs_client):
    cert = _sign(rs_server, rs_client)
    head, _, signature = cert.rpartition(".")
    flipped = bytearray(_b64decode(signature))
    flipped[-1] ^= 1
    with pytest.raises(ValueError, match="signature"):
        verify_certificate(f"{head}.{_b64encode(bytes(flipped))}", rs_server.public_key_document())
    other = load_signing_key(generate_signing_key("RS"))
    with pytest.raises(ValueError, match="signature"):
        verify_certificate(cert, other.public_key_document())
    with pytest.raises(ValueError, match="alg"):
        verify_certificate(cert, ds_server.public_key_document())


def test_ds_signature_is_checked(ds_server, rs_client):
    cert = _sign(ds_server, rs_client)
    head, _, signature = cert.rpartition(".")
    document = ds_server.public_key_document()
    q = int(document["q"], 16).to_bytes(32, "big")
    for bad in (b"", b"\0" * 64, q + q, _b64decode(signature) + b"\0"):
        with pytest.raises(ValueError, match="signature"):
            verify_certificate(f"{head}.{_b64encode(bad)}", document)


@pytest.mark.parametrize("cert", [
    "", "a.b", "a.b.c.d", "!!!.e30.AA", "e30.e30.AA+/", "bm90IGpzb24.e30.AA", "W10.e30.AA",
    "e30.bm90IGpzb24.AA", "e30.W10.AA", "e30.e30.A", None, 42,
])
def test_malformed_certificates(rs_server, cert):
    with pytest.raises(ValueError):
        verify_certificate(cert, rs_server.public_key_document())


@pytest.mark.parametrize("document", [
    {}, {"algorithm": "EC"}, {"algorithm": "RS", "n": "12"}, {"algorithm": "RS", "n": 5, "e": 3},
    {"algorithm": "DS", "y": "zz", "p": "1", "q": "1", "g": "1"},
])
def test_unusable_documents(rs_server, rs_client, document):
    with pytest.raises(ValueError):
        verify_certificate(_sign(rs_server, rs_client), document)


def test_rsa_document_of_another_size_is_unsupported(rs_server, rs_client):
    with pytest.raises(ValueError, match="unsupported"):
        verify_certificate(_sign(rs_server, rs_client), rs_client)


@pytest.mark.parametrize("changes, error", [
    ({"extra_claims": {"iss": "evil.example.com"}}, ValueError),
    ({"extra_claims": {"public-key": {}}}, ValueError),
    ({"expires_at_ms": IAT}, ValueError),
    ({"issued_at_ms": IAT // 1000, "expires_at_ms": EXP // 1000}, ValueError),
    ({"issued_at_ms": float(IAT)}, ValueError),
    ({"email": "no-at-sign"}, ValueError),
    ({"issuer": ""}, ValueError),
    ({"extra_claims": {"lastVerifiedAt": float("nan")}}, ValueError),
    ({"extra_claims": {"when": object()}}, TypeError),
    ({"public_key": {"algorithm": "RS"}}, TypeError),
])
def test_sign_certificate_argument_errors(rs_server, rs_client, changes, error):
    arguments = dict(public_key=parse_public_key(rs_client), email="a@b.example",
                     issuer="b.example", issued_at_ms=IAT, expires_at_ms=EXP, extra_claims={})
    arguments.update(changes)
    with pytest.raises(error):
        sign_certificate(rs_server, **arguments)


# --- principal uuid ---------------------------------------------------------

def test_principal_uuid():
    secret = b"s" * 32
    first = principal_uuid(secret, "+33612345678")
    assert first == principal_uuid(secret, "+33612345678")
    parsed = uuid.UUID(first)
    assert str(parsed) == first and parsed.version == 4 and parsed.variant == uuid.RFC_4122
    assert principal_uuid(secret, "+33612345679") != first
    assert principal_uuid(b"t" * 32, "+33612345678") != first


@pytest.mark.parametrize("secret, msisdn", [(b"", "+33612345678"), ("text", "+33612345678"),
                                            (b"s" * 32, ""), (b"s" * 32, None)])
def test_principal_uuid_arguments(secret, msisdn):
    with pytest.raises(ValueError):
        principal_uuid(secret, msisdn)

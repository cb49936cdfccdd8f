"""Session tokens -> Hawk credentials (as requests-hawk derives them), keyed digests and
sealing of values at rest."""
from __future__ import annotations

import hashlib
import hmac
import re

import pytest
from requests_hawk import HawkAuth

from gateway.crypto.tokens import (SealError, ServerSecret, derive_hawk_credentials,
                                   hkdf_sha256, new_session_token)

HEX64 = re.compile(r"^[0-9a-f]{64}$")
TOKEN = bytes.fromhex("a0b1c2d3e4f5061728394a5b6c7d8e9f00112233445566778899aabbccddeeff")
SECRET = ServerSecret(bytes(range(32)))


def rfc5869_hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF written from RFC 5869 with hmac/hashlib only (an empty salt means HashLen
    zero bytes)."""
    prk = hmac.new(salt or b"\0" * 32, ikm, hashlib.sha256).digest()
    okm, block = b"", b""
    for counter in range(1, -(-length // 32) + 1):
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
    return okm[:length]


def test_the_independent_hkdf_reproduces_rfc_5869_test_case_3():
    # RFC 5869 appendix A.3: SHA-256, zero-length salt and info.
    okm = rfc5869_hkdf_sha256(b"\x0b" * 22, b"", b"", 42)

    assert okm.hex() == ("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
                         "9d201395faa4b61a96c8")


def test_the_gateway_hkdf_reproduces_rfc_5869_test_case_1():
    okm = hkdf_sha256(b"\x0b" * 22, info=bytes(range(0xf0, 0xfa)), length=42,
                      salt=bytes(range(0x0d)))

    assert okm.hex() == ("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                         "34007208d5b887185865")


@pytest.mark.parametrize("token", [TOKEN, bytes(32), b"\xff" * 32])
def test_hawk_credentials_are_exactly_what_requests_hawk_computes(token):
    client = HawkAuth(hawk_session=token.hex()).credentials

    credentials = derive_hawk_credentials(token)

    assert credentials.id == client["id"].decode("ascii")
    assert credentials.key == client["key"].decode("ascii")


def test_hawk_credentials_are_the_two_halves_of_hkdf_of_the_token_per_rfc_5869():
    material = rfc5869_hkdf_sha256(TOKEN, b"", b"identity.mozilla.com/picl/v1/sessionToken", 64)

    credentials = derive_hawk_credentials(TOKEN)

    assert (credentials.id, credentials.key) == (material[:32].hex(), material[32:].hex())


def test_hawk_ids_and_keys_are_64_lowercase_hex_and_differ_per_token():
    first = derive_hawk_credentials(new_session_token())
    second = derive_hawk_credentials(new_session_token())

    for value in (first.id, first.key, second.id, second.key):
        assert HEX64.match(value)
    assert first.id != first.key
    assert first.id != second.id


def test_new_session_tokens_are_32_random_bytes():
    tokens = {new_session_token() for _ in range(20)}

    assert len(tokens) == 20
    assert all(len(token) == 32 for token in tokens)


def test_a_sealed_value_opens_with_the_same_hawk_id_and_purpose():
    hawk_id = derive_hawk_credentials(TOKEN).id

    sealed = SECRET.seal(hawk_id, "msisdn", "+33612345678")

    assert b"+33612345678" not in sealed
    assert SECRET.open(hawk_id, "msisdn", sealed) == "+33612345678"


def test_sealing_twice_gives_different_bytes():
    hawk_id = derive_hawk_credentials(TOKEN).id

    assert SECRET.seal(hawk_id, "msisdn", "+33612345678") != SECRET.seal(
        hawk_id, "msisdn", "+33612345678")


def test_a_sealed_value_does_not_open_with_another_hawk_id():
    sealed = SECRET.seal(derive_hawk_credentials(TOKEN).id, "msisdn", "+33612345678")
    other = derive_hawk_credentials(bytes(32)).id

    with pytest.raises(SealError):
        SECRET.open(other, "msisdn", sealed)


def test_a_sealed_value_does_not_open_with_another_server_secret():
    hawk_id = derive_hawk_credentials(TOKEN).id
    sealed = SECRET.seal(hawk_id, "msisdn", "+33612345678")

    with pytest.raises(SealError):
        ServerSecret(bytes(range(1, 33))).open(hawk_id, "msisdn", sealed)


def test_a_sealed_value_does_not_open_for_another_purpose():
    hawk_id = derive_hawk_credentials(TOKEN).id
    sealed = SECRET.seal(hawk_id, "msisdn", "+33612345678")

    with pytest.raises(SealError):
        SECRET.open(hawk_id, "hawk-key", sealed)


@pytest.mark.parametrize("tamper", [
    lambda sealed: sealed[:-1] + bytes([sealed[-1] ^ 1]),  # tag
    lambda sealed: sealed[:14] + bytes([sealed[14] ^ 1]) + sealed[15:],  # ciphertext
    lambda sealed: bytes([sealed[0] ^ 1]) + sealed[1:],  # nonce
    lambda sealed: sealed[:20],  # truncated
    lambda sealed: b"",
])
def test_tampered_sealed_bytes_raise_seal_error(tamper):
    hawk_id = derive_hawk_credentials(TOKEN).id
    sealed = SECRET.seal(hawk_id, "msisdn", "+33612345678")

    with pytest.raises(SealError):
        SECRET.open(hawk_id, "msisdn", tamper(sealed))


def test_the_server_secret_repr_does_not_reveal_the_secret():
    raw = bytes.fromhex("5e" * 32)
    secret = ServerSecret(raw)

    text = repr(secret) + str(secret) + f"{secret!r}"

    assert "5e5e" not in text and repr(raw) not in text
    assert "hidden" in repr(secret)


def test_a_short_server_secret_is_refused():
    with pytest.raises(ValueError, match="32 bytes"):
        ServerSecret(b"too short")


def test_digests_are_keyed_hex_and_stable():
    digest = SECRET.digest("hawk-id", "abc")

    assert HEX64.match(digest)
    assert digest == SECRET.digest("hawk-id", b"abc")
    assert digest != ServerSecret(bytes(range(1, 33))).digest("hawk-id", "abc")
    assert digest != hashlib.sha256(b"abc").hexdigest()


def test_digests_are_domain_separated_by_purpose():
    assert SECRET.digest("hawk-id", "abc") != SECRET.digest("code", "abc")
    # The purpose and the value cannot slide into each other.
    assert SECRET.digest("ab", "c") != SECRET.digest("a", "bc")


def test_derived_keys_are_32_bytes_and_differ_per_purpose():
    first, second = SECRET.derive("nonce"), SECRET.derive("client")

    assert len(first) == len(second) == 32
    assert first != second
    assert first == SECRET.derive("nonce")

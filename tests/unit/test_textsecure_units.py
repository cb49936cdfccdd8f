"""TextSecure's pieces without HTTP: the localised code SMS, password hashing, contact
tokens and prekey parsing."""
from __future__ import annotations

import base64
import hashlib

import pytest

from gateway.i18n import SUPPORTED_LANGUAGES, textsecure_code_sms
from gateway.verification import account_passwords as passwords
from gateway.verification.account_keys import BadKey, parse_prekeys, parse_tokens
from gateway.verification.accounts import directory_token

KEY = base64.b64encode(b"\x05" + bytes(range(32))).decode().rstrip("=")


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_the_code_sms_shows_the_code_with_a_dash_in_every_language(lang):
    text = textsecure_code_sms("012345", [lang])
    assert text.endswith("012-345") and text.count("012-345") == 1
    assert "TextSecure" in text
    assert len(text) <= 70  # one SMS part, even in UCS-2


def test_english_is_the_seeds_text_and_the_fallback():
    assert textsecure_code_sms("123456", ["da"]) == "Your TextSecure verification code: 123-456"


@pytest.mark.parametrize("code", ["12345", "1234567", "12345a", "١٢٣٤٥٦", 123456])
def test_anything_but_six_digits_is_refused(code):
    with pytest.raises(ValueError):
        textsecure_code_sms(code, ["en"])


def test_passwords_are_scrypt_hashes_that_check_only_the_right_password():
    stored = passwords.hash_password("correct horse")
    scheme, log2_n, r, p, salt, digest = stored.split("$")
    assert (scheme, int(log2_n), int(r), int(p)) == ("scrypt", 14, 8, 1)
    assert len(bytes.fromhex(salt)) == 16 and len(bytes.fromhex(digest)) == 32
    assert passwords.hash_password("correct horse") != stored  # salted
    assert not passwords.remembered("correct horse", stored)
    assert passwords.check_password("correct horse", stored)
    assert passwords.remembered("correct horse", stored)
    assert not passwords.remembered("correct horsE", stored)
    assert passwords.check_password("correct horse", stored)  # remembered
    assert not passwords.check_password("correct horsE", stored)
    with pytest.raises(passwords.PasswordHashError):
        passwords.check_password("x", "md5$abc")


def test_the_contact_token_is_the_seeds():
    number = "+33612345678"
    expected = base64.b64encode(hashlib.sha1(number.encode()).digest()[:10]).decode()
    assert directory_token(number) == expected.rstrip("=") and len(directory_token(number)) == 14
    assert parse_tokens([directory_token(number)] * 2) == [directory_token(number)]
    for bad in (["abc"], [expected], [None], "x", [directory_token(number)] * 3000):
        with pytest.raises(ValueError):
            parse_tokens(bad)


def test_prekeys_are_parsed_from_the_seeds_format():
    body = {"lastResortKey": {"keyId": 0xFFFFFF, "publicKey": KEY, "identityKey": KEY},
            "keys": [{"keyId": n, "publicKey": KEY, "identityKey": KEY} for n in (0, 7)]}
    keys, last_resort = parse_prekeys(body)
    assert [k.key_id for k in keys] == [0, 7] and last_resort.key_id == 0xFFFFFF
    for broken in ({**body, "keys": body["keys"] * 2}, {**body, "keys": None},
                   {**body, "lastResortKey": None}, {**body, "keys": [{"keyId": True}]}):
        with pytest.raises(BadKey):
            parse_prekeys(broken)

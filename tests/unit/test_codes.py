"""Verification codes: six uniform digits or 32 random bytes as hex, stored as keyed
hashes bound to their session, compared in constant time."""
from __future__ import annotations

import hmac
import re
import secrets

from gateway.crypto.tokens import ServerSecret
from gateway.verification import codes

SECRET = ServerSecret(bytes(range(32)))
SESSION = "a" * 64
OTHER_SESSION = "b" * 64


def test_a_short_code_is_six_digits():
    for _ in range(50):
        assert re.fullmatch(r"[0-9]{6}", codes.new_short_code())


def test_a_short_code_keeps_its_leading_zeros(monkeypatch):
    monkeypatch.setattr(secrets, "randbelow", lambda bound: 42)

    assert codes.new_short_code() == "000042"


def test_a_short_code_is_drawn_uniformly_from_a_million_values(monkeypatch):
    bounds = []

    def randbelow(bound):
        bounds.append(bound)
        return bound - 1

    monkeypatch.setattr(secrets, "randbelow", randbelow)

    assert codes.new_short_code() == "999999"
    assert bounds == [10 ** 6]


def test_a_long_code_is_32_random_bytes_as_64_lowercase_hex(monkeypatch):
    requested = []
    real_token_bytes = secrets.token_bytes

    def token_bytes(count=None):
        requested.append(count)
        return bytes(range(0xa0, 0xa0 + count))

    monkeypatch.setattr(secrets, "token_bytes", token_bytes)
    code = codes.new_long_code()
    monkeypatch.setattr(secrets, "token_bytes", real_token_bytes)

    assert requested == [32]
    assert code == bytes(range(0xa0, 0xc0)).hex()
    assert re.fullmatch(r"[0-9a-f]{64}", codes.new_long_code())


def test_codes_are_not_repeated():
    assert len({codes.new_long_code() for _ in range(20)}) == 20


def test_a_code_matches_its_own_digest():
    stored = codes.code_digest(SECRET, SESSION, "012345")

    assert codes.code_matches(SECRET, SESSION, "012345", stored)
    assert not codes.code_matches(SECRET, SESSION, "012346", stored)


def test_the_stored_digest_is_not_the_code():
    code = codes.new_long_code()

    stored = codes.code_digest(SECRET, SESSION, code)

    assert code not in stored and stored != code


def test_a_long_code_matches_when_typed_in_upper_case_with_surrounding_blanks():
    code = codes.new_long_code()
    stored = codes.code_digest(SECRET, SESSION, code)

    assert codes.code_matches(SECRET, SESSION, f"  {code.upper()}\n", stored)


def test_a_short_code_matches_with_surrounding_blanks():
    stored = codes.code_digest(SECRET, SESSION, "000042")

    assert codes.code_matches(SECRET, SESSION, " 000042 ", stored)
    assert not codes.code_matches(SECRET, SESSION, "42", stored)


def test_a_code_for_one_session_does_not_match_another_session():
    stored = codes.code_digest(SECRET, SESSION, "123456")

    assert not codes.code_matches(SECRET, OTHER_SESSION, "123456", stored)
    assert codes.code_digest(SECRET, OTHER_SESSION, "123456") != stored


def test_a_code_does_not_match_under_another_server_secret():
    stored = codes.code_digest(SECRET, SESSION, "123456")

    assert not codes.code_matches(ServerSecret(bytes(range(1, 33))), SESSION, "123456", stored)


def test_codes_are_compared_with_hmac_compare_digest(monkeypatch):
    calls = []
    real_compare = hmac.compare_digest

    def spy(left, right):
        calls.append((left, right))
        return real_compare(left, right)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    stored = codes.code_digest(SECRET, SESSION, "123456")

    assert codes.code_matches(SECRET, SESSION, "123456", stored)
    assert not codes.code_matches(SECRET, SESSION, "654321", stored)
    assert len(calls) == 2
    assert all(right == stored for _left, right in calls)


"""Phishing-resistant code SMS: the origin-bound line "@<host> #<code>" (WebOTP) and the
Android SMS Retriever app hash that gateway.i18n.short_code_sms can add, read back the
way the specifications and Chrome read them, and encoded by the modem's own PDU codec in
every shipped language to prove that each still fits one SMS part.

Sources of the rules tested here:
- WICG, "Origin-bound one-time codes delivered via SMS", https://wicg.github.io/sms-one-time-codes/
  (section 3.2 Parsing: the last line; "@" host, one space, "#" code; trailing text ignored).
- Chromium content/browser/sms/sms_parser.cc, kOtpFormatRegex (what Chrome's WebOTP matches).
- Google, "Perform SMS Verification on a Server", https://developers.google.com/identity/sms-retriever/verify
  (no longer than 140 bytes, contains the code, includes the 11-character app hash).
"""
from __future__ import annotations

import re

import pytest

from gateway import i18n
from gateway.i18n import (MAX_LINED_CODE_DIGITS, MAX_LINED_VALID_MINUTES, MAX_ORIGIN_HOST_LENGTH,
                          SUPPORTED_LANGUAGES, short_code_sms)
from gateway.verification.codes import SHORT_CODE_DIGITS
from modem.pdu.codec import decode_submit, encode_submit
from modem.pdu.user_data import DCS_GSM7, encode_text

HOST = "verify.example.org"
APP_HASH = "FA+9qCX9VSu"  # Google's example hash
# The longest host allowed, in labels of at most 63 characters.
LONGEST_HOST = "a" * 31 + "." + "b" * 28 + ".org"
OPTIONS = {
    "origin-bound": {"origin_host": LONGEST_HOST},
    "app hash": {"app_hash": APP_HASH},
    "both": {"origin_host": LONGEST_HOST, "app_hash": APP_HASH},
}
# Every plural form of every language (Polish: 1, 2-4, 5-21, 22-24...) and every width.
MINUTES = [1, 2, 4, 5, 10, 12, 21, 22, 99, 100, 999, 1000, MAX_LINED_VALID_MINUTES]
PHONE = "+33612345678"


# --- how the readers read it -----------------------------------------------------

ASCII_WHITESPACE = "\t\n\f\r "


def wicg_parse(message: str) -> tuple[str, str] | None:
    """(top-level host, code) by the WICG parsing steps, or None for failure."""
    line = message.replace("\r\n", "\n").replace("\r", "\n").split("\n")[-1]
    position = 0

    def marked_token(marker: str) -> str | None:
        nonlocal position
        if position >= len(line) or line[position] != marker:
            return None
        position += 1
        start = position
        while position < len(line) and line[position] not in ASCII_WHITESPACE:
            position += 1
        return line[start:position] or None

    host = marked_token("@")
    if host is None or position >= len(line) or line[position] != " ":
        return None
    position += 1
    code = marked_token("#")
    return None if code is None else (host, code)


# Chromium's kOtpFormatRegex, searched anywhere in the message (re2::RE2::PartialMatch).
CHROME_OTP = re.compile(r"(?:^|\s)@([a-zA-Z0-9.-]+) #([^#\s]+)(?: @([a-zA-Z0-9.-]+))?")


def one_part(text: str) -> bytes:
    """The user data of ``text`` as the modem sends it; fails unless it is one part
    without a concatenation header, and decodes back to the same text."""
    [part] = encode_submit(PHONE, text)
    assert (part.part_count, part.reference) == (1, None)
    assert decode_submit(part.pdu_hex, part.tpdu_length).text == text
    dcs, [payload] = encode_text(text)
    assert dcs == DCS_GSM7, f"not GSM-7: {text!r}"
    return payload


def test_the_parsers_of_this_file_follow_the_spec_examples():
    assert wicg_parse("747723 is your ExampleCo authentication code.\n\n@example.com #747723") \
        == ("example.com", "747723")
    assert wicg_parse("@example.com #747723 @ecommerce.example $future") == ("example.com", "747723")
    assert wicg_parse("something @example.com #747723") is None
    assert wicg_parse("#747723 @ecommerce.example @example.com") is None
    assert wicg_parse("@example.com code #747723") is None
    assert wicg_parse("@example.com #747723\n") is None  # not the last line
    assert CHROME_OTP.search("Your OTP is: 123456.\n\n@www.example.com #123456").groups()[:2] == (
        "www.example.com", "123456")


# --- the text --------------------------------------------------------------------


def test_the_origin_bound_line_ends_the_english_text():
    assert short_code_sms("123456", ["en"], valid_minutes=10, origin_host=HOST) == (
        "Your verification code is 123456. It expires in 10 minutes.\n"
        "\n"
        "@verify.example.org #123456")


def test_the_app_hash_ends_the_text_on_its_own_line():
    assert short_code_sms("123456", ["en"], valid_minutes=1, app_hash=APP_HASH) == (
        "Your verification code is 123456. It expires in 1 minute.\n"
        "\n"
        "FA+9qCX9VSu")


def test_with_both_the_hash_comes_just_before_the_origin_bound_line():
    text = short_code_sms("123456", ["en"], valid_minutes=10, origin_host=HOST,
                          app_hash=APP_HASH)
    assert text.split("\n") == ["Your verification code is 123456. It expires in 10 minutes.",
                                "", "FA+9qCX9VSu", "@verify.example.org #123456"]


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
@pytest.mark.parametrize("option", OPTIONS)
def test_every_language_and_option_is_read_as_the_specs_say(lang, option):
    options = OPTIONS[option]
    text = short_code_sms("470815", [lang], valid_minutes=10, **options)
    body, _, lines = text.partition("\n\n")
    assert body.count("470815") == 1 and " 10 " in body and "\n" not in body
    assert lines.split("\n") == [line for line in (
        options.get("app_hash"), options.get("origin_host") and f"@{LONGEST_HOST} #470815")
        if line]
    if "origin_host" in options:
        assert wicg_parse(text) == (LONGEST_HOST, "470815")
        assert CHROME_OTP.search(text).groups() == (LONGEST_HOST, "470815", None)
    else:
        assert wicg_parse(text) is None
    if "app_hash" in options:
        assert APP_HASH in text.split("\n") and "470815" in text
        assert len(one_part(text)) * 7 <= 140 * 8  # SMS Retriever: "no longer than 140 bytes"


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_the_body_is_the_shorter_one_and_translated(lang):
    full = short_code_sms("123456", [lang], valid_minutes=10)
    lined = short_code_sms("123456", [lang], valid_minutes=10, origin_host=HOST)
    body = lined.split("\n")[0]
    assert len(body) < len(full) and lined.endswith("\n\n@verify.example.org #123456")
    if lang != "en":
        assert body != short_code_sms("123456", ["en"], valid_minutes=10, app_hash=APP_HASH
                                      ).split("\n")[0]


def test_the_host_is_lower_cased_and_the_code_unchanged():
    text = short_code_sms("000000", ["de"], valid_minutes=5, origin_host="Verify.Example.ORG")
    assert text.endswith("\n@verify.example.org #000000")


def test_without_options_the_text_is_the_full_one_line_message():
    assert short_code_sms("123456", ["en"], valid_minutes=10, origin_host=None,
                          app_hash=None) == short_code_sms("123456", ["en"], valid_minutes=10)


# --- one SMS part in every language ----------------------------------------------


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
@pytest.mark.parametrize("option", OPTIONS)
def test_every_language_fits_one_gsm7_part_with_the_longest_host(lang, option):
    assert len(LONGEST_HOST) == MAX_ORIGIN_HOST_LENGTH
    longest = 0
    for digits in sorted({SHORT_CODE_DIGITS, MAX_LINED_CODE_DIGITS}):
        for minutes in MINUTES:
            text = short_code_sms("9" * digits, [lang], valid_minutes=minutes,
                                  **OPTIONS[option])
            longest = max(longest, len(one_part(text)))
    assert longest <= 160


def test_the_limits_are_tight_enough_to_matter():
    """The host limit is not arbitrary: French, the longest body, has 2 septets to spare."""
    text = short_code_sms("9" * MAX_LINED_CODE_DIGITS, ["fr"],
                          valid_minutes=MAX_LINED_VALID_MINUTES, **OPTIONS["both"])
    assert len(one_part(text)) == 158


# --- refused input ---------------------------------------------------------------


@pytest.mark.parametrize("host", [
    "", "verify.example.org:8443", "https://verify.example.org", "verify.example.org/path",
    "[::1]", "::1", "bücher.example", "\u212aelvin.example", "-verify.example.org",
    "verify-.example.org", "verify..example.org", "verify.example.org.", ".example.org",
    "verify example.org", "verify.example.org\n", "verify_1.example.org", "a" * 64,
    "a" * 32 + "." + "b" * 28 + ".org", 42, b"verify.example.org",
])
def test_a_host_that_is_not_a_short_ascii_host_name_is_refused(host):
    with pytest.raises(ValueError):
        short_code_sms("123456", ["en"], valid_minutes=10, origin_host=host)


@pytest.mark.parametrize("host", ["localhost", "xn--bcher-kva.example", "192.0.2.1",
                                  "a.b", "9.example", LONGEST_HOST])
def test_host_names_browsers_accept_are_accepted(host):
    assert short_code_sms("123456", ["en"], valid_minutes=10, origin_host=host).endswith(
        f"\n@{host} #123456")


@pytest.mark.parametrize("app_hash", ["", "FA+9qCX9VS", "FA+9qCX9VSu1", "FA-9qCX9VSu",
                                      "FA_9qCX9VSu", "FA+9qCX9VS=", "FA+9qCX9VS ", "FA+9qCX9VSü",
                                      "FA+9qCX9VSu\n", 11])
def test_an_app_hash_that_is_not_11_base64_characters_is_refused(app_hash):
    with pytest.raises(ValueError):
        short_code_sms("123456", ["en"], valid_minutes=10, app_hash=app_hash)


@pytest.mark.parametrize("option", OPTIONS)
def test_a_code_or_validity_beyond_what_fits_is_refused_only_with_lines(option):
    with pytest.raises(ValueError):
        short_code_sms("1" * (MAX_LINED_CODE_DIGITS + 1), ["en"], valid_minutes=10,
                       **OPTIONS[option])
    with pytest.raises(ValueError):
        short_code_sms("123456", ["en"], valid_minutes=MAX_LINED_VALID_MINUTES + 1,
                       **OPTIONS[option])
    assert short_code_sms("123456", ["en"], valid_minutes=MAX_LINED_VALID_MINUTES + 1)


def test_the_limits_are_exported():
    assert {"MAX_ORIGIN_HOST_LENGTH", "MAX_LINED_CODE_DIGITS",
            "MAX_LINED_VALID_MINUTES"} <= set(i18n.__all__)

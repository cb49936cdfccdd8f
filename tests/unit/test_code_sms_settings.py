"""Settings of phishing-resistant code SMS: sms_origin_bound, sms_origin_host and
sms_app_hash, validated at start with messages that say what to set (the SMS text itself
is tests/unit/test_origin_bound_sms.py)."""
from __future__ import annotations

import pytest

from gateway import i18n
from gateway.config import code_sms
from gateway.config.settings import SettingsError, load_settings


def settings(environ=None, **overrides):
    return load_settings(overrides=overrides, environ=environ or {})


def refusal(**overrides) -> str:
    with pytest.raises(SettingsError) as caught:
        settings(**overrides)
    return str(caught.value)


def test_the_limits_are_the_ones_the_text_is_tested_with():
    assert code_sms.SMS_ORIGIN_HOST_MAX_LENGTH == i18n.MAX_ORIGIN_HOST_LENGTH
    assert code_sms.SMS_LINED_MAX_MINUTES == i18n.MAX_LINED_VALID_MINUTES


def test_both_are_off_by_default():
    defaults = settings()
    assert (defaults.sms_origin_bound, defaults.sms_origin_host, defaults.sms_app_hash) == (
        False, "", "")
    assert defaults.effective_sms_origin_host == ""


def test_the_host_is_that_of_an_https_public_url_by_default():
    assert settings(sms_origin_bound=True, public_url="https://Verify.Example.org/"
                    ).effective_sms_origin_host == "verify.example.org"
    assert settings(sms_origin_bound=True, public_url="https://verify.example.org:443"
                    ).effective_sms_origin_host == "verify.example.org"


def test_a_configured_host_wins_and_needs_no_public_url():
    chosen = settings(sms_origin_bound=True, sms_origin_host="Shop.Example.com",
                      public_url="https://verify.example.org")
    assert chosen.effective_sms_origin_host == "shop.example.com"
    assert settings(sms_origin_bound=True, sms_origin_host="shop.example.com"
                    ).effective_sms_origin_host == "shop.example.com"


def test_a_host_without_sms_origin_bound_is_checked_but_unused():
    assert settings(sms_origin_host="shop.example.com").effective_sms_origin_host == ""
    assert "sms_origin_host" in refusal(sms_origin_host="shop.example.com:8443")


@pytest.mark.parametrize("public_url", ["", "http://verify.example.org",
                                        "https://verify.example.org:8443"])
def test_without_an_https_host_to_bind_to_the_gateway_refuses_to_start(public_url):
    message = refusal(sms_origin_bound=True, public_url=public_url)
    assert message.startswith("command line: sms_origin_bound binds codes to https://<host>")
    assert "set sms_origin_host" in message
    assert (repr(public_url) if public_url else "public_url is not set") in message


def test_an_ipv6_public_url_cannot_be_bound_to():
    message = refusal(sms_origin_bound=True, public_url="https://[2001:db8::1]")
    assert message.startswith("command line: public_url: '2001:db8::1' cannot follow '@'")


@pytest.mark.parametrize("host", ["https://verify.example.org", "verify.example.org:8443",
                                  "verify.example.org/", "bücher.example", "-a.example",
                                  "a..example", "example.org.", "a" * 64])
def test_a_host_that_cannot_follow_the_at_sign_is_refused_with_the_rule(host):
    message = refusal(sms_origin_bound=True, sms_origin_host=host)
    assert message.startswith(f"command line: sms_origin_host: {host!r} cannot follow '@'")
    assert "such as verify.example.org" in message and "xn--" in message


def test_a_host_longer_than_what_fits_one_sms_is_refused():
    host = "a" * 40 + "." + "b" * 20 + ".org"  # 65 characters
    message = refusal(sms_origin_bound=True, sms_origin_host=host)
    assert "has 65 characters; at most 64 keep a code SMS within one part" in message
    assert settings(sms_origin_bound=True, sms_origin_host=host[1:]).effective_sms_origin_host


def test_every_host_the_settings_accept_the_text_accepts():
    for host in ["localhost", "xn--bcher-kva.example", "192.0.2.1", "A.B", "a" * 31 + "."
                 + "b" * 28 + ".org"]:
        chosen = settings(sms_origin_bound=True, sms_origin_host=host)
        assert i18n.short_code_sms("123456", ["en"], valid_minutes=10,
                                   origin_host=chosen.effective_sms_origin_host)


def test_the_app_hash_is_eleven_base64_characters():
    assert settings(sms_app_hash="FA+9qCX9VSu").sms_app_hash == "FA+9qCX9VSu"
    for bad in ["FA+9qCX9VS", "FA+9qCX9VSu1", "FA-9qCX9VSu", "FA_9qCX9VSu", "FA+9qCX9VS="]:
        message = refusal(sms_app_hash=bad)
        assert message == (f"command line: sms_app_hash {bad!r} is not an SMS Retriever app "
                           "hash: 11 characters of A-Z, a-z, 0-9, + and /")


def test_the_environment_sets_them_and_is_named_in_errors():
    chosen = settings({"MSISDN_GATEWAY_SMS_ORIGIN_BOUND": "true",
                       "MSISDN_GATEWAY_SMS_ORIGIN_HOST": "verify.example.org",
                       "MSISDN_GATEWAY_SMS_APP_HASH": "FA+9qCX9VSu"})
    assert (chosen.effective_sms_origin_host, chosen.sms_app_hash) == (
        "verify.example.org", "FA+9qCX9VSu")
    with pytest.raises(SettingsError, match="^environment variable MSISDN_GATEWAY_SMS_APP_HASH: "):
        settings({"MSISDN_GATEWAY_SMS_APP_HASH": "nope"})


def test_a_code_lifetime_longer_than_the_text_can_state_is_refused_with_lines():
    assert settings(short_code_ttl=10 ** 6).short_code_ttl == 10 ** 6  # no lines: allowed
    assert settings(sms_app_hash="FA+9qCX9VSu", short_code_ttl=9999 * 60 + 59)
    message = refusal(sms_app_hash="FA+9qCX9VSu", short_code_ttl=10000 * 60)
    assert message == ("command line: short_code_ttl 600000 is 10000 minutes: with "
                       "sms_origin_bound or sms_app_hash a code SMS fits one part only up "
                       "to 9999 minutes")

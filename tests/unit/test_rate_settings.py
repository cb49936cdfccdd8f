"""The rate-limit settings: the per-client SMS budget's default and sources, and rules
refused where they would ask the sliding windows for absurd storage or dates."""
from __future__ import annotations

import pytest

from gateway.config.settings import RateRule, SettingsError, load_settings


def test_the_client_sms_budget_is_ten_an_hour_by_default_and_set_like_every_rule():
    assert load_settings(environ={}).rate_limit_client_sms == (RateRule(10, 3600),)
    settings = load_settings(environ={"MSISDN_GATEWAY_RATE_LIMIT_CLIENT_SMS": "3/10m,20/1d"})
    assert settings.rate_limit_client_sms == (RateRule(3, 600), RateRule(20, 86400))
    assert load_settings(environ={"MSISDN_GATEWAY_RATE_LIMIT_CLIENT_SMS": ""}
                         ).rate_limit_client_sms == ()  # off


@pytest.mark.parametrize("value, words", [
    ("ten/1h", ["rate_limit_client_sms", "'ten/1h' is not a rate"]),
    ("0/1h", ["rate_limit_client_sms", "is not a rate"]),
    ("5/0m", ["rate_limit_client_sms", "zero period"]),
    ("2000000/1h", ["rate_limit_client_sms", "at most 1000000 events"]),
    ("1/367d", ["rate_limit_client_sms", "366 days"]),
])
def test_a_bad_client_sms_budget_stops_the_start_naming_the_setting(value, words):
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={"MSISDN_GATEWAY_RATE_LIMIT_CLIENT_SMS": value})
    for word in words:
        assert word in str(caught.value)


def test_the_limits_of_a_rule_are_allowed_themselves():
    assert RateRule.parse("1000000/366d") == RateRule(1_000_000, 366 * 86400)

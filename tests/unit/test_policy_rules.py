"""The destination policy's rules (gateway.guard.policy) as pure functions, the MCC table,
the settings that configure them, and what the guard package may import."""
from __future__ import annotations

from types import SimpleNamespace

import phonenumbers
import pytest

from gateway.config.settings import SettingsError, load_settings
from gateway.guard import networks, policy
from gateway.guard.listing import normalise_prefix
from gateway.guard.policy import Destination
from test_layering import forbidden_imports


def settings(**overrides):
    return load_settings(overrides=overrides, environ={})


def reason(number: str, countries=frozenset({"FR"}), **overrides) -> str | None:
    found = policy.refusal(settings(**overrides), Destination.of(number), countries)
    return None if found is None else found.reason


@pytest.mark.parametrize("number, why", [
    ("+449090123456", "country"),  # UK premium rate
    ("+19002345678", "country"),  # US 1-900
    ("+979123456789", "non_geographic"),  # international premium rate
    ("+881612345678", "non_geographic"),  # Iridium
    ("+2693212345", "country"),  # Comoros
    ("+33123456789", "number_type"),  # a Paris fixed line
    ("+8613812345678", "country"),  # China
    ("+33612345678", None),
])
def test_the_default_policy_serves_mobiles_of_the_modems_countries_only(number, why):
    assert reason(number) == why


@pytest.mark.parametrize("number, why", [
    ("+449090123456", "number_type"), ("+19002345678", "number_type"),
    ("+33812345678", "number_type"), ("+80012345678", "non_geographic"),
    ("+447624123456", None),  # Isle of Man mobile
    ("+12063130004", None),  # US: fixed-line-or-mobile, as the country does not tell
])
def test_with_any_country_the_number_type_decides(number, why):
    assert reason(number, None, destination_countries=("*",)) == why


def test_an_allow_prefix_admits_what_country_and_type_would_refuse_but_not_a_denied_one():
    assert reason("+881612345678", destination_allow_prefixes=("+8816",)) is None
    assert reason("+33123456789", destination_allow_prefixes=("+331",)) is None
    assert reason("+33123456789", destination_allow_prefixes=("+331",),
                  destination_deny_prefixes=("+3312",)) == "denied_prefix"


def test_no_known_country_is_its_own_reason_and_any_country_is_none():
    assert reason("+33612345678", frozenset()) == "countries_unknown"
    assert policy.allowed_countries(settings(destination_countries=("*",))) is None
    assert policy.allowed_countries(settings(destination_countries=("fr", "De"))) == {"FR",
                                                                                        "DE"}


def status(region=None, mcc=None):
    return SimpleNamespace(region=region, mcc=mcc)


def test_the_modems_countries_come_from_their_numbers_home_networks_and_simulation():
    assert policy.modem_countries(settings(), [status("FR", "208")]) == {"FR"}
    assert policy.modem_countries(settings(), [status(None, "234"), status("BE")]) == {
        "GB", "BE"}
    assert policy.modem_countries(settings(), [status(None, None)]) == frozenset()
    configured = settings(modems=[{"url": "/dev/gsm-modem-0", "own_number": "+4915112345678"}])
    assert policy.modem_countries(configured, []) == {"DE"}
    simulated = settings(simulate=True, simulated_network="23415")
    assert policy.modem_countries(simulated, []) == {"GB"}


def test_every_country_of_the_mcc_table_is_a_region_phonenumbers_knows():
    regions = {code for codes in networks.MCC_COUNTRIES.values() for code in codes}
    assert regions <= phonenumbers.SUPPORTED_REGIONS
    assert networks.countries_of_mcc("208") == ("FR",)
    assert networks.countries_of_mcc("340") == ("GP", "MQ", "GF", "BL", "MF")
    assert networks.countries_of_mcc("001") == networks.countries_of_mcc(None) == ()


def test_a_prefix_is_the_country_code_and_leading_national_digits():
    assert Destination.of("+33612345678").prefix(3) == "+33612"
    assert Destination.of("+19002345678").prefix(3) == "+1900"
    assert Destination.of("+447911123456").prefix(2) == "+4479"
    assert normalise_prefix("33 612") == normalise_prefix("+33612") == "+33612"
    with pytest.raises(ValueError):
        normalise_prefix("+0612")


@pytest.mark.parametrize("name, value, words", [
    ("destination_countries", "FR,France", "'France' is not an ISO 3166 country code"),
    ("destination_types", "mobile,cell", "'cell' is not one of fixed_line, "),
    ("destination_allow_prefixes", "44909", "'44909' is not an E.164 prefix"),
    ("destination_deny_prefixes", "+44 909", "is not an E.164 prefix"),
    ("guard_prefix_digits", 0, "between 1 and 8"),
    ("guard_window", 0, "guard_window must be positive"),
    ("guard_min_sms", -1, "0 (detection off) or more"),
    ("guard_min_conversion", 1.5, "between 0 and 1"),
    ("guard_min_conversion", "nan", "between 0 and 1"),
])
def test_destination_and_guard_settings_are_validated_naming_the_setting(name, value, words):
    with pytest.raises(SettingsError) as caught:
        load_settings(overrides={name: value}, environ={})
    assert words in str(caught.value) and name in str(caught.value)


def test_the_guard_imports_neither_flask_werkzeug_nor_serial():
    assert forbidden_imports("gateway/guard", {"flask", "werkzeug", "serial", "gsmmodem"}) == {}

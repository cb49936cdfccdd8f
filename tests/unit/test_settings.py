"""Settings: defaults < TOML file < MSISDN_GATEWAY_* environment < command line, typed,
validated with messages that name the setting and where its value came from."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gateway.config.settings import RateRule, Settings, SettingsError, load_settings


def write_toml(tmp_path: Path, text: str, name: str = "gateway.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_with_no_sources_the_documented_defaults_apply():
    settings = load_settings(environ={})

    assert settings.simulate is False
    assert settings.host == "127.0.0.1" and settings.port == 5000
    assert settings.max_body_bytes == 25 * 1024
    assert settings.hawk_skew_seconds == 60
    assert (settings.short_code_ttl, settings.long_code_ttl) == (600, 3600)
    assert settings.max_code_attempts == 3
    assert settings.certificate_max_duration == 86400
    assert settings.rate_limit_msisdn == (RateRule(3, 600), RateRule(10, 86400))
    assert settings.rate_limit_client == (RateRule(1000, 60),)
    assert settings.trusted_proxies == () and settings.rate_limit_exempt_networks == ()
    assert settings.effective_public_url == "http://127.0.0.1:5000"
    assert settings.effective_database_url == "sqlite:///var/msisdn-gateway.sqlite3"
    assert settings.effective_signing_key_file == Path("var/keys/signing-key.pem")


def test_a_toml_file_overrides_the_defaults(tmp_path):
    path = write_toml(tmp_path, 'port = 6000\nhost = "0.0.0.0"\n'
                                'rate_limit_msisdn = ["2/1m", "4/1h"]\n')

    settings = load_settings(config_file=path, environ={})

    assert settings.port == 6000 and settings.host == "0.0.0.0"
    assert settings.rate_limit_msisdn == (RateRule(2, 60), RateRule(4, 3600))
    assert settings.workers == 0  # untouched settings keep their default


def test_the_config_file_can_be_named_by_msisdn_gateway_config(tmp_path):
    path = write_toml(tmp_path, "port = 6001\n")

    settings = load_settings(environ={"MSISDN_GATEWAY_CONFIG": str(path)})

    assert settings.port == 6001


def test_an_explicit_config_file_wins_over_msisdn_gateway_config(tmp_path):
    chosen = write_toml(tmp_path, "port = 6002\n", "chosen.toml")
    ignored = write_toml(tmp_path, "port = 6003\n", "ignored.toml")

    settings = load_settings(config_file=chosen, environ={"MSISDN_GATEWAY_CONFIG": str(ignored)})

    assert settings.port == 6002


def test_the_environment_overrides_the_file_and_the_command_line_overrides_both(tmp_path):
    path = write_toml(tmp_path, "port = 6000\nworkers = 2\nsms_ttl = 30\n")
    environ = {"MSISDN_GATEWAY_PORT": "7000", "MSISDN_GATEWAY_WORKERS": "3"}

    settings = load_settings(config_file=path, environ=environ, overrides={"port": 8000})

    assert settings.port == 8000  # command line
    assert settings.workers == 3  # environment over file
    assert settings.sms_ttl == 30  # file over default


def test_a_command_line_flag_left_unset_does_not_hide_the_environment():
    settings = load_settings(environ={"MSISDN_GATEWAY_PORT": "7000"},
                             overrides={"port": None, "simulate": None})

    assert settings.port == 7000 and settings.simulate is False


@pytest.mark.parametrize("text, expected", [
    ("1", True), ("true", True), ("Yes", True), ("on", True),
    ("0", False), ("false", False), ("no", False), ("OFF", False),
])
def test_booleans_are_read_from_environment_strings(text, expected):
    settings = load_settings(environ={"MSISDN_GATEWAY_SIMULATE": text})

    assert settings.simulate is expected


def test_integers_lists_and_rate_rules_are_read_from_environment_strings():
    settings = load_settings(environ={
        "MSISDN_GATEWAY_MAX_BODY_BYTES": " 4096 ",
        "MSISDN_GATEWAY_RATE_LIMIT_MSISDN": "3/10m,10/1d",
        "MSISDN_GATEWAY_RATE_LIMIT_CLIENT": "1000/m",
        "MSISDN_GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8, ::1",
        "MSISDN_GATEWAY_RATE_LIMIT_EXEMPT_NETWORKS": "192.168.0.0/16",
        "MSISDN_GATEWAY_STATE_DIR": "/srv/gateway",
    })

    assert settings.max_body_bytes == 4096
    assert settings.rate_limit_msisdn == (RateRule(3, 600), RateRule(10, 86400))
    assert settings.rate_limit_client == (RateRule(1000, 60),)
    assert settings.trusted_proxies == ("10.0.0.0/8", "::1")
    assert settings.rate_limit_exempt_networks == ("192.168.0.0/16",)
    assert settings.state_dir == Path("/srv/gateway")


@pytest.mark.parametrize("text, limit, period", [
    ("3/10m", 3, 600), ("10/1d", 10, 86400), ("5/1h", 5, 3600), ("7/30s", 7, 30),
    ("1000/m", 1000, 60), (" 2 / 3h ", 2, 3 * 3600),
])
def test_rate_rules_parse_count_and_period_in_seconds(text, limit, period):
    assert RateRule.parse(text) == RateRule(limit, period)


@pytest.mark.parametrize("text", ["3", "3/10x", "0/1m", "3/0m", "-1/1m", "three/1m", ""])
def test_malformed_rate_rules_are_refused(text):
    with pytest.raises(ValueError):
        RateRule.parse(text)


def test_an_unknown_key_in_the_toml_file_is_refused_naming_the_key_and_the_file(tmp_path):
    path = write_toml(tmp_path, "prot = 6000\n")

    with pytest.raises(SettingsError) as caught:
        load_settings(config_file=path, environ={})

    assert "'prot'" in str(caught.value) and str(path) in str(caught.value)


def test_an_unknown_msisdn_gateway_variable_is_refused_naming_the_variable():
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={"MSISDN_GATEWAY_PROT": "6000"})

    assert "MSISDN_GATEWAY_PROT" in str(caught.value)
    assert "unknown setting" in str(caught.value)


def test_variables_without_the_prefix_are_ignored():
    settings = load_settings(environ={"PORT": "1", "GATEWAY_PORT": "2", "HOME": "/root"})

    assert settings.port == 5000


@pytest.mark.parametrize("environ, words", [
    ({"MSISDN_GATEWAY_PORT": "eighty"}, ["MSISDN_GATEWAY_PORT", "'port'", "'eighty'",
                                         "not an integer"]),
    ({"MSISDN_GATEWAY_SIMULATE": "maybe"}, ["MSISDN_GATEWAY_SIMULATE", "not a boolean"]),
    ({"MSISDN_GATEWAY_RATE_LIMIT_MSISDN": "3/10m,ten/1d"},
     ["MSISDN_GATEWAY_RATE_LIMIT_MSISDN", "'ten/1d'"]),
    ({"MSISDN_GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8,banana"},
     ["MSISDN_GATEWAY_TRUSTED_PROXIES", "trusted_proxies", "'banana'", "not an IP network"]),
    ({"MSISDN_GATEWAY_RATE_LIMIT_EXEMPT_NETWORKS": "10.0.0.300/8"},
     ["MSISDN_GATEWAY_RATE_LIMIT_EXEMPT_NETWORKS", "rate_limit_exempt_networks",
      "'10.0.0.300/8'"]),
    ({"MSISDN_GATEWAY_PUBLIC_URL": "ftp://gateway.example"},
     ["MSISDN_GATEWAY_PUBLIC_URL", "public_url", "ftp://gateway.example"]),
    ({"MSISDN_GATEWAY_PUBLIC_URL": "gateway.example"}, ["MSISDN_GATEWAY_PUBLIC_URL"]),
    ({"MSISDN_GATEWAY_PUBLIC_URL": "https://gateway.example:https"},
     ["MSISDN_GATEWAY_PUBLIC_URL", "public_url"]),
    ({"MSISDN_GATEWAY_PUBLIC_URL": "https://gateway.example/v1?x=1"},
     ["MSISDN_GATEWAY_PUBLIC_URL", "public_url"]),
    ({"MSISDN_GATEWAY_PORT": "0"}, ["MSISDN_GATEWAY_PORT", "port"]),
    ({"MSISDN_GATEWAY_LOG_LEVEL": "LOUD"}, ["MSISDN_GATEWAY_LOG_LEVEL", "'LOUD'"]),
    ({"MSISDN_GATEWAY_STATE_DIR": ""}, ["MSISDN_GATEWAY_STATE_DIR", "state_dir"]),
])
def test_a_bad_environment_value_is_refused_naming_the_setting_and_the_variable(environ, words):
    with pytest.raises(SettingsError) as caught:
        load_settings(environ=environ)

    for word in words:
        assert word in str(caught.value)


@pytest.mark.parametrize("toml, words", [
    ("port = 5000.5\n", ["'port'", "5000.5", "not an integer"]),
    ('port = "eighty"\n', ["'port'", "not an integer"]),
    ('host = 5\n', ["'host'", "not a string"]),
    ('rate_limit_client = ["1000/1fortnight"]\n', ["'rate_limit_client'"]),
    ('trusted_proxies = ["not-a-net"]\n', ["trusted_proxies", "'not-a-net'"]),
    ('public_url = "mailto:root@example"\n', ["public_url"]),
])
def test_a_bad_value_in_the_toml_file_is_refused_naming_the_setting_and_the_file(
        tmp_path, toml, words):
    path = write_toml(tmp_path, toml)

    with pytest.raises(SettingsError) as caught:
        load_settings(config_file=path, environ={})

    assert f"config file {path}" in str(caught.value)
    for word in words:
        assert word in str(caught.value)


def test_a_bad_command_line_value_is_refused_naming_the_command_line():
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={}, overrides={"rate_limit_method": "lots"})

    assert "command line" in str(caught.value) and "rate_limit_method" in str(caught.value)


def test_a_missing_config_file_is_refused_naming_the_file(tmp_path):
    missing = tmp_path / "nowhere.toml"

    with pytest.raises(SettingsError, match="does not exist") as caught:
        load_settings(config_file=missing, environ={})

    assert str(missing) in str(caught.value)


def test_a_config_file_named_by_the_environment_must_exist_too(tmp_path):
    missing = tmp_path / "nowhere.toml"

    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(environ={"MSISDN_GATEWAY_CONFIG": str(missing)})


def test_an_invalid_toml_file_is_refused_naming_the_file(tmp_path):
    path = write_toml(tmp_path, "port = = 5000\n")

    with pytest.raises(SettingsError, match="not valid TOML") as caught:
        load_settings(config_file=path, environ={})

    assert str(path) in str(caught.value)


def test_a_directory_given_as_config_file_is_refused_cleanly(tmp_path):
    with pytest.raises(SettingsError, match="cannot be read"):
        load_settings(config_file=tmp_path, environ={})


def test_an_ipv6_listen_address_gives_a_valid_public_url():
    settings = load_settings(environ={"MSISDN_GATEWAY_HOST": "::1"})

    assert settings.effective_public_url == "http://[::1]:5000"


def test_the_issuer_defaults_to_the_host_of_the_public_url():
    settings = load_settings(environ={"MSISDN_GATEWAY_PUBLIC_URL": "https://gw.example:8443"})

    assert settings.effective_issuer == "gw.example"


def test_settings_are_frozen():
    settings = load_settings(environ={})

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]
    assert isinstance(settings, Settings)


def test_list_settings_from_toml_are_immutable_tuples(tmp_path):
    path = write_toml(tmp_path, 'trusted_proxies = ["10.0.0.0/8"]\n')

    settings = load_settings(config_file=path, environ={})

    assert settings.trusted_proxies == ("10.0.0.0/8",)
    hash(settings)  # every field is immutable, so the whole object hashes

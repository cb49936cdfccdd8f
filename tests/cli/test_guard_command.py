"""``msisdn-gateway guard list`` and ``guard clear``, in process with click's runner, on the
SQLite file of a gateway served over real HTTP whose codes pumped a prefix."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import assert_error
from gateway.cli import server_commands as cli

GUARD = {"guard_min_sms": 4, "guard_min_conversion": 0.5, "guard_window": 3600,
         "guard_settle": 0,
         "guard_cooldown": 3600}
PUMPED = [f"+336123456{n:02d}" for n in range(1, 10)]


def mt_verify(gw, number):
    return gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": number, "mcc": "208"},
                   gw.register())


@pytest.fixture
def pumped(start_gateway, tmp_path):
    """A gateway whose prefix +33612 got 4 codes, none verified (so it is blocked), one
    refused code, and one verified code to +33698; and the command's options."""
    gw = start_gateway(**GUARD)
    for number in PUMPED[:4]:
        assert mt_verify(gw, number).status_code == 204
    assert_error(mt_verify(gw, PUMPED[4]), 400, 107)
    token = gw.register()
    gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": "+33698765432", "mcc": "208"}, token)
    gw.post("/v1/msisdn/sms/verify_code", {"code": gw.last_sms_to("+33698765432")}, token)
    config = tmp_path / "gateway.toml"
    config.write_text("".join(f"{name} = {value}\n" for name, value in GUARD.items()))
    return gw, ["--config", str(config)], ["--state-dir", str(tmp_path)]


def run(config, command, *args):
    return CliRunner().invoke(cli.main, [*config, "guard", command, *args],
                              prog_name="msisdn-gateway")


def test_guard_list_shows_each_prefix_with_its_figures_and_its_block(pumped):
    gw, config, state = pumped

    result = run(config, "list", "--json", *state)

    assert result.exit_code == 0, result.output
    rows = {row["prefix"]: row for row in json.loads(result.output)}
    assert set(rows) == {"+33612", "+33698"}
    blocked = rows["+33612"]
    assert (blocked["sms"], blocked["verified"], blocked["status"]) == (4, 0, "blocked")
    assert blocked["reason"] == "pumping" and blocked["blocked_figures"] == "4 SMS, 0 verified"
    assert (rows["+33698"]["sms"], rows["+33698"]["verified"],
            rows["+33698"]["conversion"], rows["+33698"]["status"]) == (1, 1, "100%", "ok")


def test_guard_list_prints_a_table_for_people(pumped):
    _gw, config, state = pumped

    result = run(config, "list", *state)

    assert result.exit_code == 0, result.output
    header, first, second, footer = result.output.splitlines()
    assert header.split()[:6] == ["PREFIX", "SMS", "JUDGED", "VERIFIED", "CONVERSION", "STATUS"]
    assert first.split()[:6] == ["+33612", "4", "4", "0", "0%", "blocked"]
    assert second.split()[:6] == ["+33698", "1", "1", "1", "100%", "ok"]
    assert footer.startswith("Figures of the last 3600 s; a prefix is blocked for 3600 s")


def test_guard_list_says_how_old_the_judged_sms_must_be(pumped):
    _gw, config, state = pumped
    config_file = Path(config[1])
    config_file.write_text(config_file.read_text().replace("guard_settle = 0",
                                                           "guard_settle = 300"))

    result = run(config, "list", *state)

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        "Figures of the last 3600 s; a prefix is blocked for 3600 s from 4 SMS at least "
        "300 s old with less than 50% verified.")
    # The SMS are seconds old: in the window, none judged yet, so no conversion either.
    rows = {row["prefix"]: row for row in json.loads(run(config, "list", "--json",
                                                         *state).output)}
    assert [(row["sms"], row["judged"], row["verified"], row["conversion"])
            for row in rows.values()] == [(4, 0, 0, None), (1, 0, 1, None)]


def test_guard_clear_lifts_the_block_and_the_prefix_starts_afresh(pumped):
    gw, config, state = pumped

    result = run(config, "clear", "33612", *state)

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "+33612: block lifted, figures reset"
    assert mt_verify(gw, PUMPED[5]).status_code == 204
    rows = {row["prefix"]: row for row in json.loads(run(config, "list", "--json",
                                                         *state).output)}
    assert (rows["+33612"]["sms"], rows["+33612"]["status"]) == (1, "ok")


def test_guard_clear_says_when_there_was_no_block_and_refuses_what_is_no_prefix(pumped):
    _gw, config, state = pumped

    result = run(config, "clear", "--json", "+33698", *state)
    assert json.loads(result.output) == {"prefix": "+33698", "block_cleared": False}

    result = run(config, "clear", "+33-6x", *state)
    assert result.exit_code == 1 and "is not a prefix such as +33612" in result.output

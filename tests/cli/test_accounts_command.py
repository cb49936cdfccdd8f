"""``msisdn-gateway accounts list`` and ``accounts remove``, in process with click's runner,
on the SQLite file of a gateway served over real HTTP where two TextSecure accounts
registered."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from gateway.cli import server_commands as cli
from textsecure_client import TextSecureClient, code_of

ALICE, BOB = "+33612345678", "+33698765432"


@pytest.fixture
def registered(gateway, tmp_path):
    phones = []
    for number in (ALICE, BOB):
        phone = TextSecureClient(gateway.url, number, gateway.http)
        assert phone.request_code().status_code == 200
        assert phone.confirm(code_of(gateway.last_sms_to(number))).status_code == 200
        phones.append(phone)
    phones[0].register_push("gcm", "gcm-id")
    phones[0].register_prekeys(count=4)
    config = tmp_path / "gateway.toml"
    config.write_text(f'secret_key_file = "{gateway.settings.secret_key_file}"\n'
                      f'signing_key_file = "{gateway.settings.signing_key_file}"\n')
    return gateway, phones, ["--config", str(config)], ["--state-dir", str(tmp_path)]


def run(config, command, *args):
    return CliRunner().invoke(cli.main, [*config, "accounts", command, *args],
                              prog_name="msisdn-gateway")


def test_accounts_list_shows_masked_numbers_push_kinds_and_prekeys(registered):
    _gateway, _phones, config, state = registered
    result = run(config, "list", *state, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["number"], r["push"], r["prekeys"]) for r in rows] == [
        ("+33*******78", "gcm", 4), ("+33*******32", "-", 0)]
    text = run(config, "list", *state).output
    assert "+33*******78" in text and ALICE not in text and "NUMBER" in text


def test_accounts_remove_deletes_the_account_and_its_prekeys(registered):
    _gateway, (alice, bob), config, state = registered
    result = run(config, "remove", "+33 6 12 34 56 78", *state)
    assert result.exit_code == 0, result.output
    assert "+33*******78: account removed" in result.output
    assert alice.register_push("gcm", "x").status_code == 401
    assert bob.fetch_prekey(ALICE).status_code == 404
    again = run(config, "remove", ALICE, *state)
    assert again.exit_code == 1 and "has no account" in again.output
    bad = run(config, "remove", "12", *state)
    assert bad.exit_code == 1 and "E.164" in bad.output
    assert [r["number"] for r in json.loads(run(config, "list", *state, "--json").output)] \
        == ["+33*******32"]

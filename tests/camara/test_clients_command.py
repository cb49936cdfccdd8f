"""``msisdn-gateway clients add/list/remove``, in process with click's runner, on a real
migrated SQLite file."""
from __future__ import annotations

import hashlib
import json

from click.testing import CliRunner
from sqlalchemy import select

from gateway.cli import server_commands as cli
from gateway.storage.db import make_engine
from gateway.storage.models import ApiClient


def run(state_dir, *args):
    return CliRunner().invoke(cli.main, [*args[:2], "--state-dir", str(state_dir), *args[2:]],
                              catch_exceptions=False)


def test_clients_add_prints_an_id_and_a_secret_once_and_keeps_only_its_hash(tmp_path):
    result = run(tmp_path, "clients", "add", "Shop app", "--redirect-uri",
                 "https://shop.example/cb", "--redirect-uri", "http://127.0.0.1:8000/cb",
                 "--webhook-url", "https://shop.example/hook", "--json")
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert set(created) == {"client_id", "client_secret"}
    assert len(created["client_secret"]) >= 40
    engine = make_engine(f"sqlite:///{tmp_path / 'msisdn-gateway.sqlite3'}")
    with engine.connect() as connection:
        row = connection.execute(select(ApiClient)).one()
    engine.dispose()
    assert row.secret_digest == hashlib.sha256(created["client_secret"].encode()).hexdigest()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("msisdn-gateway.sqlite3*"))
    assert created["client_secret"].encode() not in raw

    listed = json.loads(run(tmp_path, "clients", "list", "--json").output)
    assert listed == [{"client_id": created["client_id"], "name": "Shop app",
                       "redirect_uris": ["https://shop.example/cb", "http://127.0.0.1:8000/cb"],
                       "webhook_url": "https://shop.example/hook",
                       "created_at": listed[0]["created_at"]}]
    assert "client_secret" not in run(tmp_path, "clients", "list").output

    removed = run(tmp_path, "clients", "remove", created["client_id"])
    assert removed.exit_code == 0 and "removed" in removed.output
    assert json.loads(run(tmp_path, "clients", "list", "--json").output) == []


def test_clients_add_without_json_says_the_secret_is_shown_once(tmp_path):
    result = run(tmp_path, "clients", "add", "App", "--redirect-uri", "https://a.example/cb")
    assert result.exit_code == 0
    assert "client_id:" in result.output and "shown only now" in result.output


def test_clients_add_refuses_bad_redirect_uris_with_a_clear_message(tmp_path):
    for uri in ("not a url", "ftp://a.example/cb", "http://a.example/cb",
                "https://a.example/cb#frag"):
        result = run(tmp_path, "clients", "add", "App", "--redirect-uri", uri)
        assert result.exit_code == 1 and "redirect URI" in result.output, result.output
    result = run(tmp_path, "clients", "add", "App")
    assert result.exit_code == 2 and "--redirect-uri" in result.output


def test_clients_remove_of_an_unknown_client_fails_clearly(tmp_path):
    result = run(tmp_path, "clients", "remove", "gw_nope")
    assert result.exit_code == 1 and "no client gw_nope" in result.output

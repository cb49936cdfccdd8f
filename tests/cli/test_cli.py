"""The msisdn-gateway command: keys, start-up refusals, config errors, db upgrade,
--version; in process with CliRunner and once through the installed console script."""
from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect

from gateway.cli import server_commands as cli

CONSOLE_SCRIPT = Path(sys.executable).parent / "msisdn-gateway"


@pytest.fixture(autouse=True)
def clean_process(monkeypatch, tmp_path):
    """No MSISDN_GATEWAY_* variables from the caller, a scratch working directory (the
    default state dir is ./var), and the root logger as it was."""
    for name in list(os.environ):
        if name.startswith("MSISDN_GATEWAY_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.fixture
def never_serve(monkeypatch):
    """Starting a server or the worker fails the test loudly instead of running it."""
    def refuse(*_args, **_kwargs):
        raise AssertionError("the command went on to serve instead of refusing to start")

    from gateway.process import supervisor

    for name in ("_serve_api", "_worker_main"):
        monkeypatch.setattr(cli, name, refuse)
    monkeypatch.setattr(supervisor, "serve", refuse)


def run(*args: str):
    return CliRunner().invoke(cli.main, list(args), prog_name="msisdn-gateway")


def assert_clean_error(result, *words: str) -> None:
    """Exit status 1 with ``Error: ...`` naming ``words``, and no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert "Error:" in result.output
    for word in words:
        assert word in result.output


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- keys generate -----------------------------------------------------------------------

def test_keys_generate_writes_the_signing_key_and_secret_readable_only_by_the_owner(tmp_path):
    state = tmp_path / "state"

    result = run("keys", "generate", "--state-dir", str(state))

    assert result.exit_code == 0, result.output
    signing, secret = state / "keys" / "signing-key.pem", state / "keys" / "secret.hex"
    assert mode(signing) == 0o600 and mode(secret) == 0o600
    assert signing.read_text().startswith("-----BEGIN")
    assert len(bytes.fromhex(secret.read_text().strip())) == 32
    assert str(signing) in result.output and str(secret) in result.output


def test_keys_generate_refuses_to_overwrite_existing_keys(tmp_path):
    state = tmp_path / "state"
    run("keys", "generate", "--state-dir", str(state))
    before = {path.name: path.read_bytes() for path in (state / "keys").iterdir()}

    result = run("keys", "generate", "--state-dir", str(state))

    assert_clean_error(result, "already exists", "--force")
    assert {path.name: path.read_bytes() for path in (state / "keys").iterdir()} == before


def test_keys_generate_with_force_replaces_the_keys(tmp_path):
    state = tmp_path / "state"
    run("keys", "generate", "--state-dir", str(state))
    before = {path.name: path.read_bytes() for path in (state / "keys").iterdir()}

    result = run("keys", "generate", "--force", "--state-dir", str(state))

    assert result.exit_code == 0, result.output
    after = {path.name: path.read_bytes() for path in (state / "keys").iterdir()}
    assert after.keys() == before.keys()
    assert all(after[name] != before[name] for name in before)
    assert all(mode(path) == 0o600 for path in (state / "keys").iterdir())


def test_keys_generate_with_force_makes_private_files_even_over_readable_ones(tmp_path):
    # Rotating the keys is what an operator does after "readable by other users": the new
    # secret must not inherit the old file's mode.
    state = tmp_path / "state"
    run("keys", "generate", "--state-dir", str(state))
    for path in (state / "keys").iterdir():
        path.chmod(0o644)

    assert run("keys", "generate", "--force", "--state-dir", str(state)).exit_code == 0
    assert all(mode(path) == 0o600 for path in (state / "keys").iterdir())


def test_keys_generate_with_force_replaces_a_link_and_never_writes_through_it(tmp_path):
    state, victim = tmp_path / "state", tmp_path / "victim"
    victim.write_text("someone else's file\n")
    (state / "keys").mkdir(parents=True)
    (state / "keys" / "secret.hex").symlink_to(victim)
    (state / "keys" / "secret.hex.tmp").symlink_to(victim)  # a planted temporary file too

    assert run("keys", "generate", "--force", "--state-dir", str(state)).exit_code == 0
    assert victim.read_text() == "someone else's file\n"
    secret = state / "keys" / "secret.hex"
    assert not secret.is_symlink() and mode(secret) == 0o600
    assert not (state / "keys" / "secret.hex.tmp").exists()


def test_keys_generate_uses_the_state_dir_of_the_config_file_unless_the_flag_says_otherwise(
        tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text(f'state_dir = "{tmp_path / "from-config"}"\n')

    run("--config", str(config), "keys", "generate")
    run("--config", str(config), "keys", "generate", "--state-dir", str(tmp_path / "from-flag"))

    assert (tmp_path / "from-config" / "keys" / "secret.hex").exists()
    assert (tmp_path / "from-flag" / "keys" / "secret.hex").exists()


# --- refusing to start without keys --------------------------------------------------------

@pytest.mark.parametrize("command", ["api", "serve", "worker"])
def test_without_simulate_and_without_keys_the_service_refuses_to_start(
        command, tmp_path, never_serve):
    result = run(command, "--state-dir", str(tmp_path / "state"))

    assert_clean_error(result, "msisdn-gateway keys generate",
                       str(tmp_path / "state" / "keys" / "signing-key.pem"))
    assert not (tmp_path / "state" / "msisdn-gateway.sqlite3").exists()


def test_the_refusal_names_the_file_that_is_missing(tmp_path, key_files, never_serve):
    keys = tmp_path / "state" / "keys"
    keys.mkdir(parents=True)
    shutil.copy(key_files[0], keys / "signing-key.pem")

    result = run("api", "--state-dir", str(tmp_path / "state"))

    assert_clean_error(result, "msisdn-gateway keys generate", str(keys / "secret.hex"))
    assert "signing-key.pem" not in result.output


def test_a_secret_file_that_is_not_hex_is_refused(tmp_path, key_files, never_serve):
    keys = tmp_path / "state" / "keys"
    keys.mkdir(parents=True)
    shutil.copy(key_files[0], keys / "signing-key.pem")
    (keys / "secret.hex").write_text("not hex at all\n")

    result = run("api", "--state-dir", str(tmp_path / "state"))

    assert_clean_error(result, str(keys / "secret.hex"), "hex")


# --- configuration errors ----------------------------------------------------------------

def test_a_config_file_that_does_not_exist_is_a_clear_error(tmp_path, never_serve):
    missing = tmp_path / "missing.toml"

    result = run("--config", str(missing), "api")

    assert_clean_error(result, str(missing), "does not exist")


def test_an_invalid_toml_config_file_is_a_clear_error(tmp_path, never_serve):
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\nport = 5000\n")

    result = run("--config", str(broken), "api")

    assert_clean_error(result, str(broken), "not valid TOML")


def test_an_unknown_setting_in_the_config_file_is_a_clear_error(tmp_path, never_serve):
    config = tmp_path / "gateway.toml"
    config.write_text("colour = 'blue'\n")

    result = run("--config", str(config), "worker")

    assert_clean_error(result, str(config), "'colour'")


def test_a_bad_environment_variable_is_a_clear_error(monkeypatch, never_serve):
    monkeypatch.setenv("MSISDN_GATEWAY_PORT", "http")

    result = run("api")

    assert_clean_error(result, "MSISDN_GATEWAY_PORT", "not an integer")


# --- db upgrade --------------------------------------------------------------------------

def test_db_upgrade_creates_the_schema_and_prints_the_revision(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"

    result = run("db", "upgrade", "--database-url", url)

    assert result.exit_code == 0, result.output
    engine = create_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
        with engine.connect() as connection:
            revision = connection.exec_driver_sql(
                "SELECT version_num FROM alembic_version").scalar_one()
    finally:
        engine.dispose()
    assert {"sessions", "verification_codes", "hawk_nonces", "rate_counters",
            "outbox"} <= tables
    assert result.output.strip() == f"database at revision {revision}"


def test_db_upgrade_twice_reports_the_same_revision(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"

    first, second = run("db", "upgrade", "--database-url", url), run(
        "db", "upgrade", "--database-url", url)

    assert first.exit_code == second.exit_code == 0
    assert first.output == second.output


@pytest.mark.parametrize("url, words", [
    ("not a url", ["'not a url'", "not a database URL"]),
    ("sqlite+nodriver:///x.db", ["cannot use", "nodriver"]),
])
def test_db_upgrade_with_an_unusable_database_url_is_a_clear_error(url, words):
    assert_clean_error(run("db", "upgrade", "--database-url", url), *words)


def test_db_upgrade_on_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    other = tmp_path / "notes.txt"
    other.write_text("shopping list: milk, eggs, and more than a page header of text\n" * 20)

    result = run("db", "upgrade", "--database-url", f"sqlite:///{other}")

    assert_clean_error(result, "cannot open the database", "not a database")
    assert other.read_text().startswith("shopping list")


# --- version and the console script ------------------------------------------------------

def test_version_prints_the_installed_version():
    result = run("--version")

    assert result.exit_code == 0
    assert result.output.strip() == f"msisdn-gateway, version {version('msisdn-gateway')}"


def console_env() -> dict[str, str]:
    return {name: value for name, value in os.environ.items()
            if not name.startswith("MSISDN_GATEWAY_")}


def test_the_console_script_prints_its_version():
    completed = subprocess.run([str(CONSOLE_SCRIPT), "--version"], capture_output=True,
                               text=True, timeout=60, env=console_env())

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == f"msisdn-gateway, version {version('msisdn-gateway')}"


def test_the_console_script_refuses_to_serve_without_keys(tmp_path):
    state = tmp_path / "state"

    completed = subprocess.run([str(CONSOLE_SCRIPT), "api", "--state-dir", str(state)],
                               capture_output=True, text=True, timeout=60, cwd=tmp_path,
                               env=console_env())

    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    assert "msisdn-gateway keys generate" in completed.stderr
    assert str(state / "keys" / "signing-key.pem") in completed.stderr

"""What each long-lived process imports (issue 9: memory is the imports), read in a fresh
interpreter, as the real import graph runs: the API app without Alembic, Authlib or the
modem side's PDU codec; ``serve``'s supervisor and the API's gunicorn arbiter without
SQLAlchemy or the app, their keys check and migrations run in a forked child whose
failures are still clean errors. Each test is one subprocess of about a second."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.process.supervisor import child_command

#: Only the migrations use these (Alembic with Mako and Pygments: 9 MB of RSS).
MIGRATIONS_ONLY = {"alembic", "mako", "pygments", "gateway.storage.migrate"}
#: The CAMARA face loads Authlib and joserfc on its first request, not at start.
CAMARA_ONLY = {"authlib", "joserfc", "gateway.api.camara.oidc"}
#: The modem side's PDU codec is the worker's (the admin page's inbox lists it lazily).
WORKER_ONLY = {"gsmmodem", "serial", "modem.pdu", "modem.inbox", "gateway.pipeline.inbound"}
#: The app and its storage: what the supervisor and the gunicorn arbiter never need.
THE_APP = {"flask", "werkzeug", "sqlalchemy", "cryptography", "gateway.api",
           "gateway.storage", "gateway.http", "gateway.verification"}

BUILD_APP = """
import json, sys
from gateway.config.settings import load_settings
from gateway.process.wiring import build_app

settings = load_settings(overrides={"state_dir": sys.argv[1], "signing_key_file": sys.argv[2],
                                    "secret_key_file": sys.argv[3]}, environ={})
build_app(settings)
print(json.dumps(sorted(sys.modules)))
"""

#: The CLI in this process, its servers replaced by a record of sys.modules at the moment
#: they would start: for `api`, once gunicorn's configuration (worker and logger class
#: included) is loaded, as the arbiter does before it forks.
CLI_UNTIL_SERVING = """
import json, sys
from gateway.cli import server_commands
from gateway.process import supervisor

def record(*_args, **_kwargs):
    with open(sys.argv[1], "w") as out:
        json.dump(sorted(sys.modules), out)
    return 0

def serve_api(settings):
    from gateway.process.api_server import ApiServer

    config = ApiServer(settings).cfg
    config.worker_class, config.logger_class
    record()

server_commands._serve_api = serve_api
server_commands._worker_main = record
supervisor.serve = record
server_commands.main(sys.argv[2:], prog_name="msisdn-gateway")
"""


def environment() -> dict[str, str]:
    return {name: value for name, value in os.environ.items()
            if not name.startswith("MSISDN_GATEWAY_")}


def loaded(modules: list[str], names: set[str]) -> list[str]:
    """The modules of ``modules`` that are one of ``names`` or inside one of them."""
    return sorted(module for module in modules
                  if any(module == name or module.startswith(name + ".") for name in names))


def run_cli(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, list | None]:
    """The command in a fresh interpreter; with the modules it had loaded when it would
    have started serving (None if it did not get there)."""
    record = tmp_path / "modules.json"
    completed = subprocess.run([sys.executable, "-c", CLI_UNTIL_SERVING, str(record), *args],
                               cwd=tmp_path, capture_output=True, text=True, timeout=60,
                               env=environment())
    return completed, json.loads(record.read_text()) if record.exists() else None


@pytest.fixture
def state(tmp_path, key_files) -> Path:
    """A state directory holding the run's keys (no RSA key generated per test)."""
    keys = tmp_path / "state" / "keys"
    keys.mkdir(parents=True)
    shutil.copy(key_files[0], keys / "signing-key.pem")
    shutil.copy(key_files[1], keys / "secret.hex")
    return tmp_path / "state"


def revision(database: Path) -> str:
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT version_num FROM alembic_version").fetchone()[0]


def test_building_the_api_app_loads_neither_alembic_nor_authlib_nor_the_modem_codec(
        tmp_path, key_files):
    completed = subprocess.run(
        [sys.executable, "-c", BUILD_APP, str(tmp_path), *map(str, key_files)],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, env=environment())

    assert completed.returncode == 0, completed.stderr
    modules = json.loads(completed.stdout)
    assert {"flask", "sqlalchemy.orm", "gateway.api.app", "gateway.api.camara.views"} <= set(
        modules)  # it did build the app, with the CAMARA face mounted
    assert loaded(modules, MIGRATIONS_ONLY | CAMARA_ONLY | WORKER_ONLY) == []
    assert loaded(modules, {"sqlalchemy.dialects.postgresql"}) == []  # on SQLite


def test_serve_migrates_in_a_child_and_its_supervisor_loads_neither_sqlalchemy_nor_the_app(
        tmp_path, state):
    completed, modules = run_cli(tmp_path, "serve", "--simulate", "--state-dir", str(state))

    assert completed.returncode == 0, completed.stderr
    assert revision(state / "msisdn-gateway.sqlite3")  # migrated, by the child
    assert modules is not None and "gateway.process.supervisor" in modules
    assert loaded(modules, MIGRATIONS_ONLY | THE_APP | {"gunicorn", "uvloop", "httptools"}) == []
    assert loaded(modules, {"gateway.cli.admin_commands", "modem.pdu"}) == []


def test_the_api_arbiter_loads_gunicorn_and_its_worker_class_but_not_the_app(tmp_path, state):
    completed, modules = run_cli(tmp_path, "api", "--simulate", "--state-dir", str(state))

    assert completed.returncode == 0, completed.stderr
    assert revision(state / "msisdn-gateway.sqlite3")
    assert {"gunicorn.workers.base", "gateway.process.edge_worker", "httptools"} <= set(modules)
    assert loaded(modules, {"gevent"}) == []  # the worker is ours, on an asyncio loop
    # gunicorn forks its workers from this process: what it holds, each of them holds.
    assert loaded(modules, MIGRATIONS_ONLY | THE_APP | CAMARA_ONLY | WORKER_ONLY) == []


def test_serve_starts_its_roles_prepared_and_a_prepared_role_neither_migrates_nor_makes_keys(
        tmp_path):
    command = child_command("worker", None, {"simulate": True, "state_dir": "var"})
    state = tmp_path / "state"

    completed, modules = run_cli(tmp_path, "worker", "--prepared", "--simulate",
                                 "--state-dir", str(state))

    assert command[command.index("worker") + 1] == "--prepared"
    assert completed.returncode == 0, completed.stderr
    assert modules is not None
    assert not (state / "msisdn-gateway.sqlite3").exists()
    assert not (state / "keys").exists()


def test_a_database_the_migrating_child_cannot_open_is_a_clean_error(tmp_path, state):
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list: milk, eggs, and more than a page header of text\n" * 20)

    completed, modules = run_cli(tmp_path, "api", "--simulate", "--state-dir", str(state),
                                 "--database-url", f"sqlite:///{notes}")

    assert completed.returncode == 1
    assert modules is None  # refused before serving
    assert "Error: cannot open the database" in completed.stderr
    assert "not a database" in completed.stderr
    assert "Traceback" not in completed.stdout + completed.stderr


def test_a_failing_migration_is_a_clean_error_with_its_traceback_in_the_log(tmp_path, state):
    database = state / "msisdn-gateway.sqlite3"
    with sqlite3.connect(database) as connection:  # from a newer release than this one
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        connection.execute("INSERT INTO alembic_version VALUES ('9999')")

    completed, modules = run_cli(tmp_path, "worker", "--simulate", "--state-dir", str(state))

    assert completed.returncode == 1
    assert modules is None
    error = [line for line in completed.stderr.splitlines() if line.startswith("Error:")]
    assert len(error) == 1, completed.stderr
    assert error[0].startswith("Error: the keys check and the migrations failed: ")
    assert "9999" in error[0]
    assert "Traceback" in completed.stdout  # the child logged it (stdout: the servers' log)

"""The ``msisdn-gateway`` command: the composition root of every process."""
from __future__ import annotations

import importlib
import logging
import sys

import click
from sqlalchemy.exc import SQLAlchemyError

from gateway.settings import SettingsError, load_settings
from gateway.storage.db import DatabaseUrlError

log = logging.getLogger("gateway.cli")


def _settings(ctx: click.Context, **overrides):
    if "modems" in overrides and not overrides["modems"]:
        overrides["modems"] = None  # no --modem flag: keep the configured modems
    try:
        return load_settings(ctx.obj.get("config"), overrides)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _server_options(command):
    options = [
        click.option("--simulate", is_flag=True, default=None,
                     help="Simulated modems and network; throw-away keys under the state dir."),
        click.option("--database-url", help="SQLAlchemy URL (default: SQLite in the state dir)."),
        click.option("--state-dir", type=click.Path(file_okay=False), help="Default ./var."),
        click.option("--host", help="Address to listen on (default 127.0.0.1)."),
        click.option("--port", type=int, help="Port to listen on (default 5000)."),
        click.option("--workers", type=int, help="API processes (default: one per core)."),
        click.option("--public-url", help="The URL clients use, when behind a TLS proxy."),
        click.option("--modem", "modems", multiple=True,
                     help="A modem's port URL or device path (repeatable); replaces the "
                          "configured list."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group()
@click.option("--config", type=click.Path(dir_okay=False),
              help="TOML configuration file (or MSISDN_GATEWAY_CONFIG).")
@click.version_option(package_name="msisdn-gateway")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """Self-hosted MSISDN verification gateway."""
    ctx.ensure_object(dict)["config"] = config


def _open_database(settings):
    """The engine with migrations applied; a database that cannot be opened (bad URL,
    missing driver, unwritable directory, not a database) is a clean error."""
    from gateway.wiring import prepare_database

    try:
        return prepare_database(settings)
    except DatabaseUrlError as exc:
        raise click.ClickException(str(exc)) from None
    except (SQLAlchemyError, OSError) as exc:
        raise click.ClickException(f"cannot open the database: {exc}") from None


def _prepare(settings):
    """Logging, keys check and migrations, in the parent before any fork."""
    from gateway.keys import load_keys
    from gateway.wiring import configure_logging

    configure_logging(settings)
    try:
        load_keys(settings)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    return _open_database(settings)


def _export_metrics_dir(settings, role: str) -> None:
    """prometheus_client multiprocess mode for this role's processes (gateway.metrics);
    before anything imports prometheus_client, inherited by gunicorn's workers."""
    from gateway.metrics import MULTIPROC_ENV, prepare_process_dir
    from gateway.settings import export_environment

    try:
        export_environment(MULTIPROC_ENV, str(prepare_process_dir(settings, role)))
    except OSError as exc:
        raise click.ClickException(f"cannot prepare the metrics directory: {exc}") from None


def _worker_main(settings) -> None:
    from gateway.storage.db import make_engine
    from gateway.wiring import build_deps, configure_logging
    from gateway.worker import run_worker

    configure_logging(settings)
    run_worker(build_deps(settings, make_engine(settings.effective_database_url)))


def _serve_api(settings) -> None:
    from gateway.serving import ApiServer

    ApiServer(settings).run()


@main.command()
@_server_options
@click.pass_context
def serve(ctx, **flags):
    """Run the API workers and the worker process on this box."""
    from gateway import supervisor

    settings = _settings(ctx, **flags)
    _prepare(settings).dispose()  # check keys and migrate once, before both start
    code = supervisor.serve(ctx.obj.get("config"), flags)
    if code:
        sys.exit(code)


@main.command()
@_server_options
@click.pass_context
def api(ctx, **flags):
    """Run only the API workers (gunicorn)."""
    settings = _settings(ctx, **flags)
    _prepare(settings).dispose()
    _export_metrics_dir(settings, "api")
    _serve_api(settings)


@main.command()
@_server_options
@click.pass_context
def worker(ctx, **flags):
    """Run only the worker process (scheduler; modems with the SMS pipeline)."""
    settings = _settings(ctx, **flags)
    _prepare(settings).dispose()
    _export_metrics_dir(settings, "worker")
    _worker_main(settings)


@main.group()
def keys():
    """Server keys."""


@keys.command("generate")
@click.option("--force", is_flag=True, help="Replace existing keys (ends every session).")
@click.option("--state-dir", type=click.Path(file_okay=False))
@click.pass_context
def keys_generate(ctx, force, state_dir):
    """Create the certificate signing key and the server secret (mode 0600)."""
    from gateway.keys import generate_keys

    settings = _settings(ctx.find_root(), state_dir=state_dir)
    try:
        for path in generate_keys(settings, force=force):
            click.echo(f"wrote {path}")
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@main.group()
def db():
    """Database schema."""


@db.command("upgrade")
@click.option("--database-url")
@click.option("--state-dir", type=click.Path(file_okay=False))
@click.pass_context
def db_upgrade(ctx, database_url, state_dir):
    """Apply the schema migrations."""
    from gateway.storage.migrate import current_revision

    settings = _settings(ctx.find_root(), database_url=database_url, state_dir=state_dir)
    engine = _open_database(settings)
    try:
        click.echo(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()


def _register_admin_commands() -> None:
    importlib.import_module("gateway.cli_admin")  # its commands register on `main`


_register_admin_commands()

if __name__ == "__main__":  # python -m gateway.cli (how `serve` starts its children)
    sys.exit(importlib.import_module("gateway.cli").main())

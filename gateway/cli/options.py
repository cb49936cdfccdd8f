"""What the commands share: loading Settings with their flags, the server flags, opening
the migrated database, and preparing a server process. Imports gateway.config and
gateway.storage at the top; the process wiring only inside the functions that need it."""
from __future__ import annotations

import click
from sqlalchemy.exc import SQLAlchemyError

from gateway.config.settings import SettingsError, load_settings
from gateway.storage.db import DatabaseUrlError


def load_cli_settings(ctx: click.Context, **overrides):
    if "modems" in overrides and not overrides["modems"]:
        overrides["modems"] = None  # no --modem flag: keep the configured modems
    try:
        return load_settings(ctx.obj.get("config"), overrides)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def server_options(command):
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


def open_database(settings):
    """The engine with migrations applied; a database that cannot be opened (bad URL,
    missing driver, unwritable directory, not a database) is a clean error."""
    from gateway.process.wiring import prepare_database

    try:
        return prepare_database(settings)
    except DatabaseUrlError as exc:
        raise click.ClickException(str(exc)) from None
    except (SQLAlchemyError, OSError) as exc:
        raise click.ClickException(f"cannot open the database: {exc}") from None


def prepare(settings):
    """Logging, keys check and migrations, in the parent before any fork."""
    from gateway.config.keys import load_keys
    from gateway.logs import configure_logging

    configure_logging(settings)
    try:
        load_keys(settings)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    return open_database(settings)

"""What the commands share: loading Settings with their flags, the server flags, opening
the migrated database, and preparing a server process (keys check and migrations in a
child process). Imports click and gateway.config at the top; SQLAlchemy, the storage and
the process wiring only inside the functions that need them, so that ``serve``'s
supervisor and the api and worker roles do not carry what only the migrations use."""
from __future__ import annotations

import logging
import os
import sys
import threading

import click

from gateway.config.settings import SettingsError, load_settings

log = logging.getLogger("gateway.cli")


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
    from sqlalchemy.exc import SQLAlchemyError

    from gateway.process.wiring import prepare_database
    from gateway.storage.db import DatabaseUrlError

    try:
        return prepare_database(settings)
    except DatabaseUrlError as exc:
        raise click.ClickException(str(exc)) from None
    except (SQLAlchemyError, OSError) as exc:
        raise click.ClickException(f"cannot open the database: {exc}") from None


def prepare(settings) -> None:
    """Logging, then the keys check and the migrations, before this process serves (or
    supervises) and before any fork. The check and the migrations run in a child process
    (:func:`in_child`), so this long-lived process never loads Alembic, Mako and Pygments
    (9 MB of RSS), nor SQLAlchemy and cryptography where it does not use them (``serve``'s
    supervisor, the API's gunicorn arbiter), and gunicorn does not fork its workers from
    a process that carries them. Raises click.ClickException with either refusal."""
    from gateway.logs import configure_logging

    configure_logging(settings)
    in_child(check_keys_and_migrate, settings, what="the keys check and the migrations")


def check_keys_and_migrate(settings) -> None:
    """The keys can be read (under --simulate, throw-away ones are created first) and the
    database is migrated; each refusal is a click.ClickException."""
    from gateway.config.keys import load_keys

    try:
        load_keys(settings)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:  # only writing --simulate's keys raises it (reading says why)
        raise click.ClickException(f"cannot create the throw-away keys: {exc}") from None
    open_database(settings).dispose()


def in_child(function, *args, what: str) -> None:
    """``function(*args)`` in a forked child process, waited for: what it imports and
    allocates ends with the child. A click.ClickException it raises is raised here with
    the same message; any other exception is logged by the child with its traceback and
    raised here as a click.ClickException saying that ``what`` failed.

    fork copies only the calling thread, so in a process that runs other threads (a test
    runner) ``function`` runs in place instead; the commands call this before they start
    any thread."""
    if threading.active_count() > 1:
        function(*args)
        return
    reader, writer = os.pipe()
    _flush_output()  # else the child would write this process's buffered lines again
    pid = os.fork()
    if pid == 0:
        code = 1
        try:  # whatever happens, the child never returns into the caller's code
            os.close(reader)
            code = _run_child(function, args, writer, what)
        finally:
            os._exit(code)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        message = pipe.read().decode("utf-8", "replace")
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if code != 0:
        raise click.ClickException(message or f"{what} ended with status {code}")


def _run_child(function, args, writer: int, what: str) -> int:
    """The child's side of :func:`in_child`: returns its exit status, having written the
    message of a failure to ``writer``. (``os._exit`` follows: the child never returns
    into the caller's code, nor runs its atexit handlers.)"""
    try:
        function(*args)
        code, message = 0, ""
    except click.ClickException as exc:
        code, message = 1, exc.format_message()
    except KeyboardInterrupt:
        code, message = 130, f"{what}: interrupted"
    except Exception as exc:  # the top of the child: anything else, with its traceback
        log.exception("%s failed", what)
        code, message = 1, f"{what} failed: {type(exc).__name__}: {exc} (traceback logged)"
    os.write(writer, message.encode("utf-8", "replace"))
    _flush_output()
    return code


def _flush_output() -> None:
    """sys.stdout, sys.stderr and the root logger's handlers, written out."""
    for stream in (sys.stdout, sys.stderr, *logging.getLogger().handlers):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or gone: nothing left to lose
            pass

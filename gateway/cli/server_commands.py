"""The ``msisdn-gateway`` command group and its server commands: serve, api, worker, keys,
db. The administration commands (admin_commands) are registered explicitly, when the group
first needs them (:class:`CommandGroup`): not in the server processes."""
from __future__ import annotations

import logging
import sys

import click

from gateway.cli.options import (load_cli_settings, open_database, prepare,
                                  server_options)
from gateway.config.settings import SettingsError

log = logging.getLogger("gateway.cli")


class CommandGroup(click.Group):
    """``msisdn-gateway``: the administration commands are added the first time the group
    lists its commands (help, completion) or is asked for one it does not have, so that
    ``serve``, ``api`` and ``worker`` do not build them (and their imports) in every
    process they run."""

    _admin_registered = False

    def _register_admin(self) -> None:
        if not self._admin_registered:
            from gateway.cli import admin_commands

            admin_commands.register(self)
            self._admin_registered = True

    def get_command(self, ctx, cmd_name):
        if cmd_name not in self.commands:
            self._register_admin()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx):
        self._register_admin()
        return super().list_commands(ctx)


@click.group(cls=CommandGroup)
@click.option("--config", type=click.Path(dir_okay=False),
              help="TOML configuration file (or MSISDN_GATEWAY_CONFIG).")
@click.version_option(package_name="msisdn-gateway")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """Self-hosted MSISDN verification gateway."""
    ctx.ensure_object(dict)["config"] = config


def _export_metrics_dir(settings, role: str) -> None:
    """prometheus_client multiprocess mode for this role's processes (gateway.metrics);
    before anything imports prometheus_client, inherited by gunicorn's workers."""
    from gateway.metrics import MULTIPROC_ENV, prepare_process_dir
    from gateway.config.settings import export_environment

    try:
        export_environment(MULTIPROC_ENV, str(prepare_process_dir(settings, role)))
    except OSError as exc:
        raise click.ClickException(f"cannot prepare the metrics directory: {exc}") from None


def _worker_main(settings) -> None:
    from gateway.storage.db import make_engine
    from gateway.logs import configure_logging
    from gateway.process.wiring import build_deps
    from gateway.pipeline.leases import WorkerIdentityInUse
    from gateway.process.worker import run_worker

    configure_logging(settings)
    try:
        run_worker(build_deps(settings, make_engine(settings.effective_database_url)))
    except (WorkerIdentityInUse, SettingsError) as exc:  # a second worker with our identity
        raise click.ClickException(str(exc)) from None


def _serve_api(settings) -> None:
    from gateway.process.api_server import ApiServer

    ApiServer(settings).run()


def _run_role(ctx, flags: dict, role: str, run) -> None:
    """One role's process: settings, keys check and migrations (unless ``serve``, which
    started it, did both: ``--prepared``), its metrics directory, then ``run(settings)``
    until it stops."""
    prepared = flags.pop("prepared")
    settings = load_cli_settings(ctx, **flags)
    if prepared:
        from gateway.logs import configure_logging

        configure_logging(settings)
    else:
        prepare(settings)
    _export_metrics_dir(settings, role)
    run(settings)


def prepared_option(command):
    """``--prepared`` (hidden): serve's children, whose keys serve checked and whose
    database it migrated just before starting them (gateway.process.supervisor)."""
    return click.option("--prepared", is_flag=True, hidden=True,
                        help="The keys are checked and the database migrated.")(command)


@main.command()
@server_options
@click.pass_context
def serve(ctx, **flags):
    """Run the API workers and the worker process on this box."""
    from gateway.process import supervisor

    settings = load_cli_settings(ctx, **flags)
    prepare(settings)  # check keys and migrate once, before both start (--prepared)
    code = supervisor.serve(ctx.obj.get("config"), flags)
    if code:
        sys.exit(code)


@main.command()
@server_options
@prepared_option
@click.pass_context
def api(ctx, **flags):
    """Run only the API workers (gunicorn)."""
    _run_role(ctx, flags, "api", _serve_api)


@main.command()
@server_options
@prepared_option
@click.pass_context
def worker(ctx, **flags):
    """Run only the worker process (scheduler; modems with the SMS pipeline)."""
    _run_role(ctx, flags, "worker", _worker_main)


@main.group()
def keys():
    """Server keys."""


@keys.command("generate")
@click.option("--force", is_flag=True, help="Replace existing keys (ends every session).")
@click.option("--state-dir", type=click.Path(file_okay=False))
@click.pass_context
def keys_generate(ctx, force, state_dir):
    """Create the certificate signing key and the server secret (mode 0600)."""
    from gateway.config.keys import generate_keys

    settings = load_cli_settings(ctx.find_root(), state_dir=state_dir)
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

    settings = load_cli_settings(ctx.find_root(), database_url=database_url, state_dir=state_dir)
    engine = open_database(settings)
    try:
        click.echo(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()

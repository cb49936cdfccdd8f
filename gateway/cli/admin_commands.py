"""Administration commands of ``msisdn-gateway``: modems, send, selftest, probe, sim,
inbox, outbox, guard, accounts. Human output by default, ``--json`` for scripts. The commands that touch
modems take ``--simulate`` (simulated modems and network in this process, as
`serve --simulate`) and ``--database-url``. What a command needs beyond click and the
settings (listings, storage, modems) is imported inside it: every process of ``serve``
imports this module to build the command group."""
from __future__ import annotations

import sys

import click

from gateway.admin import output
from gateway.cli.options import load_cli_settings, open_database
from gateway.errors import ApiError
from gateway.config.settings import SettingsError


def _options(*, simulate: bool = True, limit: bool = False):
    def decorate(command):
        options = [click.option("--database-url", help="SQLAlchemy URL of the gateway."),
                   click.option("--state-dir", type=click.Path(file_okay=False)),
                   click.option("--json", "as_json", is_flag=True, help="JSON output.")]
        if simulate:
            options.append(click.option("--simulate", is_flag=True, default=None,
                                        help="Simulated modems and network in this process."))
        if limit:
            options.append(click.option("--limit", type=click.IntRange(1, 10000), default=20,
                                        show_default=True))
        for option in reversed(options):
            command = option(command)
        return click.pass_context(command)
    return decorate


def _deps(ctx, *, keys: bool = False, **overrides):
    """Settings, migrated database and use-case dependencies; the keys are loaded only
    when needed (under --simulate a worker runs here and handles SMS-MO)."""
    from gateway.clock import SystemClock
    from gateway.storage.uow import uow_factory
    from gateway.deps import Deps
    from gateway.logs import configure_logging
    from gateway.process.wiring import build_deps, worker_bell

    overrides.setdefault("log_level", "WARNING")
    settings = load_cli_settings(ctx, **overrides)
    configure_logging(settings, sys.stderr)  # stdout is the command's output (--json)
    engine = open_database(settings)
    if keys or settings.simulate:
        try:
            return build_deps(settings, engine)
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None
    return Deps(settings=settings, clock=SystemClock(), secret=None,
                uow=uow_factory(engine, wake_worker=worker_bell(settings)), signing_key=None)


def _emit(value, as_json: bool, columns=None, footer: str | None = None) -> None:
    if as_json:
        click.echo(output.to_json(value))
        return
    click.echo(output.table(value, columns))
    if footer:
        click.echo(footer)


@click.command()
@_options()
def modems(ctx, database_url, state_dir, as_json, simulate):
    """The modems of every box as their workers report them, with the worker that owns
    each (or simulated ones, with --simulate)."""
    from gateway.admin import listings
    from gateway.admin.local import local_worker

    deps = _deps(ctx, database_url=database_url, state_dir=state_dir, simulate=simulate)
    if deps.settings.simulate:
        with local_worker(deps) as worker:
            worker.publish_status()
            rows = listings.modem_rows(deps)
    else:
        rows = listings.modem_rows(deps)
    footer = listings.workers_footer(listings.worker_rows(deps)) if not as_json else None
    if not rows:
        footer = "\n".join(filter(None, [
            "No modem reported: is the worker running? (msisdn-gateway serve)", footer]))
    _emit(rows, as_json, listings.MODEM_COLUMNS, footer)


@click.command()
@click.argument("number")
@click.argument("text")
@click.option("--timeout", type=float, default=120.0, show_default=True,
              help="Seconds to follow the SMS.")
@_options()
def send(ctx, number, text, timeout, database_url, state_dir, as_json, simulate):
    """Send a test SMS to NUMBER through the gateway's modems and follow it."""
    from contextlib import nullcontext

    from gateway.admin.local import local_worker
    from gateway.admin.sending import follow, queue_test_sms

    # The keys: the number and text are sealed in the outbox (gateway.crypto.sealing).
    deps = _deps(ctx, keys=True, database_url=database_url, state_dir=state_dir,
                 simulate=simulate)
    try:
        row_id = queue_test_sms(deps, number, text)
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    changes = []

    def report(state):
        changes.append(state)
        if not as_json:
            detail = ", ".join(f"{k} {state[k]}" for k in ("modem", "last_error") if state[k])
            click.echo(f"{state['status']}" + (f" ({detail})" if detail else ""))

    with local_worker(deps) if deps.settings.simulate else nullcontext():
        final = follow(deps, row_id, timeout, report)
    if as_json:
        click.echo(output.to_json({"final": final, "changes": changes}))
    if final["status"] == "sent" and not as_json:
        click.echo(f"accepted by the network; no delivery report within {timeout:.0f} s")
    sys.exit(0 if final["status"] in ("delivered", "sent") else 1)


@click.command()
@click.option("--modem", "url", help="Port URL (default: each configured modem).")
@click.option("--pin", help="SIM PIN.")
@click.option("--own-number", help="The SIM's number, if it does not know it.")
@click.option("--timeout", type=float, default=120.0, show_default=True,
              help="Seconds to wait for the SMS to come back.")
@_options()
def selftest(ctx, url, pin, own_number, timeout, database_url, state_dir, as_json, simulate):
    """Check a SIM: PIN, registration, signal, SMSC, and an SMS to its own number."""
    from gateway.admin.selftest import run_selftest
    from gateway.admin.targets import selftest_targets

    deps = _deps(ctx, database_url=database_url, state_dir=state_dir, simulate=False)
    configs = selftest_targets(deps, url=url, pin=pin, own_number=own_number,
                               simulate=bool(simulate))
    results, failed = {}, False
    for config in configs:
        steps = run_selftest(config, timeout)
        results[config.label] = [s.as_dict() for s in steps]
        failed |= not all(s.ok for s in steps)
        if not as_json:
            click.echo(f"{config.label} ({config.url})")
            for step in steps:
                click.echo(f"  {'PASS' if step.ok else 'FAIL'}  {step.name}: {step.detail}")
    if as_json:
        click.echo(output.to_json(results))
    sys.exit(1 if failed else 0)


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--simulate", is_flag=True, help="Probe a simulated modem (no URL needed).")
@click.option("--database-url", help="Refuse a port the gateway's worker reports using.")
@click.option("--state-dir", type=click.Path(file_okay=False))
@click.pass_context
def probe(ctx, args, simulate, database_url, state_dir):
    """Open a modem and print its identity, network, signal and AT transcript.

    ARGS are those of python -m modem.probe: URL [--pin PIN] [--baudrate N] [--rtscts]
    [--dsrdtr] [--xonxoff] [--shared] [--timeout S]."""
    from modem.probe import main as probe_main

    args = list(args)
    if simulate and not any(not a.startswith("-") for a in args):
        args.insert(0, "modemsim://probe?profile=generic")
    elif database_url or state_dir:
        _refuse_busy_port(_deps(ctx, database_url=database_url, state_dir=state_dir), args)
    sys.exit(probe_main(args, sys.stdout, sys.stderr))  # the streams of now


def _refuse_busy_port(deps, args) -> None:
    from gateway.admin.targets import recent_local_statuses

    busy = {m.url for m in recent_local_statuses(deps)}
    if busy.intersection(args):
        raise click.ClickException("the gateway's worker is using this port: stop it first "
                                   "(systemctl stop msisdn-gateway)")


@click.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def sim(args):
    """A simulated modem on a pseudo-terminal (python -m modem.sim.pty; --help for its
    options)."""
    from modem.sim.pty import main as pty_main

    sys.exit(pty_main(list(args)))


@click.command()
@click.option("--status", help="Only rows with this status (queued, sending, sent, ...).")
@_options(simulate=False, limit=True)
def outbox(ctx, status, database_url, state_dir, as_json, limit):
    """The latest SMS to send or sent, newest first."""
    from gateway.admin import listings

    deps = _deps(ctx, database_url=database_url, state_dir=state_dir)
    _emit(listings.outbox_rows(deps, limit, status), as_json, listings.OUTBOX_COLUMNS)


@click.command()
@click.option("--pdu", is_flag=True, help="Only undecodable SMS, with their raw PDU (or, for "
                                          "one kept after its handling failed, what was "
                                          "decoded, as JSON) unsealed (needs the key file).")
@_options(simulate=False, limit=True)
def inbox(ctx, pdu, database_url, state_dir, as_json, limit):
    """The latest SMS received by the modems, newest first."""
    from gateway.admin import listings

    deps = _deps(ctx, keys=pdu, database_url=database_url, state_dir=state_dir)
    rows = listings.inbox_rows(deps, limit, pdu=pdu)
    if pdu and not as_json:  # a PDU is longer than a table cell: not cut
        click.echo(output.table(rows, listings.PDU_COLUMNS, width=400))
        return
    _emit(rows, as_json, listings.INBOX_COLUMNS)


@click.group()
def guard():
    """Pumping detection: destination prefixes, their figures and blocks."""


@guard.command("list")
@_options(simulate=False)
def guard_list(ctx, database_url, state_dir, as_json):
    """Prefixes with code SMS or verifications in the window (guard_window), and their
    blocks (an ended block stays listed for a day)."""
    from gateway.guard import listing

    deps = _deps(ctx, database_url=database_url, state_dir=state_dir)
    rows = listing.prefix_rows(deps)
    settings = deps.settings
    _emit(rows, as_json, listing.COLUMNS,
          f"Figures of the last {settings.guard_window} s; a prefix is blocked for "
          f"{settings.guard_cooldown} s from {settings.guard_min_sms} SMS"
          + (f" at least {settings.guard_settle} s old" if settings.guard_settle else "")
          + f" with less than {settings.guard_min_conversion:.0%} verified."
          if settings.guard_min_sms
          else "Pumping detection is off (guard_min_sms = 0).")


@guard.command("clear")
@click.argument("prefix")
@_options(simulate=False)
def guard_clear(ctx, prefix, database_url, state_dir, as_json):
    """End the block of PREFIX (as listed, e.g. +44741) and forget its figures."""
    from gateway.guard import listing

    deps = _deps(ctx, database_url=database_url, state_dir=state_dir)
    try:
        normalised = listing.normalise_prefix(prefix)
        had_block = listing.clear(deps, normalised)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(output.to_json({"prefix": normalised, "block_cleared": had_block}))
    elif had_block:
        click.echo(f"{normalised}: block lifted, figures reset")
    else:
        click.echo(f"{normalised} had no block; its figures were reset")


@click.group()
def clients():
    """API clients of the OAuth/OpenID Connect faces (Number Verification)."""


def _client_row(info) -> dict:
    return {"client_id": info.client_id, "name": info.name,
            "redirect_uris": list(info.redirect_uris), "webhook_url": info.webhook_url,
            "created_at": info.created_at}


@clients.command("add")
@click.argument("name")
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True,
              help="An exact redirect URI (repeat for several).")
@click.option("--webhook-url", help="URL notified of the client's events.")
@_options(simulate=False)
def clients_add(ctx, name, redirect_uris, webhook_url, database_url, state_dir, as_json):
    """Register the client NAME; prints its client_id and client_secret, the secret once
    (only its hash is kept)."""
    from gateway.verification import clients as api_clients

    deps = _deps(ctx, database_url=database_url, state_dir=state_dir)
    try:
        with deps.uow() as uow:
            client_id, secret = api_clients.add_client(uow, deps, name, redirect_uris,
                                                        webhook_url)
            uow.commit()
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    if as_json:
        click.echo(output.to_json({"client_id": client_id, "client_secret": secret}))
    else:
        click.echo(f"client_id:     {client_id}\nclient_secret: {secret}\n"
                   "(the secret is shown only now: keep it)")


@clients.command("list")
@_options(simulate=False)
def clients_list(ctx, database_url, state_dir, as_json):
    """The API clients (never their secrets)."""
    from gateway.verification import clients as api_clients

    deps = _deps(ctx, database_url=database_url, state_dir=state_dir)
    with deps.uow(read_only=True) as uow:
        rows = [_client_row(info) for info in api_clients.list_clients(uow)]
    if not as_json:
        for row in rows:
            row["redirect_uris"] = " ".join(row["redirect_uris"])
    _emit(rows, as_json, [("client_id", "CLIENT ID"), ("name", "NAME"),
                          ("redirect_uris", "REDIRECT URIS"), ("created_at", "CREATED")])


@clients.command("remove")
@click.argument("client_id")
@_options(simulate=False)
def clients_remove(ctx, client_id, database_url, state_dir, as_json):
    """Remove CLIENT_ID, its pending proofs and its tokens."""
    from gateway.verification import clients as api_clients

    deps = _deps(ctx, database_url=database_url, state_dir=state_dir)
    with deps.uow() as uow:
        removed = api_clients.remove_client(uow, client_id)
        uow.commit()
    if not removed:
        raise click.ClickException(f"no client {client_id}")
    click.echo(output.to_json({"client_id": client_id, "removed": True}) if as_json
               else f"{client_id} removed")


@click.group("admin")
def admin_page():
    """The admin page (/admin/): its password."""


@admin_page.command("password")
@click.option("--state-dir", type=click.Path(file_okay=False))
@click.pass_context
def admin_password(ctx, state_dir):
    """Set the admin page's password, read from standard input (one line; asked twice
    on a terminal). It is stored as a scrypt hash in admin_password_file (default
    <state_dir>/admin-password); setting it again ends every admin session."""
    from gateway.admin.password import PasswordError, hash_password, write_password_hash

    settings = load_cli_settings(ctx, state_dir=state_dir)
    if sys.stdin.isatty():
        password = click.prompt("Admin password", hide_input=True,
                                confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        path = write_password_hash(settings, hash_password(password))
    except PasswordError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write the password file: {exc}") from None
    click.echo(f"admin password set ({path}); open /admin/ from an address in "
               "admin_networks")


@admin_page.command("unlock")
@click.option("--database-url", help="SQLAlchemy URL of the gateway.")
@click.option("--state-dir", type=click.Path(file_okay=False))
@click.pass_context
def admin_unlock(ctx, database_url, state_dir):
    """Forget the admin page's failed logins, per address and for the whole box, so that
    you can log in now: someone on the network may have used up the box's 30 attempts
    per 15 minutes."""
    from gateway.admin.password import clear_login_limits

    deps = _deps(ctx, database_url=database_url, state_dir=state_dir, simulate=False)
    cleared = clear_login_limits(deps)
    click.echo(f"admin login limits cleared ({cleared} counter(s)): log in now" if cleared
               else "no admin login attempt was counted: nothing to clear")


@click.group()
def accounts():
    """Accounts of the TextSecure registration face (/v1/accounts)."""


@accounts.command("list")
@_options(simulate=False)
def accounts_list(ctx, database_url, state_dir, as_json):
    """The accounts, numbers masked, with their push ids (kind only) and unused prekeys."""
    from gateway.verification import accounts as textsecure

    deps = _deps(ctx, database_url=database_url, state_dir=state_dir)
    rows = [{"number": row.number_masked, "supports_sms": row.supports_sms,
             "push": row.push or "-", "prekeys": row.prekeys, "created_at": row.created_at}
            for row in textsecure.list_accounts(deps)]
    if not rows and not as_json:
        click.echo("No TextSecure account.")
        return
    _emit(rows, as_json, [("number", "NUMBER"), ("supports_sms", "SMS"), ("push", "PUSH"),
                          ("prekeys", "PREKEYS"), ("created_at", "CREATED")])


@accounts.command("remove")
@click.argument("number")
@_options(simulate=False)
def accounts_remove(ctx, number, database_url, state_dir, as_json):
    """Remove the account of NUMBER (E.164) and its prekeys."""
    from gateway.verification import accounts as textsecure
    from gateway.verification.msisdn import parse_msisdn
    from modem.numbers import mask_number

    deps = _deps(ctx, keys=True, database_url=database_url, state_dir=state_dir)
    try:
        normalised = parse_msisdn(number, "NUMBER")
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    removed = textsecure.remove_account(deps, normalised)
    if as_json:
        click.echo(output.to_json({"number": mask_number(normalised), "removed": removed}))
    elif removed:
        click.echo(f"{mask_number(normalised)}: account removed")
    else:
        raise click.ClickException(f"{mask_number(normalised)} has no account")


def register(group: click.Group) -> None:
    """Add the administration commands to ``group`` (the ``msisdn-gateway`` command)."""
    for command in (modems, send, selftest, probe, sim, outbox, inbox, guard, clients,
                    admin_page):
        group.add_command(command)
    group.add_command(accounts)  # the TextSecure face's (issue 15)

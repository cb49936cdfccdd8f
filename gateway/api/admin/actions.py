"""The admin actions, each a POST behind the session's CSRF token (checked by the gate,
gateway.api.admin.blueprint) and an explicit confirmation box (``confirm=yes``):

    GET  /admin/send              the test SMS form
    POST /admin/send              number, text: queued (gateway.admin.sending), then
    GET  /admin/send/<id>         its status, refreshed live until final
    POST /admin/faults            modem, fault, action=on|off (--simulate only: through
                                  the simulator's command table, as POST/DELETE /__sim__/...)
    POST /admin/guard/clear       prefix: end its block, forget its figures
    GET  /admin/clients           POST /admin/clients (add: the secret shown once)
    POST /admin/clients/<id>/remove
"""
from __future__ import annotations

import logging
import re

from flask import make_response, redirect, render_template, request, url_for

from gateway.admin.sending import FINAL, queue_test_sms
from gateway.api.admin.access import AdminError
from gateway.api.admin.blueprint import ROW_ID, admin, deps
from gateway.guard import listing as guard_listing
from gateway.storage.models import SimModemCommand
from gateway.verification import clients as api_clients

log = logging.getLogger(__name__)
DEFAULT_TEXT = "msisdn-gateway test message"
MAX_TEXT = 480
_MODEM_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _confirmed() -> None:
    if request.form.get("confirm") != "yes":
        raise AdminError(400, "Tick the confirmation box to do this.")


def _field(name: str, limit: int) -> str:
    value = (request.form.get(name) or "").strip()
    if not value or len(value) > limit:
        raise AdminError(400, f"{name} must be 1 to {limit} characters")
    return value


@admin.get("/send")
def send_form():
    return render_template("admin/send.html", text=DEFAULT_TEXT)


@admin.post("/send")
def send():
    _confirmed()
    number, text = _field("number", 32), _field("text", MAX_TEXT)
    row_id = queue_test_sms(deps(), number, text)  # InvalidParameter: 400 page
    log.info("admin: test SMS %d queued", row_id)
    return redirect(url_for("admin.send_status", row_id=row_id), code=303)


@admin.get(f"/send/<{ROW_ID}:row_id>")
def send_status(row_id: int):
    with deps().uow(read_only=True) as uow:
        row = uow.outbox.get(row_id)
        if row is None or row.purpose != "test":
            raise AdminError(404, f"No test SMS {row_id}.")
        parts = len(uow.outbox.parts_of(row_id))
    return render_template("admin/send_status.html", row=row, parts=parts,
                           final=row.status in FINAL)


@admin.post("/faults")
def modem_fault():
    if not deps().settings.simulate:
        raise AdminError(404, "Faults exist only under --simulate.")
    _confirmed()
    name = _field("modem", 64)
    if not _MODEM_NAME.fullmatch(name):
        raise AdminError(400, "The modem name must be 1 to 64 letters, digits, _ . or -")
    action = request.form.get("action")
    if action not in ("on", "off"):
        raise AdminError(400, "action must be on or off")
    fault = _fault(_field("fault", 64))
    d = deps()
    with d.uow() as uow:
        uow.sim.add_command(SimModemCommand(modem=name, action="inject" if action == "on"
                                            else "clear", fault=fault, created_at=d.now()))
        uow.commit()
    return redirect(url_for("admin.overview", notice=f"fault-{action}"), code=303)


def _fault(spec: str) -> str:
    from modem.sim.faults import parse_fault

    try:
        name, args = parse_fault(spec)
    except ValueError as exc:
        raise AdminError(400, str(exc)) from None
    return ":".join((name, *args))


@admin.post("/guard/clear")
def guard_clear():
    _confirmed()
    try:
        prefix = guard_listing.normalise_prefix(_field("prefix", 32))
        guard_listing.clear(deps(), prefix)
    except ValueError as exc:
        raise AdminError(400, str(exc)) from None
    return redirect(url_for("admin.guard", notice="unblocked"), code=303)


@admin.get("/clients")
def clients():
    with deps().uow(read_only=True) as uow:
        listed = api_clients.list_clients(uow)
    return render_template("admin/clients.html", clients=listed, created=None)


@admin.post("/clients")
def add_client():
    _confirmed()
    d = deps()
    uris = [line.strip() for line in (request.form.get("redirect_uris") or "").splitlines()
            if line.strip()]
    with d.uow() as uow:
        client_id, secret = api_clients.add_client(
            uow, d, request.form.get("name") or "", uris,
            (request.form.get("webhook_url") or "").strip() or None)
        uow.commit()
        listed = api_clients.list_clients(uow)
    log.info("admin: API client %s added", client_id)
    # The secret is in this answer only (no-store): never stored in clear, never again shown.
    return make_response(render_template("admin/clients.html", clients=listed,
                                         created={"client_id": client_id,
                                                  "secret": secret}), 201)


@admin.post("/clients/<client_id>/remove")
def remove_client(client_id: str):
    _confirmed()
    with deps().uow() as uow:
        removed = api_clients.remove_client(uow, client_id)
        uow.commit()
    if not removed:
        raise AdminError(404, "No such API client.")
    log.info("admin: API client %s removed", client_id)
    return redirect(url_for("admin.clients", notice="client-removed"), code=303)

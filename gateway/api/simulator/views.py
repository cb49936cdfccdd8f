"""--simulate only: the virtual phones of the simulated network, over HTTP.

    GET  /__sim__/phones/<msisdn>/messages   what that phone received, oldest first:
                                             [{"from", "text", "receivedAt"}]
    POST /__sim__/phones/<msisdn>/messages   {"to", "text"}: that phone sends an SMS-MO
    POST   /__sim__/modems/<name>/faults     {"fault": "unplug" | "slow_submit:30" | ...}
    DELETE /__sim__/modems/<name>/faults[?fault=NAME]   switch one (or every) fault off;
                                             clearing "unplug" plugs the modem back in

Like everything between the API and the worker, both go through the database: the
worker mirrors the phones' inboxes and sends the SMS-MO asked for.
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from gateway.errors import InvalidParameter
from gateway.http.bodies import json_body, param
from gateway.storage.models import SimModemCommand, SimMoRequest
from gateway.verification.msisdn import parse_msisdn

simulator = Blueprint("simulator", __name__, url_prefix="/__sim__")
MAX_TEXT = 1600


@simulator.get("/phones/<msisdn>/messages")
def phone_messages(msisdn: str):
    deps = current_app.extensions["deps"]
    with deps.uow() as uow:
        rows = uow.sim.received(parse_msisdn(msisdn))
    return jsonify([{"from": r.sender, "text": r.text,
                     "receivedAt": r.received_at.isoformat()} for r in rows])


@simulator.post("/phones/<msisdn>/messages")
def phone_sends(msisdn: str):
    deps = current_app.extensions["deps"]
    body = json_body(request)
    to, text = param(body, "to", str), param(body, "text", str)
    if not to.strip() or not text or len(text) > MAX_TEXT:
        raise InvalidParameter(f"to must be a number and text 1 to {MAX_TEXT} characters")
    with deps.uow() as uow:
        uow.sim.request_mo(SimMoRequest(phone=parse_msisdn(msisdn), recipient=to.strip(),
                                        text=text, created_at=deps.now()))
        uow.commit()
    return jsonify(queued=True), 202


def _command(name: str, action: str, fault: str | None):
    from modem.sim.faults import parse_fault

    if fault is not None:
        try:
            parse_fault(fault)
        except ValueError as exc:
            raise InvalidParameter(str(exc)) from None
    deps = current_app.extensions["deps"]
    with deps.uow() as uow:
        uow.sim.add_command(SimModemCommand(modem=name, action=action, fault=fault,
                                            created_at=deps.now()))
        uow.commit()
    return jsonify(queued=True), 202


@simulator.post("/modems/<name>/faults")
def inject_fault(name: str):
    return _command(name, "inject", param(json_body(request), "fault", str))


@simulator.delete("/modems/<name>/faults")
def clear_faults(name: str):
    return _command(name, "clear", request.args.get("fault"))

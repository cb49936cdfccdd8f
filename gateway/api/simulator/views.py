"""--simulate only: the virtual phones of the simulated network, over HTTP.

    GET  /__sim__/phones/<msisdn>/messages   what that phone received, oldest first:
                                             [{"from", "text", "receivedAt"}]
    POST /__sim__/phones/<msisdn>/messages   {"to", "text"}: that phone sends an SMS-MO
    POST   /__sim__/modems/<name>/faults     {"fault": "unplug" | "slow_submit:30" | ...}
    DELETE /__sim__/modems/<name>/faults[?fault=NAME]   switch one (or every) fault off;
                                             clearing "unplug" plugs the modem back in

Like everything between the API and the worker, both go through the database: the
worker stores what phones receive as its network delivers it, and sends the SMS-MO asked
for, so the phones' messages and the SMS-MO asked for outlive the worker
(gateway.pipeline.simulation).

What is refused with 400 before anything is stored: ``to`` that is not a number or short
code (``+`` and 1 to 20 digits), ``text`` that is not 1 to 1600 characters of Unicode
text without NUL (a lone surrogate is already refused as invalid JSON, 106), a modem name
that is not 1 to 64 letters, digits, ``_.-``, and a fault or argument that
modem.sim.faults.parse_fault refuses (its message says what is allowed).
"""
from __future__ import annotations

import re

from flask import Blueprint, current_app, jsonify, request

from gateway.errors import InvalidParameter
from gateway.http.bodies import json_body, param
from gateway.storage.models import SimModemCommand, SimMoRequest
from gateway.verification.msisdn import parse_msisdn

simulator = Blueprint("simulator", __name__, url_prefix="/__sim__")
MAX_TEXT = 1600
_RECIPIENT = re.compile(r"\+?[0-9]{1,20}")
_MODEM_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@simulator.get("/phones/<msisdn>/messages")
def phone_messages(msisdn: str):
    deps = current_app.extensions["deps"]
    with deps.uow(read_only=True) as uow:  # a plain read: no write lock on SQLite
        rows = uow.sim.received(parse_msisdn(msisdn))
    return jsonify([{"from": r.sender, "text": r.text,
                     "receivedAt": r.received_at.isoformat()} for r in rows])


@simulator.post("/phones/<msisdn>/messages")
def phone_sends(msisdn: str):
    deps = current_app.extensions["deps"]
    body = json_body(request)
    to, text = param(body, "to", str).strip(), _text(param(body, "text", str))
    if not _RECIPIENT.fullmatch(to):
        raise InvalidParameter("to must be a number or short code: + and 1 to 20 digits")
    with deps.uow() as uow:
        uow.sim.request_mo(SimMoRequest(phone=parse_msisdn(msisdn), recipient=to,
                                        text=text, created_at=deps.now()))
        uow.commit()
    return jsonify(queued=True), 202


def _text(text: str) -> str:
    """``text`` if it is 1 to MAX_TEXT characters that can be stored anywhere (UTF-8, no
    NUL: PostgreSQL text refuses it); raises InvalidParameter."""
    refused = InvalidParameter(f"text must be 1 to {MAX_TEXT} characters of Unicode text "
                               "without NUL")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise refused from None
    if not text or len(text) > MAX_TEXT or "\0" in text:
        raise refused
    return text


def _fault(spec: str) -> str:
    """The fault as the worker's simulator will read it (name and arguments, normalised);
    raises InvalidParameter with the parser's message saying what is allowed."""
    from modem.sim.faults import parse_fault

    try:
        name, args = parse_fault(spec)
    except ValueError as exc:
        raise InvalidParameter(str(exc)) from None
    return ":".join((name, *args))


def _command(name: str, action: str, fault: str | None):
    if not _MODEM_NAME.fullmatch(name):
        raise InvalidParameter("the modem name must be 1 to 64 letters, digits, _ . or -")
    fault = _fault(fault) if fault is not None else None
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

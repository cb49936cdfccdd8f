"""The TextSecure endpoints under /v1: parse TextSecure's wire format (``wire``), call
one use case (gateway.verification.accounts, account_keys), answer TextSecure's JSON."""
from __future__ import annotations

import base64
import binascii

from flask import Blueprint, current_app, jsonify, request

from gateway.errors import ApiError, MethodNotAllowed
from gateway.http.clients import sms_client
from gateway.api.textsecure import wire
from gateway.verification import account_keys, accounts

textsecure = Blueprint("textsecure", __name__, url_prefix="/v1")
textsecure.register_error_handler(ApiError, wire.render)
PUSH_FIELDS = {"gcm": "gcmRegistrationId", "apn": "apnRegistrationId"}
MAX_PUSH_ID_LENGTH = 4096
RELAY_METHODS = ["GET", "PUT", "POST", "DELETE"]


def _deps():
    return current_app.extensions["deps"]


@textsecure.before_request
def _no_head():
    """Flask answers HEAD with the GET view, and two GETs here act (a code SMS queued, a
    prekey handed out): HEAD is no part of the protocol, so it acts on nothing."""
    if request.method == "HEAD":
        raise MethodNotAllowed("HEAD is not supported here; use GET")


def _account():
    """(account, number) of the request's Basic credentials; raises 401."""
    number, password = wire.credentials(request)
    return accounts.authenticate(_deps(), number, password,
                                 sms_client(_deps(), request)), number


@textsecure.get("/accounts/<transport>/code/<number>")
def request_code(transport: str, number: str):
    if transport != "sms":
        raise wire.BadTransport()
    accounts.request_code(_deps(), wire.number_in_path(number),
                          [language for language, _q in request.accept_languages],
                          client=sms_client(_deps(), request))
    return "", 200


@textsecure.put("/accounts/code/<code>")
def confirm(code: str):
    number, password = wire.credentials(request)
    values = wire.body(request)
    try:
        key = base64.b64decode(wire.field(values, "signalingKey", str), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != accounts.SIGNALING_KEY_BYTES:
        raise wire.UnsupportedMedia("signalingKey must be 52 bytes in base64")
    accounts.confirm(_deps(), number, password, wire.code_in_path(code), key,
                     bool(wire.field(values, "supportsSms", bool, required=False)))
    return "", 200


@textsecure.put("/accounts/<any(gcm, apn):kind>/")
def set_push_id(kind: str):
    account, number = _account()
    value = wire.field(wire.body(request), PUSH_FIELDS[kind], str)
    if not value.strip() or len(value) > MAX_PUSH_ID_LENGTH:
        raise wire.UnsupportedMedia(f"{PUSH_FIELDS[kind]} must be a registration id")
    accounts.set_push_id(_deps(), account, number, kind, value)
    return "", 200


@textsecure.delete("/accounts/<any(gcm, apn):kind>/")
def delete_push_id(kind: str):
    account, number = _account()
    accounts.set_push_id(_deps(), account, number, kind, None)
    return "", 200


@textsecure.put("/keys/")
def store_prekeys():
    account, _number = _account()
    try:
        keys, last_resort = account_keys.parse_prekeys(wire.body(request))
    except account_keys.BadKey as exc:
        raise wire.UnsupportedMedia(str(exc)) from None
    account_keys.store_prekeys(_deps(), account, keys, last_resort)
    return "", 200


@textsecure.get("/keys/<number>")
def fetch_prekey(number: str):
    account, _number = _account()
    if request.args.get("relay"):
        raise accounts.UnknownAccount("this server federates with no relay")
    key = account_keys.take_prekey(_deps(), account, wire.number_in_path(number))
    return jsonify(keyId=key.key_id, publicKey=key.public_key, identityKey=key.identity_key)


@textsecure.put("/directory/tokens")
def look_up_tokens():
    account, _number = _account()
    try:
        tokens = account_keys.parse_tokens(wire.body(request).get("contacts"))
    except ValueError as exc:
        raise wire.BadRequest(str(exc)) from None
    found = account_keys.look_up(_deps(), account, tokens)
    return jsonify(contacts=[_contact(contact) for contact in found])


@textsecure.get("/directory/<path:token>")  # a token may hold "/"
def look_up_token(token: str):
    account, _number = _account()
    try:
        tokens = account_keys.parse_tokens([token])
    except ValueError as exc:
        raise wire.BadRequest(str(exc)) from None
    found = account_keys.look_up(_deps(), account, tokens)
    if not found:
        raise accounts.UnknownAccount("no account has this token")
    return jsonify(_contact(found[0]))


def _contact(contact: account_keys.Contact) -> dict:
    # relay: the federated node of the contact; null for this one (no federation).
    return {"token": contact.token, "relay": None, "supportsSms": contact.supports_sms}


# No ``defaults`` on these rules: Werkzeug would answer a 308 redirect between them.
@textsecure.route("/messages/", methods=RELAY_METHODS)
@textsecure.route("/messages/<path:_rest>", methods=RELAY_METHODS)
@textsecure.route("/attachments/", methods=RELAY_METHODS)
@textsecure.route("/attachments/<path:_rest>", methods=RELAY_METHODS)
def relay(**_parts):
    raise wire.NotImplementedHere()

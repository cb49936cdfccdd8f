"""The SNA face's views.

    POST /auth/v1/initiate/sna      {phoneNumber, redirectURI[, mcc, mnc][, proof]}
                                    -> {requestId, link}
    POST /auth/v1/verify/code       {code} -> {requestId, message, userDetails}
    GET  /auth/v1/status/sna?requestId=...  -> {requestId, status, ...}
    GET  /auth/v1/webhook/secret             -> {signingSecret, ...}
    GET  /auth/v1/sna/link/<token>           the link page (302 once completed)
    GET  /auth/v1/sna/link/<token>/status    -> {status}
    GET  /auth/v1/sna/link/<token>/continue  -> 302 redirectURI?code&requestId | 400 (7101)
                                                (a page, no code, once the SMS link verified)
    GET  /auth/v1/sna/sms/<token>            the SMS link's page: proves nothing
    POST /auth/v1/sna/sms/<token>            confirm: proves, then the same 302
    POST /auth/v1/sna/sms/<token>/decline    the request ends failed (7130)

The API calls (all but the link and SMS-link pages) take the ``clientId`` and
``clientSecret`` headers.
"""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, jsonify, redirect, request

from gateway.errors import ApiError
from gateway.guard.admission import DestinationRefused
from gateway.http.bodies import json_body
from gateway.http.clients import sms_client
from gateway.api.sna import pages
from gateway.verification import clients, sna, webhooks

sna_face = Blueprint("sna", __name__)
PREFIX = "/auth/v1"
#: Errors of the shared SMS path, in the seed's terms (errno -> code, label).
SHARED = {115: (7021, "TOO_MANY_REQUESTS"), 117: (7022, "TOO_MANY_REQUESTS"),
          116: (7024, "TOO_MANY_REQUESTS"), 201: (7503, "SERVICE_UNAVAILABLE")}


def _deps():
    return current_app.extensions["deps"]


def sna_error(exc: ApiError) -> Response:
    """``{errorCode, message, description[, retryAfter]}`` with the seed's codes."""
    if isinstance(exc, sna.SnaError):
        code, label, status = exc.sna_code, exc.label, exc.status
    elif isinstance(exc, DestinationRefused):
        code, label, status = 7125, "NETWORK_UNSUPPORTED", 400
    else:
        code, label = SHARED.get(exc.errno, (7100, "INVALID_REQUEST"))
        status = exc.status
    body = {"errorCode": str(code), "message": label, "description": exc.message}
    if exc.retry_after is not None:
        body["retryAfter"] = exc.retry_after
    response = jsonify(body)
    response.status_code = status
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


@sna_face.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    return sna_error(exc)


def _client(uow):
    client_id, secret = request.headers.get("clientId"), request.headers.get("clientSecret")
    if not client_id or not secret:
        raise sna.MissingCredentials()
    client = clients.authenticate_client(uow, client_id, secret)
    if client is None:
        raise sna.BadCredentials()
    return client


def _body() -> dict:
    """The JSON object of the body, with the shared checks (nesting depth, lone UTF-16
    surrogates: gateway.http.bodies); 7101 for anything else, an empty body included."""
    try:
        body = json_body(request) if request.get_data(cache=True).strip() else None
    except ApiError as exc:  # not JSON, too deep, a lone surrogate, not an object
        raise sna.InvalidSnaRequest("the body must be a JSON object (Content-Type: "
                                    f"application/json): {exc.message}") from None
    if body is None:
        raise sna.InvalidSnaRequest("the body must be a JSON object "
                                    "(Content-Type: application/json)")
    return body


def _base() -> str:
    return current_app.extensions["origins"].base_url(request.scheme, request.host)


@sna_face.post(PREFIX + "/initiate/sna")
def initiate():
    deps, base = _deps(), _base()
    with deps.uow() as uow:
        client = _client(uow)
        started = sna.initiate(uow, deps, client, _body(), sms_client(deps, request),
                               lambda token: f"{base}{PREFIX}/sna/sms/{token}")
        uow.commit()
    return jsonify({"requestId": started.request_id,
                    "link": f"{base}{PREFIX}/sna/link/{started.link_token}"})


@sna_face.post(PREFIX + "/verify/code")
def verify_code():
    deps = _deps()
    with deps.uow() as uow:
        body = sna.verify_code(uow, deps, _client(uow), _body().get("code"))
        uow.commit()
    return jsonify(body)


@sna_face.get(PREFIX + "/webhook/secret")
def webhook_secret():
    """The client's webhook signing secret and how its webhooks are signed."""
    deps = _deps()
    with deps.uow(read_only=True) as uow:
        client = _client(uow)
    return jsonify({"clientId": client.client_id, "webhookUrl": client.webhook_url,
                    "signingSecret": webhooks.signing_secret(deps, client.client_id),
                    "signature": "Webhook-Signature: v1=hex(HMAC-SHA256(signingSecret, "
                                 "Webhook-Timestamp + '.' + body))",
                    "idempotencyKey": "Webhook-Id"})


@sna_face.get(PREFIX + "/status/sna")
def status():
    deps = _deps()
    with deps.uow() as uow:
        body = sna.status(uow, deps, _client(uow), request.args.get("requestId"))
        uow.commit()
    return jsonify(body)


def _unknown() -> Response:
    return sna_error(sna.UnknownRequest("unknown or expired link"))


def _html(page: str) -> Response:
    return Response(page, mimetype="text/html", headers=pages.HEADERS)


def _redirect(uow, deps, row, sms_holder: bool = False) -> Response:
    """302 to the app with a fresh code, or 409 when pending or already used; the link
    page of a request its SMS link verified gets a page saying so, no code
    (sna.issue_code)."""
    if sna.code_goes_to_sms_holder(row) and not sms_holder and row.code_used_at is None:
        return _html(pages.confirmed_elsewhere())
    code = sna.issue_code(uow, deps, row, sms_holder=sms_holder)
    if code is None:
        state = "pending" if row.status == sna.PENDING else "used"
        return sna_error(sna.InvalidSnaRequest(f"this request is {state}: "
                                               + ("send the SMS first" if state == "pending"
                                                  else "its code was used already")))
    uow.commit()
    separator = "&" if "?" in row.redirect_uri else "?"
    return redirect(row.redirect_uri + separator + urlencode(
        {"code": code, "requestId": row.request_id}), 302)


@sna_face.get(PREFIX + "/sna/link/<token>")
def link_page(token: str):
    deps = _deps()
    with deps.uow() as uow:
        row = sna.by_link(uow, deps, token)
        if row is None:
            return _unknown()
        if row.status != sna.PENDING and row.code_used_at is None:
            return _redirect(uow, deps, row)  # completed already (the app sent the SMS)
        number = _modem_number(uow, deps)
        uow.commit()
    return _html(pages.link_page(row, token, number))


@sna_face.get(PREFIX + "/sna/link/<token>/status")
def link_status(token: str):
    deps = _deps()
    with deps.uow() as uow:
        row = sna.by_link(uow, deps, token)
        uow.commit()
    if row is None:
        return _unknown()
    return jsonify({"status": row.status})


@sna_face.get(PREFIX + "/sna/link/<token>/continue")
def link_continue(token: str):
    return _redirect_found(sna.by_link, token)


@sna_face.get(PREFIX + "/sna/sms/<token>")
def sms_link(token: str):
    """What opening the SMS link shows; it changes nothing (a link preview, a mail or
    SMS scanner opens links too)."""
    deps = _deps()
    with deps.uow() as uow:
        row = sna.sms_link_request(uow, deps, token)
        if row is None:
            return _unknown()
        client = uow.clients.get(row.client_id)
        uow.commit()
    return _html(pages.sms_link_page(row, client.name if client else "An app", token))


@sna_face.post(PREFIX + "/sna/sms/<token>")
def sms_link_confirm(token: str):
    return _redirect_found(sna.confirm_sms_link, token, sms_holder=True)


def _redirect_found(find, token: str, sms_holder: bool = False) -> Response:
    """The redirect (_redirect) of the request ``find(uow, deps, token)`` gives, or the
    unknown page."""
    deps = _deps()
    with deps.uow() as uow:
        row = find(uow, deps, token)
        if row is None:
            return _unknown()
        response = _redirect(uow, deps, row, sms_holder)
        uow.commit()
    return response


@sna_face.post(PREFIX + "/sna/sms/<token>/decline")
def sms_link_decline(token: str):
    deps = _deps()
    with deps.uow() as uow:
        if sna.decline_sms_link(uow, deps, token) is None:
            return _unknown()
        uow.commit()
    return _html(pages.declined())


def _modem_number(uow, deps) -> str | None:
    rows = uow.modems.fresh(deps.now(), deps.settings.modem_status_ttl)
    numbers = [row.number for row in rows if row.healthy and row.number]
    return numbers[0] if numbers else None


def install(app) -> None:
    app.register_blueprint(sna_face)

"""The API endpoints under /v1: parse and validate, call one use case, return JSON."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request, url_for

from gateway.errors import InvalidParameter
from gateway.http.bodies import json_body, param
from gateway.http.clients import sms_client
from gateway.http.hawk import hawk_required
from gateway.verification import certificate, discover as discovery, mt, sessions, verify
from gateway.verification.msisdn import parse_msisdn, validate_mcc, validate_mnc

api = Blueprint("api", __name__, url_prefix="/v1")


def _deps():
    return current_app.extensions["deps"]


def _languages() -> list[str]:
    return [language for language, _quality in request.accept_languages]


def _public_url(endpoint: str) -> str:
    """The absolute URL of ``endpoint`` for clients (the path built once per app), on a
    configured origin: never the request's Host as sent (gateway.http.origins)."""
    paths = current_app.extensions.setdefault("msisdn_v1_paths", {})
    path = paths.get(endpoint)
    if path is None:
        path = paths[endpoint] = url_for(endpoint)
    return current_app.extensions["origins"].base_url(request.scheme, request.host) + path


def _optional_mnc(body: dict) -> str | None:
    mnc = param(body, "mnc", str, required=False)
    return validate_mnc(mnc) if mnc is not None else None


@api.post("/msisdn/discover")
def discover():
    body = json_body(request)
    msisdn = param(body, "msisdn", str, required=False)
    return jsonify(discovery.discover(
        _deps(), msisdn=parse_msisdn(msisdn) if msisdn is not None else None,
        mcc=validate_mcc(param(body, "mcc", str)), mnc=_optional_mnc(body),
        roaming=param(body, "roaming", bool, required=False, default=False),
        mt_verify_url=_public_url("api.mt_verify"),
        recent=current_app.extensions["recent_modem_statuses"]))


@api.post("/msisdn/register")
def register():
    json_body(request)  # a body, if any, must still be JSON
    return jsonify(msisdnSessionToken=sessions.register(_deps()))


@api.post("/msisdn/unregister")
@hawk_required
def unregister():
    sessions.unregister(_deps(), g.hawk_id)
    return "", 204


@api.post("/msisdn/sms/mt/verify")
@hawk_required
def mt_verify():
    body = json_body(request)
    mt.start_mt_verification(_deps(), g.hawk_id, mt.CodeRequest(
        msisdn=parse_msisdn(param(body, "msisdn", str)),
        mcc=validate_mcc(param(body, "mcc", str)), mnc=_optional_mnc(body),
        method=mt.METHOD_MT, languages=_languages(), client=sms_client(_deps(), request),
        short_code=param(body, "shortVerificationCode", bool, required=False, default=False)))
    return "", 204


@api.post("/msisdn/sms/resend_code")
@hawk_required
def resend_code():
    json_body(request)
    mt.resend_code(_deps(), g.hawk_id, _languages(), client=sms_client(_deps(), request))
    return "", 204


@api.post("/msisdn/sms/verify_code")
@hawk_required
def verify_code():
    code = param(json_body(request), "code", str)
    if not code.strip() or len(code) > 128:
        raise InvalidParameter("code must be the code received by SMS")
    return jsonify(msisdn=verify.verify_code(_deps(), g.hawk_id, code))


@api.post("/certificate/sign")
@hawk_required
def certificate_sign():
    body = json_body(request)
    duration = param(body, "duration", int, required=False)
    if duration is not None and duration <= 0:
        raise InvalidParameter("duration must be a positive number of seconds")
    return jsonify(cert=certificate.sign_certificate(
        _deps(), g.hawk_id, param(body, "publicKey", (dict, str)), duration))

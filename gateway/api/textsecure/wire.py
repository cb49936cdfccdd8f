"""TextSecure's wire format: Basic credentials, JSON bodies, and errors.

Errors are TextSecure's bare statuses, in JSON as Dropwizard (the original server) wrote
them: ``{"code": 413, "message": "..."}``. The gateway's shared errors are translated:
every rate limit (429) is 413 with ``Retry-After``; a body that is not the expected JSON
is 415, as the spec says.
"""
from __future__ import annotations

import base64
import binascii
import re

from flask import Request, jsonify

from gateway.errors import ApiError, InvalidJson, InvalidParameter, MissingParameter
from gateway.http.bodies import json_body
from gateway.verification.accounts import BadCredentials, WrongCode
from gateway.verification.msisdn import parse_msisdn

MAX_PASSWORD_LENGTH = 256
CODE = re.compile(r"([0-9]{3})-?([0-9]{3})")


def _error(name: str, status: int, message: str) -> type[ApiError]:
    return type(name, (ApiError,), {"status": status, "default_message": message})


BadNumber = _error("BadNumber", 400, "Badly formatted number")
BadRequest = _error("BadRequest", 400, "Bad request")
UnsupportedMedia = _error("UnsupportedMedia", 415, "Badly formatted JSON")
BadTransport = _error("BadTransport", 415, "Invalid transport: only sms is available")
NotImplementedHere = _error(
    "NotImplementedHere", 501, "This gateway is a registration server only: message "
    "relay and attachments need push services it does not have")


def render(error: ApiError):
    """``{code, message}`` with TextSecure's status for ``error``."""
    status = 413 if error.status == 429 else error.status
    response = jsonify(code=status, message=error.message)
    response.status_code = status
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    response.headers.update(error.headers)
    return response


def number_in_path(raw: str) -> str:
    try:
        return parse_msisdn(raw, "number")
    except InvalidParameter as exc:
        raise BadNumber(exc.message) from None


def code_in_path(raw: str) -> str:
    """Six digits, with or without the dash the SMS shows; else 403."""
    match = CODE.fullmatch(raw)
    if match is None:
        raise WrongCode("the verification code is six digits")
    return match.group(1) + match.group(2)


def credentials(request: Request) -> tuple[str, str]:
    """(number in E.164, password) of ``Authorization: Basic``; raises BadCredentials."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    challenge = {"WWW-Authenticate": 'Basic realm="TextSecure"'}
    if scheme.lower() != "basic" or not value.strip() or len(value) > 1024:
        raise BadCredentials("Basic credentials are required", headers=challenge)
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise BadCredentials("badly formatted Basic credentials", headers=challenge) from None
    number, colon, password = decoded.partition(":")
    if not colon or not password or len(password) > MAX_PASSWORD_LENGTH:
        raise BadCredentials("Basic credentials are number:password", headers=challenge)
    try:
        return parse_msisdn(number, "number"), password
    except InvalidParameter:
        raise BadCredentials("the user of Basic credentials is a number in E.164 "
                             "format", headers=challenge) from None


def body(request: Request) -> dict:
    """The JSON object of the body; 415 for anything else."""
    try:
        return json_body(request)
    except (InvalidJson, InvalidParameter, MissingParameter) as exc:
        raise UnsupportedMedia(exc.message) from None


def field(values: dict, name: str, kind: type, *, required: bool = True):
    value = values.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
        raise UnsupportedMedia(f"{name} is required, of JSON type "
                               f"{'boolean' if kind is bool else kind.__name__}")
    return value

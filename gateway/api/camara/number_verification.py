"""Number Verification (CAMARA NumberVerification 2.1.0) on the tokens of the CAMARA
face's OpenID Connect server: errors ``{status, code, message}``, ``x-correlator`` echoed,
access tokens used once (a 401 or 403 does not burn one).

    POST /number-verification/v2/verify              {"phoneNumber"} | {"hashedPhoneNumber"}
    GET  /number-verification/v2/device-phone-number
    GET  /number-verification/v2/openapi.json        the OpenAPI 3 document
"""
from __future__ import annotations

import hashlib
import hmac
import re

from flask import Blueprint, Response, current_app, jsonify, request

from gateway.api.camara.openapi import DOCUMENT
from gateway.verification import proofs

number_verification = Blueprint("number_verification", __name__)
PHONE = re.compile(r"^\+[1-9][0-9]{4,14}$")
HASHED = re.compile(r"^[0-9a-fA-F]{64}$")


def _deps():
    return current_app.extensions["deps"]


def camara_error(status: int, code: str, message: str) -> Response:
    response = jsonify({"status": status, "code": code, "message": message})
    response.status_code = status
    return _correlate(response)


def _correlate(response: Response) -> Response:
    correlator = request.headers.get("x-correlator")
    if correlator and re.fullmatch(r"[\w\-.:]{1,256}", correlator):
        response.headers["x-correlator"] = correlator
    return response


def _unauthenticated() -> Response:
    return camara_error(401, "UNAUTHENTICATED", "Request not authenticated due to missing, "
                        "invalid, or expired credentials.")


def _bearer(scope: str):
    """(grant, msisdn) of the request's access token, used once; or an error Response."""
    from gateway.api.camara import oidc  # with Authlib, on the face's first use

    deps = _deps()
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or not header[7:].strip():
        return None, _unauthenticated()
    digest = oidc.digest(deps, header[7:].strip(), "access")
    with deps.uow() as uow:
        grant = uow.proofs.find_grant(digest, "access", deps.now())
        if grant is None:
            return None, _unauthenticated()
        if scope not in grant.scope.split():
            return None, camara_error(403, "PERMISSION_DENIED",
                                      "Client does not have sufficient permissions to "
                                      "perform this action.")
        if uow.proofs.use_grant(digest, "access", deps.now()) is None:  # single use
            # A concurrent request used it between the two statements.
            return None, _unauthenticated()
        state = proofs.state_by_id(uow, deps, grant.proof_id)
        uow.commit()
    return state, None


@number_verification.post("/number-verification/v2/verify")
def verify():
    from gateway.api.camara import oidc

    state, error = _bearer(oidc.SCOPE_VERIFY)
    if error is not None:
        return error
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or len(body) != 1 or not (
            isinstance(body.get("phoneNumber"), str) and PHONE.match(body["phoneNumber"])
            or isinstance(body.get("hashedPhoneNumber"), str)
            and HASHED.match(body["hashedPhoneNumber"])):
        return camara_error(400, "INVALID_ARGUMENT", "Client specified an invalid argument, "
                            "request body or query param: give exactly one of phoneNumber "
                            "(E.164 with +) or hashedPhoneNumber (SHA-256, 64 hex)")
    msisdn = _msisdn(state)
    if "phoneNumber" in body:
        verified = hmac.compare_digest(body["phoneNumber"], msisdn)
    else:
        verified = hmac.compare_digest(body["hashedPhoneNumber"].lower(),
                                       hashlib.sha256(msisdn.encode()).hexdigest())
    return _correlate(jsonify({"devicePhoneNumberVerified": verified}))


@number_verification.get("/number-verification/v2/device-phone-number")
def device_phone_number():
    from gateway.api.camara import oidc

    state, error = _bearer(oidc.SCOPE_READ)
    if error is not None:
        return error
    return _correlate(jsonify({"devicePhoneNumber": _msisdn(state)}))


def _msisdn(state) -> str:
    # The proof was consumed when its code was redeemed: its number stays sealed in it.
    deps = _deps()
    with deps.uow(read_only=True) as uow:
        row = uow.proofs.get(state.id)
        return deps.secret.open(proofs.SEAL_BINDING, proofs.SEAL_PURPOSE, row.msisdn_sealed)


@number_verification.get("/number-verification/v2/openapi.json")
def openapi():
    return jsonify(DOCUMENT)

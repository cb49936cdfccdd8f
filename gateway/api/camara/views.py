"""The CAMARA face's OpenID Connect server: discovery, JWKS, the authorization endpoint
proved by SMS-MO, CIBA by two-way SMS, and the token endpoint (Authlib).

    GET  /.well-known/openid-configuration
    GET  /oauth2/jwks
    GET  /oauth2/authorize?response_type=code&client_id&redirect_uri&scope&state&nonce
         &code_challenge&code_challenge_method=S256[&login_hint=tel:+E164]   -> HTML page
    GET  /oauth2/authorize/status?proof=TOKEN                                -> JSON
    GET  /oauth2/authorize/continue?<the same parameters>&proof=TOKEN        -> 302 | 409
    POST /oauth2/bc-authorize   login_hint=tel:+E164&scope=...  (CIBA, poll mode)
    POST /oauth2/token

Number Verification itself is gateway.api.camara.number_verification.

Authlib and joserfc (4 MB) are loaded by the face's first request that needs them, which
builds the OAuth server (:func:`_server`), not by every API process at start: most boxes
serve the MSISDN API alone. So ``oidc`` and Authlib are imported inside the views.
"""
from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, jsonify, request

from gateway.api.camara.number_verification import camara_error, number_verification
from gateway.api.camara.page import page_response, private
from gateway.api.camara.page_texts import TEXTS
from gateway.errors import ApiError
from gateway.http.clients import sms_client
from gateway.i18n import negotiate_language
from gateway.verification import ciba, clients, proofs

if TYPE_CHECKING:
    from authlib.oauth2 import OAuth2Error

camara = Blueprint("camara", __name__)
BOUND = ("client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
         "code_challenge_method")


def _deps():
    return current_app.extensions["deps"]


def issuer() -> str:
    return current_app.extensions["origins"].base_url(request.scheme, request.host)


@camara.get("/.well-known/openid-configuration")
def discovery():
    from gateway.api.camara import oidc

    base = issuer()
    return jsonify({
        "issuer": base, "authorization_endpoint": base + "/oauth2/authorize",
        "token_endpoint": base + "/oauth2/token", "jwks_uri": base + "/oauth2/jwks",
        "backchannel_authentication_endpoint": base + "/oauth2/bc-authorize",
        "scopes_supported": list(oidc.SCOPES), "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", oidc.CIBA_GRANT],
        "code_challenge_methods_supported": ["S256"], "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": oidc.AUTH_METHODS,
        "backchannel_token_delivery_modes_supported": ["poll"],
    })


@camara.get("/oauth2/jwks")
def jwks():
    from gateway.api.camara import oidc

    return jsonify(oidc.jwks(_deps()))


def _server():
    """The face's OAuth server, built by the first request that needs it (Authlib)."""
    server = current_app.extensions.get("camara_server")
    if server is None:
        from gateway.api.camara import oidc

        server = oidc.build_server(current_app, _deps())
        current_app.extensions["camara_server"] = server
    return server


def _oauth_error(error: OAuth2Error) -> Response:
    body = dict(error.get_body())
    response = jsonify(body)
    response.status_code = error.status_code
    return response


@camara.get("/oauth2/authorize")
def authorize():
    from authlib.oauth2 import OAuth2Error

    deps = _deps()
    try:
        _server().get_consent_grant(end_user=None)
        hint = proofs.parse_login_hint(request.args.get("login_hint"))
    except OAuth2Error as error:
        if error.redirect_uri:  # a checked redirect URI: told there (prompt=none, ...)
            return _server().handle_error_response(request, error)
        return _oauth_error(error)
    except ApiError as exc:
        return _oauth_error(OAuth2Error(description=exc.message, status_code=400,
                                        error="invalid_request"))
    bound = {name: request.args.get(name) for name in BOUND}
    address = sms_client(deps, request)
    try:
        with deps.uow() as uow:
            token, _state = proofs.start_proof(uow, deps, bound["client_id"], bound,
                                               hint=hint, address=address)
            number = _modem_number(uow, deps)
            uow.commit()
    except ApiError as exc:  # too many pending proofs for this client or address
        return _oauth_error_body(exc.status, "temporarily_unavailable", exc.message,
                           exc.retry_after)
    continue_url = "/oauth2/authorize/continue?" + urlencode(
        {**{k: v for k, v in request.args.items()}, "proof": token})
    language = _language()
    return page_response(TEXTS[language], language, number, token, continue_url)


def _language() -> str:
    return negotiate_language([language for language, _q in request.accept_languages])


def _modem_number(uow, deps) -> str | None:
    rows = uow.modems.fresh(deps.now(), deps.settings.modem_status_ttl)
    numbers = [row.number for row in rows if row.healthy and row.number]
    return numbers[0] if numbers else None


MESSAGES = TEXTS["en"]  # by status: pending, proven, refused, expired, used


def _proof(token, *, read_only: bool = True):
    """The state of the page's proof ``token``; None for an unknown token and for a proof
    of another kind (a CIBA or SNA proof is none of this page's business)."""
    deps = _deps()
    with deps.uow(read_only=read_only) as uow:
        return proofs.proof_state(uow, deps, token or "", kind=proofs.PAGE_KIND)


@camara.get("/oauth2/authorize/status")
def authorize_status():
    state = _proof(request.args.get("proof"))
    if state is None:
        return private(camara_error(404, "NOT_FOUND", "unknown verification"))
    language = request.args.get("lang")
    texts = TEXTS.get(language if isinstance(language, str) else "", MESSAGES)
    return private(jsonify({"status": state.status, "message": texts[state.status]}))


@camara.get("/oauth2/authorize/continue")
def authorize_continue():
    return private(_continue())


def _continue() -> Response:
    from authlib.oauth2 import OAuth2Error

    from gateway.api.camara import oidc

    # Read-write from the first statement: the code is written below (Authlib calls
    # oidc's save_authorization_code), and for an exempt client this read begins the
    # request's transaction.
    state = _proof(request.args.get("proof"), read_only=False)
    if state is None or any(state.request.get(k) != request.args.get(k) for k in BOUND):
        return camara_error(404, "NOT_FOUND", "unknown verification")
    if state.status != proofs.PROVEN:
        return camara_error(409, "PROOF_" + state.status.upper(), MESSAGES[state.status])
    user = oidc.ProvenUser(state.id, state.msisdn, state.client_id)
    try:
        grant = _server().get_consent_grant(end_user=user)
    except OAuth2Error as error:
        return _oauth_error(error)
    return _server().create_authorization_response(grant_user=user, grant=grant)


@camara.post("/oauth2/bc-authorize")
def backchannel_authorize():
    """CIBA (poll mode) by two-way SMS: ``login_hint=tel:+E164`` and ``scope``; client
    authentication as at the token endpoint."""
    from gateway.api.camara import oidc

    deps = _deps()
    client = _authenticated_client(deps)
    if client is None:
        return _oauth_error_body(401, "invalid_client", "client authentication failed")
    scope = request.form.get("scope", "")
    if "openid" not in scope.split() or not {oidc.SCOPE_VERIFY, oidc.SCOPE_READ} & set(
            scope.split()) or set(scope.split()) - set(oidc.SCOPES):
        return _oauth_error_body(400, "invalid_scope", "scope must hold openid and the Number "
                           "Verification scopes only")
    hint = request.form.get("login_hint")
    if not hint:
        return _oauth_error_body(400, "invalid_request", "login_hint=tel:+E164 is required")
    try:
        msisdn = proofs.parse_login_hint(hint)
    except ApiError as exc:
        return _oauth_error_body(400, "unknown_user_id", exc.message)
    try:
        with deps.uow() as uow:
            auth_req_id, expires_in = ciba.start_ciba(uow, deps, client, msisdn, scope,
                                                      address=sms_client(deps, request))
            uow.commit()
    except ApiError as exc:  # the destination policy, the SMS budgets, capacity
        return _ciba_refusal(exc)
    return jsonify({"auth_req_id": auth_req_id, "expires_in": expires_in,
                    "interval": ciba.INTERVAL})


def _ciba_refusal(exc: ApiError) -> Response:
    """CIBA's authentication error for a refused request. CIBA Core 13 (and CAMARA's
    Security and Interoperability Profile, appendix A) has no rate-limit error at this
    endpoint (slow_down belongs to the token endpoint's polls): a spent budget is the
    server denying requests of this kind for now, 403 access_denied, with Retry-After."""
    if exc.status == 429:
        return _oauth_error_body(403, "access_denied", exc.message, exc.retry_after)
    if exc.status == 503:
        return _oauth_error_body(503, "temporarily_unavailable", exc.message,
                                 exc.retry_after)
    return _oauth_error_body(exc.status, "invalid_request", exc.message, exc.retry_after)


def _authenticated_client(deps):
    """The client of ``client_secret_basic`` or ``client_secret_post``, or None. Looked
    up in a read-write unit of work: the view writes next, and for a client exempt from
    the per-client limit this is the request's first statement, which decides whether
    its transaction may write (gateway.storage.transaction)."""
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        client_id, secret = auth.username, auth.password
    else:
        client_id, secret = request.form.get("client_id"), request.form.get("client_secret")
    with deps.uow() as uow:
        return clients.authenticate_client(uow, client_id, secret)


def _oauth_error_body(status: int, error: str, description: str,
                retry_after: int | None = None) -> Response:
    """An OAuth error body (RFC 6749 5.2), with Retry-After for a 429 or 503."""
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@camara.post("/oauth2/token")
def token():
    return _server().create_token_response()


def install(app, deps) -> None:
    """Mount the face on ``app``; its OAuth server is built on first use (:func:`_server`)."""
    app.extensions["camara_issuer"] = issuer
    app.register_blueprint(camara)
    app.register_blueprint(number_verification)

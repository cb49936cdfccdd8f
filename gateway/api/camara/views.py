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

import html
import json
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, current_app, jsonify, request

from gateway.api.camara.number_verification import camara_error, number_verification
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
    texts = TEXTS[_language()]
    return Response(_page(texts, number, token, continue_url), mimetype="text/html")


def _language() -> str:
    return negotiate_language([language for language, _q in request.accept_languages])


def _modem_number(uow, deps) -> str | None:
    rows = uow.modems.fresh(deps.now(), deps.settings.modem_status_ttl)
    numbers = [row.number for row in rows if row.healthy and row.number]
    return numbers[0] if numbers else None


def _page(texts: dict, number: str | None, token: str, continue_url: str) -> str:
    """The page: one sms: link, live status (polled, then the continue link followed by
    itself once proven), one element id="continue"."""
    text = f"Verify my number {token}"
    sms = f"sms:{number or ''}?body={quote(text)}"
    status_url = "/oauth2/authorize/status?" + urlencode({"proof": token,
                                                          "lang": _language()})
    t = {key: html.escape(value) for key, value in texts.items()}
    return f"""<!doctype html>
<html lang="{_language()}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t["title"]}</title></head>
<body>
<h1>{t["title"]}</h1>
<p>{t["explain"]}</p>
<p><a id="send" href="{html.escape(sms)}">{t["send"]}</a></p>
<p id="status" aria-live="polite">{t["pending"]}</p>
<p><a id="continue" href="{html.escape(continue_url)}">{t["continue"]}</a></p>
<script>
(function poll() {{
  fetch({json.dumps(status_url)}).then(function (r) {{ return r.json(); }}).then(function (s) {{
    if (s.status === "proven") {{ window.location = document.getElementById("continue").href; return; }}
    document.getElementById("status").textContent = s.message;
    if (s.status === "pending" || s.status === "refused") setTimeout(poll, 2000);
  }}).catch(function () {{ setTimeout(poll, 5000); }});
}})();
</script>
</body></html>
"""


MESSAGES = TEXTS["en"]  # by status: pending, proven, refused, expired, used


def _proof(token):
    deps = _deps()
    with deps.uow(read_only=True) as uow:
        return proofs.proof_state(uow, deps, token or "")


@camara.get("/oauth2/authorize/status")
def authorize_status():
    state = _proof(request.args.get("proof"))
    if state is None:
        return camara_error(404, "NOT_FOUND", "unknown verification")
    language = request.args.get("lang")
    texts = TEXTS.get(language if isinstance(language, str) else "", MESSAGES)
    return jsonify({"status": state.status, "message": texts[state.status]})


@camara.get("/oauth2/authorize/continue")
def authorize_continue():
    from authlib.oauth2 import OAuth2Error

    from gateway.api.camara import oidc

    state = _proof(request.args.get("proof"))
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
        error = {429: "slow_down", 503: "temporarily_unavailable"}.get(
            exc.status, "invalid_request")
        return _oauth_error_body(exc.status, error, exc.message, exc.retry_after)
    return jsonify({"auth_req_id": auth_req_id, "expires_in": expires_in,
                    "interval": ciba.INTERVAL})


def _authenticated_client(deps):
    """The client of ``client_secret_basic`` or ``client_secret_post``, or None."""
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        client_id, secret = auth.username, auth.password
    else:
        client_id, secret = request.form.get("client_id"), request.form.get("client_secret")
    with deps.uow(read_only=True) as uow:
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

"""The OAuth 2.0 / OpenID Connect server of the CAMARA face, on Authlib's Flask
integration: the client registry of gateway.verification.clients, authorization codes and
access tokens as keyed digests in ``oidc_grants`` (single use, 60 s and 300 s), PKCE S256
required, ID tokens signed RS256 with the server key, ``sub`` a keyed hash per client and
number, no refresh token."""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import timedelta

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (AccessDeniedError, InvalidGrantError,
                                          InvalidRequestError)
from authlib.oauth2.rfc6749.hooks import hooked
from authlib.oauth2.rfc8628.errors import (AuthorizationPendingError, ExpiredTokenError,
                                           SlowDownError)
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode as _OpenIDCode

from gateway.storage.models import OidcGrant
from gateway.verification import clients as api_clients
from gateway.verification import ciba, proofs

CODE_TTL = 60
ACCESS_TOKEN_TTL = 300
SCOPE_VERIFY = "number-verification:verify"
SCOPE_READ = "number-verification:device-phone-number:read"
SCOPES = ("openid", SCOPE_VERIFY, SCOPE_READ)
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
CIBA_GRANT = "urn:openid:params:grant-type:ciba"
EXPIRED_KEPT = timedelta(hours=1)  # as ProofsRepository.delete_expired keeps them


def _deps():
    from flask import current_app
    return current_app.extensions["deps"]


def subject(deps, client_id: str, msisdn: str) -> str:
    """``sub``: stable per client and number, never the number (a keyed hash)."""
    return deps.secret.digest("oidc-sub", f"{client_id}\0{msisdn}")


@dataclass(frozen=True)
class ProvenUser:
    """The end user of a grant: a proven proof and its number."""

    proof_id: int
    msisdn: str
    client_id: str


class Client:
    """Authlib's ClientMixin over a ClientInfo."""

    def __init__(self, info: api_clients.ClientInfo, deps) -> None:
        self.info, self._deps = info, deps
        self.client_id = info.client_id

    def get_client_id(self):
        return self.info.client_id

    def get_default_redirect_uri(self):
        return self.info.redirect_uris[0]

    def get_allowed_scope(self, scope):
        return " ".join(s for s in (scope or "").split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.info.redirect_uris

    def check_client_secret(self, client_secret):
        with self._deps.uow() as uow:  # read-write: see build_server's query_client
            return api_clients.authenticate_client(uow, self.client_id,
                                                   client_secret) is not None

    def check_endpoint_auth_method(self, method, endpoint):
        return method in AUTH_METHODS if endpoint == "token" else True

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in ("authorization_code", CIBA_GRANT)


@dataclass
class AuthorizationCode:
    """Authlib's AuthorizationCodeMixin over a grant row and its proof's request."""

    client_id: str
    proof_id: int
    request: dict
    msisdn: str

    def get_redirect_uri(self):
        return self.request.get("redirect_uri")

    def get_scope(self):
        return self.request.get("scope", "")

    def get_nonce(self):
        return self.request.get("nonce")

    def get_auth_time(self):
        return None

    def get_acr(self):
        return None

    def get_amr(self):
        return ["sms-mo"]

    @property
    def code_challenge(self):
        return self.request.get("code_challenge")

    @property
    def code_challenge_method(self):
        return self.request.get("code_challenge_method")


def digest(deps, value: str, kind: str) -> str:
    return deps.secret.digest(f"oidc-{kind}", value)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def save_authorization_code(self, code, request):
        deps = _deps()
        with deps.uow() as uow:
            uow.proofs.add_grant(OidcGrant(
                digest=digest(deps, code, "code"), kind="code",
                proof_id=request.user.proof_id, scope=request.payload.scope or "",
                created_at=deps.now(), expires_at=deps.later(CODE_TTL)))
            uow.commit()

    def query_authorization_code(self, code, client):
        deps = _deps()
        with deps.uow() as uow:
            grant = uow.proofs.use_grant(digest(deps, code, "code"), "code", deps.now())
            state = proofs.state_by_id(uow, deps, grant.proof_id) if grant else None
            if state is None or state.client_id != client.client_id \
                    or not proofs.consume_proof(uow, deps, grant.proof_id):
                return None  # unknown, expired, used, or another client's: invalid_grant
            uow.commit()
        return AuthorizationCode(client.client_id, state.id, state.request, state.msisdn)

    def delete_authorization_code(self, authorization_code):
        pass  # used up in query_authorization_code, in the same transaction as its lookup

    def authenticate_user(self, authorization_code):
        return ProvenUser(authorization_code.proof_id, authorization_code.msisdn,
                          authorization_code.client_id)


class OpenIDCode(_OpenIDCode):
    def exists_nonce(self, nonce, request):
        return False  # a nonce only binds the ID token; replays are refused by PKCE

    def resolve_client_private_key(self, client):
        from cryptography.hazmat.primitives import serialization
        from joserfc.jwk import RSAKey
        pem = _deps().signing_key.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
        return RSAKey.import_key(pem)

    def get_client_algorithm(self, client):
        return "RS256"

    def get_encode_header(self, client):
        return {"alg": "RS256", "kid": key_id(_deps())}

    def get_client_claims(self, client):
        from flask import current_app
        return {"iss": current_app.extensions["camara_issuer"](),
                "aud": [client.get_client_id()]}

    def generate_user_info(self, user, scope):
        return UserInfo(sub=subject(_deps(), user.client_id, user.msisdn))


class S256Only(CodeChallenge):
    """PKCE required of every client (confidential ones too), S256 only, named."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE is required: code_challenge with "
                                      "code_challenge_method=S256")
        super().validate_code_challenge(grant, redirect_uri)


class CibaGrant(grants.BaseGrant, grants.TokenEndpointMixin):
    """The CIBA poll (grant_type urn:openid:params:grant-type:ciba, poll mode): answers
    authorization_pending until the number replied, slow_down when polled faster than
    ``ciba.INTERVAL``, access_denied after a "NO", expired_token after the proof's
    lifetime; then the tokens, once (the auth_req_id is single use)."""

    GRANT_TYPE = CIBA_GRANT
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def validate_token_request(self):
        client = self.authenticate_token_endpoint_client()
        self.request.client = client
        deps = _deps()
        auth_req_id = self.request.payload.data.get("auth_req_id")
        if not isinstance(auth_req_id, str) or not auth_req_id:
            raise InvalidGrantError("Missing 'auth_req_id'")
        digest = ciba.grant_digest(deps, auth_req_id)
        now = deps.now()
        with deps.uow() as uow:
            # Expired ones too (until the cleanup removes them): told expired_token.
            grant = uow.proofs.find_grant(digest, "ciba", now - EXPIRED_KEPT)
            state = proofs.state_by_id(uow, deps, grant.proof_id) if grant else None
            if state is None or state.client_id != client.client_id:
                raise InvalidGrantError("unknown auth_req_id")
            if state.status == proofs.EXPIRED or grant.expires_at <= now:
                raise ExpiredTokenError()
            if state.status == proofs.REFUSED:
                raise AccessDeniedError()
            if state.status == proofs.PENDING:
                too_soon = grant.polled_at is not None and \
                    (now - grant.polled_at).total_seconds() < ciba.INTERVAL
                uow.proofs.polled(grant.id, now)
                uow.commit()
                raise SlowDownError() if too_soon else AuthorizationPendingError()
            if state.status != proofs.PROVEN or uow.proofs.use_grant(
                    digest, "ciba", now) is None or not proofs.consume_proof(uow, deps, state.id):
                raise InvalidGrantError("this auth_req_id was used")
            uow.commit()
        self.request.user = ProvenUser(state.id, state.msisdn, client.client_id)
        self._scope = grant.scope

    @hooked
    def create_token_response(self):
        token = self.generate_token(user=self.request.user, scope=self._scope,
                                    include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


def key_id(deps) -> str:
    numbers = deps.signing_key.private_key.public_key().public_numbers()
    return hashlib.sha256(str(numbers.n).encode()).hexdigest()[:16]


def jwks(deps) -> dict:
    numbers = deps.signing_key.private_key.public_key().public_numbers()

    def b64(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": key_id(deps),
                      "n": b64(numbers.n), "e": b64(numbers.e)}]}


def build_server(app, deps) -> AuthorizationServer:
    def query_client(client_id):
        # Read-write although it only reads: every endpoint that looks a client up
        # (authorize, continue, token) writes next, and for a client exempt from the
        # per-client limit this is the request's first statement, which decides whether
        # the request's transaction may write (gateway.storage.transaction).
        with deps.uow() as uow:
            info = api_clients.get_client(uow, client_id)
        return Client(info, deps) if info else None

    def save_token(token, request):
        with deps.uow() as uow:
            uow.proofs.add_grant(OidcGrant(
                digest=digest(deps, token["access_token"], "access"), kind="access",
                proof_id=request.user.proof_id, scope=token.get("scope", ""),
                created_at=deps.now(), expires_at=deps.later(ACCESS_TOKEN_TTL)))
            uow.commit()

    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"authorization_code": ACCESS_TOKEN_TTL,
                                             CIBA_GRANT: ACCESS_TOKEN_TTL}
    server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
    server.register_grant(AuthorizationCodeGrant, [S256Only(required=True), OpenIDCode()])
    server.register_grant(CibaGrant, [OpenIDCode()])
    return server


"""Who may see the admin page.

- Off until a password is set: no password file, every admin URL answers 404 saying how
  to set one (gateway.admin.password).
- Only from ``admin_networks`` (the client address as gateway.http.clients reads it,
  behind ``trusted_proxies``): else 403, before anything else.
- A login gives a session cookie (``gw_admin``) signed with a key derived from the server
  secret, valid ``admin_session_ttl`` seconds and bound to the password hash (a new
  password ends every session); a logout ends every session made before it
  (gateway.admin.password.end_sessions), so a copied cookie dies with it. It is
  ``HttpOnly``, ``SameSite=Strict``, path ``/admin``, and ``Secure`` when the request
  came over https or ``public_url`` is https.
- CSRF: each session holds a random token every form carries (``csrf``); the login form
  carries the token of a short-lived cookie of its own (double submit). A POST without
  the right token is refused with 403.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets

from flask import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from gateway.admin.password import session_generation
from gateway.http.clients import client_address

SESSION_COOKIE = "gw_admin"
LOGIN_COOKIE = "gw_admin_login"
LOGIN_FORM_SECONDS = 3600
COOKIE_PATH = "/admin"


class AdminError(Exception):
    """A refusal of the admin page, rendered as an HTML page with ``status``."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


def client_allowed(request: Request, settings) -> bool:
    """Whether the request's client address is in ``admin_networks``."""
    text = client_address(request, settings.trusted_proxies)
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False)
               for net in settings.admin_networks)


def _serializer(deps) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(deps.secret.derive("admin-session"), salt="admin-session")


def _password_tag(stored_hash: str) -> str:
    return hashlib.sha256(stored_hash.encode()).hexdigest()[:16]


def new_session(deps, stored_hash: str) -> tuple[str, str]:
    """(cookie value, CSRF token) of a new login."""
    csrf = secrets.token_urlsafe(32)
    return _serializer(deps).dumps({"csrf": csrf, "pw": _password_tag(stored_hash),
                                    "gen": session_generation(deps.settings)}), csrf


def session_csrf(request: Request, deps, stored_hash: str) -> str | None:
    """The CSRF token of the request's valid session, or None (no cookie, bad signature,
    expired, made under another password, or before the last logout)."""
    value = request.cookies.get(SESSION_COOKIE)
    if not value:
        return None
    try:
        data = _serializer(deps).loads(value, max_age=deps.settings.admin_session_ttl)
    except BadSignature:  # SignatureExpired is one
        return None
    if not isinstance(data, dict) or data.get("pw") != _password_tag(stored_hash):
        return None
    generation = session_generation(deps.settings)
    if generation is None or data.get("gen") != generation:
        return None
    csrf = data.get("csrf")
    return csrf if isinstance(csrf, str) else None


def check_csrf(sent: str | None, expected: str | None) -> None:
    """Raises AdminError 403 unless ``sent`` is the expected token."""
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise AdminError(403, "This form has no valid CSRF token (it may have expired): "
                              "reload the page and try again.")


def cookie_options(request: Request, settings, max_age: int) -> dict:
    secure = request.is_secure or settings.effective_public_url.startswith("https://")
    return {"max_age": max_age, "path": COOKIE_PATH, "httponly": True,
            "samesite": "Strict", "secure": secure}

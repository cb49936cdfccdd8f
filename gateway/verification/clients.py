"""API clients: the applications allowed to use the OAuth/OpenID Connect faces (Number
Verification, issue 13; reused by issues 14 and 16). A client has a ``client_id``, a
secret shown once at creation and stored only as its SHA-256 (32 random bytes: no slow
hash needed), exact redirect URIs, and an optional webhook URL.

The API is small on purpose, for the CLI and the admin page:
``list_clients(uow)``, ``add_client(uow, deps, name, redirect_uris, webhook_url)`` ->
``(client_id, secret)``, ``remove_client(uow, client_id)``, and
``authenticate_client(uow, client_id, secret)`` for the faces. The caller commits.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Sequence
from urllib.parse import urlsplit

from gateway.errors import InvalidParameter
from gateway.storage.models import ApiClient

CLIENT_ID_PREFIX = "gw_"
MAX_REDIRECT_URIS = 10


@dataclass(frozen=True)
class ClientInfo:
    """What may be shown of a client (never its secret or its digest)."""

    client_id: str
    name: str
    redirect_uris: tuple[str, ...]
    webhook_url: str | None
    created_at: datetime


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _info(row: ApiClient) -> ClientInfo:
    return ClientInfo(client_id=row.client_id, name=row.name,
                      redirect_uris=tuple(json.loads(row.redirect_uris)),
                      webhook_url=row.webhook_url, created_at=row.created_at)


def check_url(url: str, what: str) -> str:
    """``url`` if it is an absolute http(s) URL without fragment; InvalidParameter else.
    Plain http only for a loopback host (a native app's redirect, tests)."""
    if not isinstance(url, str) or len(url) > 2000 or any(c.isspace() for c in url):
        raise InvalidParameter(f"{what} must be an absolute URL of at most 2000 characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise InvalidParameter(f"{what} is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not host or parts.fragment:
        raise InvalidParameter(f"{what} must be an absolute https URL without fragment")
    if parts.scheme == "http" and host not in ("127.0.0.1", "localhost", "::1"):
        raise InvalidParameter(f"{what} must use https (http only for localhost)")
    return url


def add_client(uow, deps, name: str, redirect_uris: Sequence[str],
               webhook_url: str | None = None) -> tuple[str, str]:
    """Register a client; returns ``(client_id, client_secret)``, the secret only here.
    Raises InvalidParameter (empty or long name, no or bad redirect URI, bad webhook)."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 100 or not name.isprintable():
        raise InvalidParameter("the client name must be 1 to 100 printable characters")
    uris = list(dict.fromkeys(redirect_uris or ()))
    if not 1 <= len(uris) <= MAX_REDIRECT_URIS:
        raise InvalidParameter(f"give 1 to {MAX_REDIRECT_URIS} redirect URIs")
    uris = [check_url(uri, "redirect URI") for uri in uris]
    if webhook_url:
        check_url(webhook_url, "webhook URL")
    secret = secrets.token_urlsafe(32)
    while True:
        client_id = CLIENT_ID_PREFIX + secrets.token_hex(12)
        if uow.clients.add(ApiClient(
                client_id=client_id, name=name, secret_digest=secret_digest(secret),
                redirect_uris=json.dumps(uris), webhook_url=webhook_url or None,
                created_at=deps.now())):
            return client_id, secret


def list_clients(uow) -> list[ClientInfo]:
    return [_info(row) for row in uow.clients.all()]


def get_client(uow, client_id: str) -> ClientInfo | None:
    row = uow.clients.get(client_id) if isinstance(client_id, str) else None
    return _info(row) if row is not None else None


def remove_client(uow, client_id: str) -> bool:
    """Remove the client, its pending proofs and its grants; False if unknown."""
    return uow.clients.remove(client_id)


def authenticate_client(uow, client_id: str, secret: str) -> ClientInfo | None:
    """The client if ``secret`` is its secret (constant-time compare), else None."""
    if not isinstance(client_id, str) or not isinstance(secret, str):
        return None
    row = uow.clients.get(client_id)
    expected = row.secret_digest if row is not None else "0" * 64
    if hmac.compare_digest(expected, secret_digest(secret)) and row is not None:
        return _info(row)
    return None

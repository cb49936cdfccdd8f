"""Webhooks to API clients (issue 14): queued in ``webhook_events`` in the transaction that
completes a request, delivered at least once by the worker (gateway.pipeline.webhooks).

Each POST carries the JSON body and these headers:

    Webhook-Id:        the event's idempotency key (the same on every retry)
    Webhook-Timestamp: Unix seconds of this attempt
    Webhook-Signature: v1=<hex HMAC-SHA256 under the client's webhook secret of
                       "<timestamp>.<body bytes>">

The client's webhook secret is derived from the server secret and the client id (so it
is never stored; a database dump does not reveal it) and is shown to the client by
``GET /auth/v1/webhook/secret`` with its credentials.

Destinations (:func:`check_destination`): ``https`` only (``http`` too under --simulate),
and every address the host resolves to must be public unless ``webhook_allow_private``;
the delivery connects to the address that was checked (no DNS rebinding between the
check and the connection).
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway.storage.models import WebhookEvent

SEAL_PURPOSE = "webhook-body"


class WebhookRefused(Exception):
    """The webhook URL may not be called (scheme, address); the message says why."""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    port: int
    address: str  # the checked IP address to connect to
    target: str  # path and query


def signing_secret(deps, client_id: str) -> str:
    return "whsec_" + deps.secret.digest("webhook-signing", client_id)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def enqueue(uow, deps, client_id: str, body: dict) -> str | None:
    """Queue ``body`` for ``client_id``'s webhook URL, if it has one; returns the event id."""
    client = uow.clients.get(client_id)
    if client is None or not client.webhook_url:
        return None
    event_id = "evt_" + secrets.token_hex(16)
    payload = json.dumps({"eventId": event_id, **body}, separators=(",", ":"))
    now = deps.now()
    uow.webhooks.add(WebhookEvent(
        event_id=event_id, client_id=client_id,
        body_sealed=deps.secret.seal(event_id, SEAL_PURPOSE, payload), status="pending",
        attempts=0, next_attempt_at=now, created_at=now))
    return event_id


def open_body(deps, row: WebhookEvent) -> bytes:
    return deps.secret.open(row.event_id, SEAL_PURPOSE, row.body_sealed).encode()


def check_destination(url: str, settings, resolve=socket.getaddrinfo) -> Destination:
    """Where to POST ``url``; raises WebhookRefused (scheme, unresolvable host, a
    non-public address while ``webhook_allow_private`` is off)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise WebhookRefused("not a valid URL") from None
    allowed = ("https", "http") if settings.simulate else ("https",)
    if parts.scheme not in allowed or not host:
        raise WebhookRefused("webhook URLs must use https")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = resolve(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise WebhookRefused("the webhook host does not resolve") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses:
        raise WebhookRefused("the webhook host does not resolve")
    if not settings.webhook_allow_private and not all(a.is_global for a in addresses):
        raise WebhookRefused("the webhook host resolves to a non-public address")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(parts.scheme, host, port, str(addresses[0]), target)

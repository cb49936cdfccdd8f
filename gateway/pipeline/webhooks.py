"""Webhook delivery (issue 14), the worker's ``webhooks`` pump: claims due events of
``webhook_events`` under a lease, POSTs each signed (gateway.verification.webhooks), and
records the outcome. At least once: an event is marked delivered only after a 2xx answer,
so a worker killed mid-delivery leaves its claim to lapse and the event is sent again,
with the same ``Webhook-Id`` (the receiver's idempotency key). A failure (refused
destination, network error, non-2xx) is retried after ``webhook_retry_backoff`` seconds,
doubling up to an hour, until ``webhook_max_attempts``; then the event is ``failed``.
Nothing here runs in an API request: completing a request only inserts the row.
"""
from __future__ import annotations

import http.client
import logging
import socket
import ssl

from gateway.verification import webhooks
from gateway.verification.webhooks import Destination, WebhookRefused

log = logging.getLogger(__name__)

BATCH = 20
MAX_BACKOFF = 3600


def post(destination: Destination, headers: dict, body: bytes, timeout: float) -> int:
    """POST to the checked address of ``destination`` (TLS verified against its host
    name); returns the HTTP status. Raises OSError on a network failure."""
    context = ssl.create_default_context()
    if destination.scheme == "https":
        connection = http.client.HTTPSConnection(destination.host, destination.port,
                                                 timeout=timeout, context=context)
    else:
        connection = http.client.HTTPConnection(destination.host, destination.port,
                                                timeout=timeout)
    address = destination.address

    def connect() -> None:  # to the address checked, not a second resolution
        sock = socket.create_connection((address, destination.port), timeout)
        if destination.scheme == "https":
            sock = context.wrap_socket(sock, server_hostname=destination.host)
        connection.sock = sock

    connection.connect = connect
    try:
        connection.request("POST", destination.target, body=body, headers=headers)
        response = connection.getresponse()
        response.read(65536)
        return response.status
    finally:
        connection.close()


class WebhookSender:
    """Deliver due webhooks; ``send`` is :func:`post` (tests may give their own)."""

    def __init__(self, deps, send=post, resolve=socket.getaddrinfo) -> None:
        self.deps, self._send, self._resolve = deps, send, resolve

    def deliver_due(self) -> float | None:
        """Deliver what is due; returns the seconds until the next event is due (None:
        nothing pending). Thread: the ``webhooks`` pump."""
        deps, settings = self.deps, self.deps.settings
        lease = settings.webhook_timeout * 2 + 5
        with deps.uow(read_only=True) as uow:  # no write lock when nothing is due
            if not uow.webhooks.any_due(deps.now()):
                return self._seconds_until(uow.webhooks.next_due())
        with deps.uow() as uow:
            rows = uow.webhooks.claim_due(deps.now(), BATCH, lease)
            uow.commit()
        for row in rows:
            self._deliver(row)
        with deps.uow(read_only=True) as uow:
            return self._seconds_until(uow.webhooks.next_due())

    def _seconds_until(self, due) -> float | None:
        return None if due is None else max(0.0, (due - self.deps.now()).total_seconds())

    def _deliver(self, row) -> None:
        deps, settings = self.deps, self.deps.settings
        with deps.uow(read_only=True) as uow:
            client = uow.clients.get(row.client_id)
            url = client.webhook_url if client is not None else None
        error = None
        try:
            if not url:
                raise WebhookRefused("the client has no webhook URL any more")
            destination = webhooks.check_destination(url, settings, self._resolve)
            body = webhooks.open_body(deps, row)
            timestamp = int(deps.now().timestamp())
            headers = {"Content-Type": "application/json", "Webhook-Id": row.event_id,
                       "Webhook-Timestamp": str(timestamp),
                       "Webhook-Signature": webhooks.sign(
                           webhooks.signing_secret(deps, row.client_id), timestamp, body),
                       "User-Agent": "msisdn-gateway-webhooks"}
            status = self._send(destination, headers, body, settings.webhook_timeout)
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except WebhookRefused as exc:
            error = f"refused: {exc}"
        except (OSError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"[:200]
        self._record(row, error)

    def _record(self, row, error: str | None) -> None:
        deps, settings = self.deps, self.deps.settings
        now = deps.now()
        with deps.uow() as uow:
            if error is None:
                uow.webhooks.update(row.id, status="delivered", delivered_at=now,
                                    claimed_until=None, last_error=None)
                log.info("webhook %s delivered (attempt %d)", row.event_id, row.attempts)
            elif row.attempts >= settings.webhook_max_attempts:
                uow.webhooks.update(row.id, status="failed", claimed_until=None,
                                    last_error=error[:200])
                log.warning("webhook %s failed for good: %s", row.event_id, error)
            else:
                backoff = min(MAX_BACKOFF, settings.webhook_retry_backoff
                              * 2 ** (row.attempts - 1))
                uow.webhooks.update(row.id, claimed_until=None, last_error=error[:200],
                                    next_attempt_at=deps.later(backoff))
                log.info("webhook %s attempt %d failed (%s), again in %d s", row.event_id,
                         row.attempts, error, backoff)
            uow.commit()


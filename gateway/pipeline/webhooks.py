"""Webhook delivery (issue 14), the worker's ``webhooks`` pump: claims due events of
``webhook_events`` under a lease, POSTs each signed (gateway.verification.webhooks), and
records the outcome. At least once: an event is marked delivered only after a 2xx answer,
so a worker killed mid-delivery leaves its claim to lapse and the event is sent again,
with the same ``Webhook-Id`` (the receiver's idempotency key). A failure (refused
destination, network error, non-2xx, no status line and headers within
``webhook_timeout``) is retried after ``webhook_retry_backoff`` seconds, doubling up to
an hour, until ``webhook_max_attempts``; then the event is ``failed``.
Nothing here runs in an API request: completing a request only inserts the row.
"""
from __future__ import annotations

import http.client
import logging
import re
import socket
import ssl
import time

from gateway.pipeline.resolver import DeadlineResolver
from gateway.verification import webhooks
from gateway.verification.webhooks import Destination, WebhookRefused

log = logging.getLogger(__name__)

BATCH = 20
MAX_BACKOFF = 3600
# Counted around each attempt's network deadline (webhook_timeout) when judging whether
# it ends within the claim: resolving the host (at most resolver.DNS_TIMEOUT), reading
# the client and the body, signing, recording the outcome.
ATTEMPT_SLACK = 5.0
MAX_HEAD = 16384  # bytes of status line and headers read; the body is never read
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")  # in a request target or a header name
_END_OF_HEAD = re.compile(rb"\r?\n\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/\d(?:\.\d)? ([1-9]\d\d)(?: [^\r\n]*)?")


def post(destination: Destination, headers: dict, body: bytes, timeout: float) -> int:
    """POST to the checked address of ``destination`` (TLS verified against its host
    name; a redirect is a status like another, never followed); returns the HTTP status.
    ``timeout`` seconds bound the whole attempt (connect, TLS handshake, request, status
    line and headers), not each read: a receiver that drips its answer is cut off.
    Raises OSError on a network failure (TimeoutError past the deadline),
    http.client.HTTPException on an answer that is not HTTP or a target that is unsafe."""
    deadline = time.monotonic() + timeout
    request = _request(destination, headers, body)
    # To the address checked, not a second resolution.
    with socket.create_connection((destination.address, destination.port),
                                  _left(deadline)) as raw:
        sock = raw
        if destination.scheme == "https":
            sock = ssl.create_default_context().wrap_socket(
                raw, server_hostname=destination.host, do_handshake_on_connect=False)
        with sock:
            if destination.scheme == "https":  # one call, bounded as a whole
                sock.settimeout(_left(deadline))
                sock.do_handshake()
            _send_all(sock, request, deadline)
            return _read_status(sock, deadline)


def _left(deadline: float) -> float:
    """Seconds left before ``deadline``; raises TimeoutError when none are."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("no answer within webhook_timeout")
    return left


def _request(destination: Destination, headers: dict, body: bytes) -> bytes:
    host = f"[{destination.host}]" if ":" in destination.host else destination.host
    if destination.port != (443 if destination.scheme == "https" else 80):
        host += f":{destination.port}"
    fields = {"Host": host, **headers, "Content-Length": str(len(body)),
              "Connection": "close"}
    lines = [f"POST {destination.target} HTTP/1.1"] + [f"{k}: {v}" for k, v in fields.items()]
    if _UNSAFE.search(destination.target) or any(
            _UNSAFE.search(k) or "\r" in str(v) or "\n" in str(v) for k, v in fields.items()):
        raise http.client.InvalidURL("a control character or a space in the request")
    try:
        return "\r\n".join(lines + ["", ""]).encode("ascii") + body
    except UnicodeEncodeError:
        raise http.client.InvalidURL("a non-ASCII request target or header") from None


def _send_all(sock: socket.socket, data: bytes, deadline: float) -> None:
    view = memoryview(data)
    while view:
        sock.settimeout(_left(deadline))
        view = view[sock.send(view):]


def _read_status(sock: socket.socket, deadline: float) -> int:
    """The status of the first final (non-1xx) answer, once its headers are in; at most
    ``MAX_HEAD`` bytes are read in all."""
    head, start = b"", 0
    while True:
        end = _END_OF_HEAD.search(head, start)
        if end:
            status = _status_of(head[start:end.start()])
            if status >= 200:
                return status
            start = end.end()  # 100 Continue and the like: the answer follows
            continue
        if len(head) > MAX_HEAD:
            raise http.client.HTTPException(f"status line and headers over {MAX_HEAD} bytes")
        sock.settimeout(_left(deadline))
        chunk = sock.recv(4096)
        if not chunk:
            raise http.client.RemoteDisconnected("closed before its status and headers")
        head += chunk


def _status_of(head: bytes) -> int:
    line = head.split(b"\n", 1)[0].rstrip(b"\r")
    match = _STATUS_LINE.fullmatch(line)
    if match is None:
        raise http.client.BadStatusLine(repr(line[:80]))
    return int(match[1])


class WebhookSender:
    """Deliver due webhooks; ``send`` is :func:`post` (tests may give their own)."""

    def __init__(self, deps, send=post, resolve=None) -> None:
        """``resolve``: getaddrinfo's stand-in, by default one with a deadline
        (gateway.pipeline.resolver: a slow DNS server holds no other client's webhooks)."""
        self.deps, self._send = deps, send
        self._resolve = resolve if resolve is not None else DeadlineResolver()

    def deliver_due(self) -> float | None:
        """Deliver what is due; returns the seconds until the next event is due (None:
        nothing pending). Thread: the ``webhooks`` pump."""
        deps, settings = self.deps, self.deps.settings
        # The claim must outlast every attempt made under it, or another worker claims
        # the event meanwhile and sends it twice. An attempt's network part ends by its
        # deadline (webhook_timeout, see post), the rest is given ATTEMPT_SLACK; the
        # rows are tried one after another, so an attempt is begun only while that much
        # of the lease is left, and the rows not begun are handed back unattempted.
        longest = settings.webhook_timeout + ATTEMPT_SLACK
        lease = 2 * longest
        with deps.uow(read_only=True) as uow:  # no write lock when nothing is due
            if not uow.webhooks.any_due(deps.now()):
                return self._seconds_until(uow.webhooks.next_due())
        claimed = deps.clock.monotonic()  # before the claim: the lease ends later
        with deps.uow() as uow:
            rows = uow.webhooks.claim_due(deps.now(), BATCH, lease)
            uow.commit()
        # A client whose endpoint just failed gets no second attempt in this pass: its
        # other events wait a backoff, unattempted, instead of each taking up to
        # webhook_timeout of the pass from every other client.
        failing, held = set(), []
        for index, row in enumerate(rows):
            if deps.clock.monotonic() - claimed + longest > lease:
                self._release(rows[index:])
                break
            if row.client_id in failing:
                held.append(row)
            elif not self._deliver(row):
                failing.add(row.client_id)
        if held:
            self._release(held, later=settings.webhook_retry_backoff)
        with deps.uow(read_only=True) as uow:
            return self._seconds_until(uow.webhooks.next_due())

    def _release(self, rows, later: float = 0) -> None:
        """Hand back claimed rows not attempted, due again in ``later`` seconds: at once
        when their claim would lapse mid-attempt (for this worker's next pass or another
        worker), after a backoff when their client's endpoint just failed."""
        with self.deps.uow() as uow:
            for row in rows:
                uow.webhooks.update(row.id, claimed_until=None, attempts=row.attempts - 1,
                                    next_attempt_at=self.deps.later(later))
            uow.commit()

    def _seconds_until(self, due) -> float | None:
        return None if due is None else max(0.0, (due - self.deps.now()).total_seconds())

    def _deliver(self, row) -> bool:
        """One attempt at ``row``, recorded; whether it was delivered."""
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
        return error is None

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


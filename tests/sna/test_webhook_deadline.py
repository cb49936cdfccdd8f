"""One webhook attempt has one deadline, ``webhook_timeout`` seconds for all of it (connect,
TLS, request, status line and headers), not a timeout per socket read: a receiver that
drips its answer a byte at a time no longer holds the worker's ``webhooks`` pump (every
other client's webhooks wait behind it) nor outlasts the claim (a second worker would
send the event again). Real sockets on 127.0.0.1; the sender's clock is fake."""
from __future__ import annotations

import socket
import threading

import pytest

from gateway.pipeline import webhooks as delivery
from gateway.pipeline.webhooks import WebhookSender

from test_sna_flow import App
from test_webhooks import Receiver, completed, events

TIMEOUT = 0.5
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


class DripReceiver:
    """Reads one request at a time, then answers 200 one byte every ``interval`` seconds
    (well within any timeout per read) until the caller hangs up or ``close``. ``wrap``:
    a server-side TLS wrapping of each accepted connection."""

    def __init__(self, interval=0.1, wrap=None):
        self.interval, self.wrap, self.requests = interval, wrap, 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            try:
                with connection:  # a TLS wrapping takes the connection's descriptor
                    connection.settimeout(5)
                    with self.wrap(connection) if self.wrap else connection as stream:
                        self._answer(stream)
            except OSError:
                pass  # the caller hung up: what the deadline is for

    def _answer(self, connection):
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = connection.recv(4096)
            if not chunk:
                return
            request += chunk
        self.requests += 1
        for byte in ANSWER:
            if self.stopped.wait(self.interval):
                return
            connection.sendall(bytes([byte]))

    def close(self):
        self.stopped.set()
        self.thread.join(5)
        self.listener.close()


@pytest.fixture
def drip():
    receiver = DripReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def honest():
    receiver = Receiver()
    yield receiver
    receiver.close()


def test_a_dripped_answer_fails_at_the_deadline_and_the_next_client_is_served(
        start_gateway, drip, honest):
    gw = start_gateway(simulate=True, webhook_allow_private=True, webhook_timeout=TIMEOUT)
    completed(gw, App(gw, "Slow", webhook=drip.url))  # queued first: delivered first
    completed(gw, App(gw, "Honest", webhook=honest.url))
    sender = WebhookSender(gw.deps)
    # The whole answer takes ~4 s to drip (39 bytes, one per 0.1 s): read to its end,
    # as before the deadline, it would be a delivery, not the TimeoutError below.
    sender.deliver_due()
    if not honest.requests:  # the same pass or the next
        sender.deliver_due()
    assert len(honest.requests) == 1 and drip.requests == 1
    slow, quick = events(gw)
    assert quick.status == "delivered"
    # A failed attempt like any timeout: retried after the backoff.
    assert (slow.status, slow.attempts, slow.claimed_until) == ("pending", 1, None)
    assert "TimeoutError" in slow.last_error
    assert sender.deliver_due() == pytest.approx(gw.settings.webhook_retry_backoff)


def test_every_attempt_of_a_pass_ends_before_its_claim_lapses(start_gateway, honest):
    gw = start_gateway(simulate=True, webhook_allow_private=True, webhook_timeout=TIMEOUT)
    app = App(gw, webhook=honest.url)
    for _ in range(3):
        completed(gw, app)
    late = []

    def slowest_send(destination, headers, body, timeout):  # each attempt takes its all
        with gw.deps.uow(read_only=True) as uow:
            [row] = [r for r in uow.webhooks.all() if r.event_id == headers["Webhook-Id"]]
        gw.clock.advance(timeout + delivery.ATTEMPT_SLACK)
        if gw.clock.now().replace(tzinfo=None) > row.claimed_until.replace(tzinfo=None):
            late.append(row.event_id)  # another worker could have claimed it meanwhile
        return 204

    sender = WebhookSender(gw.deps, send=slowest_send)
    again = sender.deliver_due()
    assert late == []
    assert again == 0  # the rest was handed back, due at once
    first = events(gw)
    assert [row.status for row in first] == ["delivered", "delivered", "pending"]
    assert (first[2].attempts, first[2].claimed_until) == (0, None)  # not an attempt
    assert sender.deliver_due() is None
    assert late == [] and [row.status for row in events(gw)] == ["delivered"] * 3


def test_a_host_whose_dns_does_not_answer_fails_its_attempt_and_the_next_client_is_served(
        start_gateway, honest, monkeypatch):
    # The system's resolver waits as long as resolv.conf says (tens of seconds): one
    # client's dead DNS server would hold every client's webhooks, and the claim.
    from gateway.pipeline import resolver

    monkeypatch.setattr(resolver, "DNS_TIMEOUT", TIMEOUT)
    gw = start_gateway(simulate=True, webhook_allow_private=True, webhook_timeout=TIMEOUT)
    completed(gw, App(gw, "Slow DNS", webhook="https://hooks.slow-dns.example/hooks"))
    completed(gw, App(gw, "Honest", webhook=honest.url))  # an address: no lookup
    answered = threading.Event()

    real_lookup = socket.getaddrinfo

    def lookup(host, port, *args, **kwargs):  # DNS is outside the box: a slow server
        if host == "hooks.slow-dns.example":  # answers, but 2 s late: never used
            answered.wait(2)
            host, port = "127.0.0.1", honest.server.server_port
        return real_lookup(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    sender = WebhookSender(gw.deps)  # as the worker makes it
    try:
        sender.deliver_due()
        assert len(honest.requests) == 1  # in the same pass, and only the honest one
        slow, quick = events(gw)
        assert quick.status == "delivered"
        assert (slow.status, slow.attempts) == ("pending", 1)
        assert "does not resolve" in slow.last_error
    finally:
        answered.set()


def test_a_client_whose_endpoint_fails_gets_one_attempt_a_pass(start_gateway, honest):
    # Each of its events would otherwise take up to webhook_timeout of the pass from every
    # other client; its other events wait the backoff, unattempted.
    failing = Receiver()
    failing.statuses = [503] * 10
    try:
        gw = start_gateway(simulate=True, webhook_allow_private=True)
        down = App(gw, "Down", webhook=failing.url)
        for _ in range(3):
            completed(gw, down)
        completed(gw, App(gw, "Up", webhook=honest.url))
        sender = WebhookSender(gw.deps)
        assert sender.deliver_due() == pytest.approx(gw.settings.webhook_retry_backoff)
        assert len(failing.requests) == 1 and len(honest.requests) == 1
        rows = events(gw)
        assert sorted(r.attempts for r in rows if r.client_id == down.client_id) == [0, 0, 1]
        assert all(r.status == "pending" and r.claimed_until is None
                   for r in rows if r.client_id == down.client_id)
        gw.clock.advance(gw.settings.webhook_retry_backoff)
        sender.deliver_due()  # the backoff over: again one attempt for that client
        assert len(failing.requests) == 2
    finally:
        failing.close()

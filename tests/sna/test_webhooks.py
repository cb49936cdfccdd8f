"""Webhooks (issue 14): queued in the transaction that completes an SNA request, delivered
by the worker's sender (gateway.pipeline.webhooks) over real HTTP to a receiver on
127.0.0.1 that checks the signature; retried with backoff, again after a lapsed claim
(a worker killed mid-delivery), never to a non-public address unless allowed. Only time
is fake."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import pytest

import gateway.storage.db
from gateway.pipeline.webhooks import WebhookSender
from gateway.verification import webhooks
from gateway.verification.webhooks import WebhookRefused

from test_sna_flow import DIGITS, PHONE, App, local, page, phone_sends, started


class Receiver:
    """An app's webhook endpoint on 127.0.0.1: keeps each request; answers ``statuses``
    in turn, then 200."""

    def __init__(self):
        self.requests, self.statuses = [], []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/sna"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,),
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


def completed(gw, app, sender=None):
    begun = started(app)
    sms_href, _cont = page(gw, begun["link"])
    phone_sends(gw, unquote(sms_href.split("body=")[1]), **({"sender": sender} if sender else {}))
    return begun["requestId"]


def secret_of(gw, app):
    response = gw.http.get(gw.url + "/auth/v1/webhook/secret", headers=app.headers())
    assert response.status_code == 200, response.text
    return response.json()["signingSecret"]


def check_signature(secret, headers, body):
    expected = hmac.new(secret.encode(), headers["Webhook-Timestamp"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["Webhook-Signature"], "v1=" + expected)


def events(gw):
    with gw.deps.uow() as uow:
        return uow.webhooks.all()


@pytest.fixture
def setup(start_gateway, receiver):
    gw = start_gateway(simulate=True, webhook_allow_private=True)
    return gw, App(gw, webhook=receiver.url), receiver


def test_a_completed_request_is_posted_signed_once_delivered(setup):
    gw, app, receiver = setup
    request_id = completed(gw, app)
    assert receiver.requests == []  # queued, never sent from the request
    WebhookSender(gw.deps).deliver_due()
    [(headers, body)] = receiver.requests
    check_signature(secret_of(gw, app), headers, body)
    event = json.loads(body)
    assert event["eventId"] == headers["Webhook-Id"] and event["event"] == "sna.verified"
    assert event["requestId"] == request_id and event["status"] == "SUCCESS"
    assert event["identities"][0]["identityValue"] == DIGITS
    assert int(headers["Webhook-Timestamp"]) == int(gw.clock.now().timestamp())
    WebhookSender(gw.deps).deliver_due()
    assert len(receiver.requests) == 1
    [row] = events(gw)
    assert row.status == "delivered" and DIGITS.encode() not in row.body_sealed


def test_a_failed_request_is_posted_too(setup):
    gw, app, receiver = setup
    completed(gw, app, sender="+33698765432")
    WebhookSender(gw.deps).deliver_due()
    event = json.loads(receiver.requests[0][1])
    assert (event["event"], event["errorCode"], event["status"]) == ("sna.failed", "7128",
                                                                     "FAILED")


def test_a_request_its_number_holder_declined_is_posted_failed(setup):
    gw, app, receiver = setup
    begun = started(app, proof="sms_link")
    [url] = re.findall(r"https?://\S+", gw.last_sms_to(PHONE))
    assert gw.http.post(local(gw, url) + "/decline").status_code == 200
    WebhookSender(gw.deps).deliver_due()
    event = json.loads(receiver.requests[0][1])
    assert (event["event"], event["errorCode"], event["status"]) == ("sna.failed", "7130",
                                                                     "FAILED")
    assert event["requestId"] == begun["requestId"] and "declined" in event["description"]


def test_a_refused_delivery_is_retried_with_backoff_and_the_same_id(setup):
    gw, app, receiver = setup
    receiver.statuses = [500, 503]
    completed(gw, app)
    sender = WebhookSender(gw.deps)
    assert sender.deliver_due() == pytest.approx(gw.settings.webhook_retry_backoff)
    sender.deliver_due()
    assert len(receiver.requests) == 1  # not due yet
    gw.clock.advance(gw.settings.webhook_retry_backoff)
    assert sender.deliver_due() == pytest.approx(2 * gw.settings.webhook_retry_backoff)
    gw.clock.advance(2 * gw.settings.webhook_retry_backoff)
    assert sender.deliver_due() is None
    ids = {headers["Webhook-Id"] for headers, _body in receiver.requests}
    assert len(receiver.requests) == 3 and len(ids) == 1
    [row] = events(gw)
    assert (row.status, row.attempts) == ("delivered", 3)


def test_a_claim_left_by_a_killed_worker_lapses_and_the_event_is_sent_again(setup):
    gw, app, receiver = setup
    completed(gw, app)
    with gw.deps.uow() as uow:  # a worker claims it, then dies before recording anything
        [claimed] = uow.webhooks.claim_due(gw.clock.now(), 10, 15)
        uow.commit()
    sender = WebhookSender(gw.deps)
    # Still claimed: the sender comes back when the claim lapses, not at once (it would
    # spin on an event another worker is delivering).
    assert sender.deliver_due() == pytest.approx(15)
    assert receiver.requests == []
    gw.clock.advance(16)
    sender.deliver_due()
    [(headers, _body)] = receiver.requests
    assert headers["Webhook-Id"] == claimed.event_id


def test_a_pass_with_nothing_to_deliver_takes_no_write_lock(setup, monkeypatch):
    gw, app, receiver = setup
    locks = []
    real = gateway.storage.db.begin_immediate
    monkeypatch.setattr(gateway.storage.db, "begin_immediate",
                        lambda connection, **kw: locks.append(1) or real(connection, **kw))
    assert WebhookSender(gw.deps).deliver_due() is None
    assert locks == []
    completed(gw, app)
    locks.clear()
    WebhookSender(gw.deps).deliver_due()
    assert len(receiver.requests) == 1 and locks  # claimed, then recorded


def test_gives_up_after_the_last_attempt(start_gateway, receiver):
    gw = start_gateway(simulate=True, webhook_allow_private=True, webhook_max_attempts=2)
    app = App(gw, webhook=receiver.url)
    receiver.statuses = [500, 500]
    completed(gw, app)
    sender = WebhookSender(gw.deps)
    sender.deliver_due()
    gw.clock.advance(gw.settings.webhook_retry_backoff)
    assert sender.deliver_due() is None
    [row] = events(gw)
    assert (row.status, row.last_error) == ("failed", "HTTP 500")


def test_loopback_is_refused_unless_allowed(start_gateway, receiver):
    gw = start_gateway(simulate=True)
    app = App(gw, webhook=receiver.url)
    completed(gw, app)
    WebhookSender(gw.deps).deliver_due()
    assert receiver.requests == []
    [row] = events(gw)
    assert row.status == "pending" and "non-public" in row.last_error


def test_a_client_without_a_webhook_gets_no_event(gateway):
    completed(gateway, App(gateway))
    assert events(gateway) == []


def fake_resolver(*addresses):
    def resolve(host, port, type=0):
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port)) for a in addresses]
    return resolve


@pytest.mark.parametrize("addresses", [("127.0.0.1",), ("10.1.2.3",), ("169.254.169.254",),
                                       ("192.168.1.1",), ("::1",), ("fd00::1",),
                                       ("93.184.216.34", "10.0.0.1"), ("100.64.0.1",)])
def test_non_public_addresses_are_refused(gateway, addresses):
    with pytest.raises(WebhookRefused, match="non-public"):
        webhooks.check_destination("https://hooks.example/x", gateway.settings,
                                   fake_resolver(*addresses))


def test_a_public_https_address_is_called_at_the_address_checked(gateway):
    found = webhooks.check_destination("https://hooks.example:8443/x?y=1", gateway.settings,
                                       fake_resolver("93.184.216.34"))
    assert (found.scheme, found.host, found.port, found.address, found.target) == (
        "https", "hooks.example", 8443, "93.184.216.34", "/x?y=1")


@pytest.mark.parametrize("url", ["http://hooks.example/x", "ftp://hooks.example/x",
                                 "https:///x", "https://[zz/x"])
def test_only_https_outside_simulate(gateway, url):
    with pytest.raises(WebhookRefused):
        webhooks.check_destination(url, gateway.settings, fake_resolver("93.184.216.34"))


def test_an_unresolvable_host_is_refused(gateway):
    def resolve(*args, **kwargs):
        raise socket.gaierror("no such host")
    with pytest.raises(WebhookRefused, match="resolve"):
        webhooks.check_destination("https://nowhere.example/", gateway.settings, resolve)

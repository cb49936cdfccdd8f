"""A lean hot path: at most one write transaction per request, counted at the engine.

The per-client counter, the Hawk key, the Hawk nonce and the use case share the request's
transaction (gateway/http/transaction.py), committed once, also when the use case refused:
then the counter hit and the nonce persist, the refused work does not.
"""
from __future__ import annotations

import socket
import threading
import time

import flask
import requests
from sqlalchemy import event, func, select

from conftest import assert_error
from gateway.storage.db import READ_ONLY
from gateway.storage.models import RateCounter, VerificationCode

NUMBER = "+33612345678"


class EngineTransactions:
    """Transactions begun (write or read-only), committed and rolled back on an engine,
    counted from SQLAlchemy's events, as the server thread runs them."""

    def __init__(self, engine) -> None:
        self._lock = threading.Lock()
        self.writes = self.reads = self.commits = self.rollbacks = 0
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "rollback", self._rollback)

    def _begin(self, connection) -> None:
        with self._lock:
            if connection.get_execution_options().get(READ_ONLY):
                self.reads += 1
            else:
                self.writes += 1

    def _commit(self, _connection) -> None:
        with self._lock:
            self.commits += 1

    def _rollback(self, _connection) -> None:
        with self._lock:
            self.rollbacks += 1

    def during(self, call):
        """``call()``'s result and the (writes, reads, commits, rollbacks) it caused."""
        before = self.counts()
        result = call()
        after = self.counts()
        return result, tuple(b - a for a, b in zip(before, after))

    def counts(self) -> tuple[int, int, int, int]:
        with self._lock:
            return self.writes, self.reads, self.commits, self.rollbacks


def counted(gw):
    return EngineTransactions(gw.engine)


def client_hits(gw) -> int:
    with gw.deps.uow(read_only=True) as uow:
        return uow.db.scalar(select(func.coalesce(func.sum(RateCounter.count), 0))
                             .where(RateCounter.key.like("client:%")))


def failed_tries(gw) -> list[int]:
    with gw.deps.uow(read_only=True) as uow:
        return list(uow.db.scalars(select(VerificationCode.failed_attempts)))


ONE_WRITE = (1, 0, 1, 0)  # one write transaction, committed, nothing rolled back


def test_register_is_one_write_transaction_with_the_client_counted_in_it(gateway):
    engine = counted(gateway)
    response, transactions = engine.during(lambda: gateway.post("/v1/msisdn/register"))
    assert response.status_code == 200
    assert transactions == ONE_WRITE
    assert client_hits(gateway) == 1


def test_register_of_an_exempt_client_is_one_write_transaction_too(start_gateway):
    gw = start_gateway(rate_limit_exempt_networks="127.0.0.0/8")
    engine = counted(gw)
    response, transactions = engine.during(lambda: gw.post("/v1/msisdn/register"))
    assert response.status_code == 200
    assert transactions == ONE_WRITE
    assert client_hits(gw) == 0


def test_discover_writes_only_the_client_counter_in_one_transaction(gateway):
    engine = counted(gateway)
    response, transactions = engine.during(
        lambda: gateway.post("/v1/msisdn/discover", {"mcc": "208", "mnc": "01"}))
    assert response.status_code == 200
    assert transactions == ONE_WRITE
    assert client_hits(gateway) == 1


def test_discover_for_an_exempt_client_opens_no_write_transaction(start_gateway):
    gw = start_gateway(rate_limit_exempt_networks="127.0.0.0/8")
    engine = counted(gw)
    response, transactions = engine.during(
        lambda: gw.post("/v1/msisdn/discover", {"mcc": "208", "mnc": "01"}))
    assert response.status_code == 200
    writes, reads, _commits, _rollbacks = transactions
    assert (writes, reads) == (0, 1)  # on SQLite a deferred BEGIN: no write lock taken


def test_a_request_that_touches_no_table_opens_no_transaction(start_gateway):
    gw = start_gateway(rate_limit_exempt_networks="127.0.0.0/8")
    engine = counted(gw)
    response, transactions = engine.during(lambda: gw.get("/"))
    assert response.status_code == 200
    assert transactions == (0, 0, 0, 0)


def test_the_heartbeat_reads_without_taking_the_write_lock(gateway):
    engine = counted(gateway)
    response, transactions = engine.during(lambda: gateway.get("/__heartbeat__"))
    assert response.status_code == 200 and response.json()["modems"] == "ok"
    writes, reads, _commits, _rollbacks = transactions
    assert (writes, reads) == (0, 1)


def started_session(gw) -> str:
    token = gw.register()
    assert gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": NUMBER, "mcc": "208"},
                   token).status_code == 204
    return token


def test_a_hawk_signed_mt_verify_is_one_write_transaction(gateway):
    token = gateway.register()
    engine = counted(gateway)
    response, transactions = engine.during(lambda: gateway.post(
        "/v1/msisdn/sms/mt/verify", {"msisdn": NUMBER, "mcc": "208"}, token))
    assert response.status_code == 204
    assert transactions == ONE_WRITE
    assert len(gateway.outbox()) == 1


def test_a_wrong_code_is_one_write_transaction_that_keeps_the_nonce_counter_and_try(gateway):
    token = started_session(gateway)
    hits = client_hits(gateway)
    signed = gateway.http.prepare_request(requests.Request(
        "POST", gateway.url + "/v1/msisdn/sms/verify_code", json={"code": "0" * 64},
        auth=gateway.auth(token)))
    engine = counted(gateway)

    refused, transactions = engine.during(lambda: gateway.http.send(signed))
    assert_error(refused, 400, 105)
    assert transactions == ONE_WRITE
    assert client_hits(gateway) == hits + 1
    assert failed_tries(gateway) == [1]

    replayed, transactions = engine.during(lambda: gateway.http.send(signed))
    body = assert_error(replayed, 401, 109)
    assert "replayed" in body["message"]
    assert transactions == ONE_WRITE  # the counter hit of the replay is kept too
    assert client_hits(gateway) == hits + 2
    assert failed_tries(gateway) == [1]  # the replay tried nothing


def test_a_refused_use_case_keeps_the_nonce_and_the_counter_but_not_its_own_work(start_gateway):
    gw = start_gateway(rate_limit_msisdn="1/10m")
    assert gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": NUMBER, "mcc": "208"},
                   gw.register()).status_code == 204
    token = gw.register()
    signed = gw.http.prepare_request(requests.Request(
        "POST", gw.url + "/v1/msisdn/sms/mt/verify", json={"msisdn": NUMBER, "mcc": "208"},
        auth=gw.auth(token)))
    hits = client_hits(gw)
    engine = counted(gw)
    refused, transactions = engine.during(lambda: gw.http.send(signed))
    assert_error(refused, 429, 115)
    assert transactions == ONE_WRITE
    assert client_hits(gw) == hits + 1
    assert len(gw.outbox()) == 1  # the refused SMS was not queued
    assert_error(gw.http.send(signed), 401, 109)  # its nonce was kept


def test_a_client_refused_by_its_own_limit_consumes_nothing(start_gateway):
    gw = start_gateway(rate_limit_client="1/1m")
    assert gw.post("/v1/msisdn/register").status_code == 200
    engine = counted(gw)
    refused, transactions = engine.during(lambda: gw.post("/v1/msisdn/register"))
    assert_error(refused, 429, 117)
    assert transactions == (1, 0, 0, 1)  # counted, over the limit: rolled back
    assert client_hits(gw) == 1


def test_a_client_slow_to_send_its_body_holds_no_transaction(gateway):
    token = gateway.register()
    host, port = gateway.url.removeprefix("http://").split(":")
    body = b'{"code": "123456"}'
    signed = gateway.http.prepare_request(requests.Request(
        "POST", gateway.url + "/v1/msisdn/sms/verify_code", data=body,
        headers={"Content-Type": "application/json"}, auth=gateway.auth(token)))
    head = "".join(f"{name}: {value}\r\n" for name, value in signed.headers.items())
    in_the_app = threading.Event()

    def started_request(_app, **_extra):
        if flask.request.path.endswith("/verify_code"):
            in_the_app.set()

    flask.request_started.connect(started_request)
    with socket.create_connection((host, int(port)), timeout=5) as slow:
        try:
            slow.sendall(f"POST /v1/msisdn/sms/verify_code HTTP/1.1\r\n{head}\r\n".encode()
                         + body[:9])  # and the rest of the body does not come meanwhile
            assert in_the_app.wait(timeout=5)  # in the app: it waits for the body now
        finally:
            flask.request_started.disconnect(started_request)
        started = time.monotonic()
        response = gateway.http.post(gateway.url + "/v1/msisdn/register", timeout=5)
        assert response.status_code == 200, response.text
        assert time.monotonic() - started < 2  # not behind a write lock held for it
        slow.sendall(body[9:])
        assert slow.recv(100).startswith(b"HTTP/1.1 400")  # the wrong code, at last

"""The API worker with the app on threads (gateway.process.edge_worker, a database other
than SQLite: each statement a network round trip), served on a real socket on 127.0.0.1
by a loop in this process, with an app that waits as a query would: a request waiting
for the database does not hold the others, and one connection's answers keep their
order, also when the client closes its side right after its requests."""
from __future__ import annotations

import asyncio
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import requests

from gateway.process.edge_worker import Server

WAIT = 0.3  # seconds the app waits for its "database"


def slow_app(environ, start_response):
    time.sleep(WAIT)  # a query's round trips, off the loop
    body = environ["PATH_INFO"].encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


class Log:
    def line(self, *args) -> None:
        pass

    def info(self, *args) -> None:
        pass

    error = warning = info


@pytest.fixture
def port():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.setblocking(False)
    loop = asyncio.new_event_loop()
    worker = SimpleNamespace(log=Log(), sockets=[listener], cfg=SimpleNamespace(workers=1),
                             app=SimpleNamespace(settings=SimpleNamespace(
                                 max_body_bytes=1000, trusted_proxies=())))
    executor = ThreadPoolExecutor(4)
    server = Server(worker, slow_app, loop, executor)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    loop.call_soon_threadsafe(server.start_accepting)
    yield listener.getsockname()[1]

    async def close_all() -> None:
        for connection in list(server.connections):
            connection.close()
        await asyncio.sleep(0.05)  # the transports close their sockets

    asyncio.run_coroutine_threadsafe(close_all(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    executor.shutdown(wait=True)
    loop.close()
    listener.close()


def test_requests_waiting_for_the_database_are_answered_side_by_side(port):
    answers: list[str] = []

    def get(path: str) -> None:
        answers.append(requests.get(f"http://127.0.0.1:{port}{path}", timeout=5).text)

    started = time.monotonic()
    clients = [threading.Thread(target=get, args=(f"/{n}",)) for n in range(4)]
    for client in clients:
        client.start()
    for client in clients:
        client.join(10)

    assert sorted(answers) == ["/0", "/1", "/2", "/3"]
    assert time.monotonic() - started < 3 * WAIT  # not 4 x WAIT one after the other


def test_one_connections_answers_keep_their_order_and_outlive_its_half_close(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % n for n in range(3)))
        sock.shutdown(socket.SHUT_WR)  # as `nc` does: the answers are still due
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    bodies = [part.split(b"\r\n\r\n", 1)[1][:2] for part in received.split(b"HTTP/1.1 ")[1:]]
    assert bodies == [b"/0", b"/1", b"/2"]


def test_a_request_refused_behind_one_being_answered_is_answered_after_it(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /second HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    first, second = received.split(b"HTTP/1.1 ")[1:]
    assert first.startswith(b"200 OK") and first.endswith(b"/first")
    assert second.startswith(b"400 Bad Request") and b'"errno":999' in second

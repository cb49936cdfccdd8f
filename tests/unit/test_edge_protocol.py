"""The API worker's HTTP protocol (gateway.process.edge_worker.HttpConnection) fed bytes
in chunks we choose, over a recording transport: where the chunks of a connection fall
decides nothing a client would notice. (Over real sockets, where the kernel cuts the
chunks: tests/e2e/test_http_protocol.py and test_http_edge.py.)"""
from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest

from gateway.process.edge_worker import HEAD_LIMIT, HttpConnection, Server


class Transport:
    """What the loop's TCP transport does, recorded."""

    def __init__(self) -> None:
        self.written, self.eof_written, self.closed, self.reading = b"", False, False, True

    def write(self, data: bytes) -> None:
        assert not self.eof_written and not self.closed
        self.written += data

    def write_eof(self) -> None:
        self.eof_written = True

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_extra_info(self, name: str):
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 5000)}[name]


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, environ, status, sent) -> None:
        self.lines.append(f"{environ['REQUEST_METHOD']} {environ['RAW_URI']} {status}")

    def info(self, *args) -> None:
        pass

    error = warning = info


def echo(environ, start_response):
    """Says what it got: method, path and body."""
    body = json.dumps({"method": environ["REQUEST_METHOD"], "path": environ["PATH_INFO"],
                       "body": environ["wsgi.input"].read().decode()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def connect():
    loop = asyncio.new_event_loop()
    worker = SimpleNamespace(log=Log(), sockets=[], cfg=SimpleNamespace(workers=2),
                             app=SimpleNamespace(settings=SimpleNamespace(
                                 max_body_bytes=100, trusted_proxies=())))
    server = Server(worker, echo, loop)

    def connect() -> tuple[HttpConnection, Transport]:
        connection, transport = HttpConnection(server), Transport()
        server.connections.add(connection)
        connection.connection_made(transport)
        return connection, transport

    yield connect
    loop.close()


def answers(written: bytes) -> list[tuple[str, dict]]:
    """(status line, JSON body) of each response in ``written``."""
    found = []
    while written:
        head, _, rest = written.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        length = next(int(line.split(":")[1]) for line in lines
                      if line.lower().startswith("content-length:"))
        found.append((lines[0], json.loads(rest[:length])))
        written = rest[length:]
    return found


def test_requests_cut_anywhere_are_answered_whole_and_in_order(connect):
    stream = (b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n"
              b"POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
              b"GET /three HTTP/1.1\r\nHost: x\r\n\r\n")
    for cut in (1, 7, 30, len(stream)):
        connection, transport = connect()
        for start in range(0, len(stream), cut):
            connection.data_received(stream[start:start + cut])
        assert [(status, body["path"], body["body"]) for status, body
                in answers(transport.written)] == [("HTTP/1.1 200 OK", "/one", ""),
                                                   ("HTTP/1.1 200 OK", "/two", "hello"),
                                                   ("HTTP/1.1 200 OK", "/three", "")], cut
        assert not transport.closed


def test_pipelined_requests_in_one_large_chunk_are_not_a_head_over_the_limit(connect):
    connection, transport = connect()
    one = b"GET /x HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 1000 + b"\r\n\r\n"
    count = HEAD_LIMIT // len(one) + 5
    connection.data_received(one * count + one[:40])  # the last one's head incomplete
    connection.data_received(one[40:])

    assert len(answers(transport.written)) == count + 1 and not transport.closed


def test_a_head_growing_over_chunks_is_refused_431_once_past_the_limit(connect):
    connection, transport = connect()
    connection.data_received(b"GET /x HTTP/1.1\r\nHost: x\r\nX-Long: ")
    sent = 0
    while not transport.eof_written:
        connection.data_received(b"a" * 4096)
        sent += 4096
        assert sent <= HEAD_LIMIT + 8192
    [(status, error)] = answers(transport.written)
    assert status == "HTTP/1.1 431 Request Header Fields Too Large"
    assert (error["code"], error["errno"]) == (431, 999)


def test_after_a_refusal_what_still_comes_is_discarded_until_the_client_closes(connect):
    connection, transport = connect()
    connection.data_received(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n")
    answered = transport.written
    connection.data_received(b"x" * 500)  # the body over max_body_bytes, sent anyway

    assert answered.startswith(b"HTTP/1.1 200 OK")  # echo does not refuse: it got no body
    assert json.loads(answered.partition(b"\r\n\r\n")[2])["body"] == ""
    assert b"Connection: close" in answered and transport.written == answered
    assert transport.eof_written and not transport.closed  # lingering: reading, discarding
    connection.eof_received()
    assert transport.closed


def test_a_failure_of_ours_while_reading_a_request_is_a_json_500(connect, monkeypatch):
    connection, transport = connect()
    monkeypatch.setattr(HttpConnection, "_environ", lambda self: 1 / 0)

    connection.data_received(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")

    [(status, error)] = answers(transport.written)
    assert status == "HTTP/1.1 500 Internal Server Error" and error["errno"] == 999
    assert transport.eof_written


def test_a_client_that_does_not_read_its_answers_is_not_read_either(connect):
    connection, transport = connect()
    connection.pause_writing()  # the transport's buffer of our answers is full
    assert not transport.reading
    connection.resume_writing()
    assert transport.reading
    connection.close(linger=True)
    connection.pause_writing()  # while lingering, reading (and discarding) goes on
    assert transport.reading

"""The HTTP edge of `serve --simulate`, over real sockets on 127.0.0.1: idle and slow
clients do not starve the API, and whatever the server refuses, itself or through the
app, is answered in the API's JSON error shape.

The siege is the benchmark of README.md ("Serving the API") made small: fewer sockets and
a window of WINDOW seconds instead of 60, with the same one-second bound."""
from __future__ import annotations

import json
import selectors
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests

from gateway.process.edge_worker import BODY_TIMEOUT, HEADER_TIMEOUT
from processes import start_serve, stop

IDLE, SLOWLORIS, SLOW_BODIES = 60, 20, 3
WINDOW = 8.0  # seconds of probing under siege
BOUND = 1.0  # seconds a well-behaved request may take, every time
HEADER_LINE_EVERY = 2.0  # seconds between two header lines of a slowloris socket
ERROR_KEYS = {"code", "errno", "error", "message", "info"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    process, url = start_serve(tmp_path_factory.mktemp("edge"), "--simulate")
    try:
        yield url, urlsplit(url).port
    finally:
        stop(process)


class Siege:
    """IDLE sockets that send nothing and SLOWLORIS sockets that send a header line every
    HEADER_LINE_EVERY seconds, kept at that count (reopened when the server closes them),
    plus SLOW_BODIES requests whose body never ends, whose answers are kept. One thread,
    stopped by ``close()`` or by its own deadline."""

    def __init__(self, port: int, deadline: float) -> None:
        self.port, self.deadline = port, time.monotonic() + deadline
        self.selector = selectors.DefaultSelector()
        self.closed_by_server = {"idle": 0, "slowloris": 0}
        self.body_answers: list[bytes] = []
        self.bodies_answered = threading.Event()
        self._stop = threading.Event()
        for _ in range(SLOW_BODIES):
            self._open("body", b"POST /v1/msisdn/register HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Type: application/json\r\nContent-Length: 100\r\n"
                               b"\r\n{\"a\": ")
        for _ in range(IDLE):
            self._open("idle", b"")
        for _ in range(SLOWLORIS):
            self._open("slowloris", b"POST /v1/msisdn/register HTTP/1.1\r\nHost: x\r\n")
        self._thread = threading.Thread(target=self._run, name="siege", daemon=True)
        self._thread.start()

    def _open(self, kind: str, first: bytes) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.sendall(first)
        sock.setblocking(False)
        self.selector.register(sock, selectors.EVENT_READ,
                               {"kind": kind, "next_line": time.monotonic(), "data": b""})

    def _run(self) -> None:
        lines = 0
        while not self._stop.is_set() and time.monotonic() < self.deadline:
            for key, _ in self.selector.select(timeout=0.1):
                self._readable(key.fileobj, key.data)
            now = time.monotonic()
            for key in list(self.selector.get_map().values()):
                if key.data["kind"] == "slowloris" and now >= key.data["next_line"]:
                    key.data["next_line"] = now + HEADER_LINE_EVERY
                    lines += 1
                    try:
                        key.fileobj.send(b"X-Line-%d: x\r\n" % lines)
                    except OSError:
                        self._closed(key.fileobj, key.data)

    def _readable(self, sock: socket.socket, data: dict) -> None:
        try:
            chunk = sock.recv(65536)
        except OSError:
            chunk = b""
        if data["kind"] == "body":
            data["data"] += chunk
            if not chunk:
                self.selector.unregister(sock)
                sock.close()
                self.body_answers.append(data["data"])
                if len(self.body_answers) == SLOW_BODIES:
                    self.bodies_answered.set()
            return
        self._closed(sock, data)

    def _closed(self, sock: socket.socket, data: dict) -> None:
        self.selector.unregister(sock)
        sock.close()
        self.closed_by_server[data["kind"]] += 1
        first = b"" if data["kind"] == "idle" else b"POST / HTTP/1.1\r\nHost: x\r\n"
        self._open(data["kind"], first)

    def open_sockets(self) -> int:
        return len(self.selector.get_map())

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()
        self.selector.close()


def probe(method: str, url: str) -> tuple[float, int | str]:
    """One request on a fresh connection: its duration and status (or the error)."""
    started = time.monotonic()
    try:
        status = requests.request(method, url, timeout=BOUND).status_code
    except requests.RequestException as exc:
        status = type(exc).__name__
    return time.monotonic() - started, status


def test_idle_and_slow_sockets_do_not_starve_the_heartbeat_or_register(served):
    url, port = served
    siege = Siege(port, deadline=WINDOW + BODY_TIMEOUT + 10)
    try:
        assert siege.open_sockets() == IDLE + SLOWLORIS + SLOW_BODIES
        results = []
        pacing = threading.Event()  # never set: waits pace the probes, 10 rounds a second
        end = time.monotonic() + WINDOW
        while time.monotonic() < end:
            results.append(("heartbeat", *probe("GET", url + "/__heartbeat__")))
            results.append(("register", *probe("POST", url + "/v1/msisdn/register")))
            pacing.wait(0.1)
        # The bodies that never end are answered 408 after BODY_TIMEOUT.
        siege.bodies_answered.wait(BODY_TIMEOUT + 5)
    finally:
        siege.close()
    late = [r for r in results if r[1] >= BOUND or r[2] != 200]
    assert len(results) >= 2 * 10 and not late, late
    # The server closed slow heads after HEADER_TIMEOUT without holding a worker.
    assert WINDOW > HEADER_TIMEOUT and siege.closed_by_server["slowloris"] >= SLOWLORIS
    assert siege.closed_by_server["idle"] >= IDLE
    assert len(siege.body_answers) == SLOW_BODIES
    for answer in siege.body_answers:
        status, headers, body = parse_response(answer)
        assert_json_error(status, headers, body, 408)


def parse_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def exchange(port: int, raw: bytes, shut_write: bool = False) -> tuple[int, dict, bytes]:
    """Send ``raw`` on a new connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        if shut_write:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return parse_response(received)


def assert_json_error(status: int, headers: dict, body: bytes, expected: int,
                      errno: int = 999) -> dict:
    assert status == expected, body
    assert headers["content-type"] == "application/json"
    error = json.loads(body)
    assert set(error) == ERROR_KEYS and (error["code"], error["errno"]) == (expected, errno)
    return error


HEAD = b"Host: x\r\n"
MALFORMED = {
    "a request line that is not HTTP": (b"GARBAGE\r\n\r\n", 400),
    "an unknown HTTP version": (b"GET / HTTP/9.9\r\n" + HEAD + b"\r\n", 400),
    "a URI over the line limit": (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n" + HEAD + b"\r\n",
                                  414),
    "a header field over its size limit": (
        b"GET / HTTP/1.1\r\n" + HEAD + b"X-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
    "more header fields than allowed": (
        b"GET / HTTP/1.1\r\n" + HEAD + b"".join(b"X-%d: y\r\n" % i for i in range(150))
        + b"\r\n", 431),
    "a header name with a space": (b"GET / HTTP/1.1\r\n" + HEAD + b"Bad Name: y\r\n\r\n", 400),
    "a Content-Length that is not a number": (
        b"POST /v1/msisdn/register HTTP/1.1\r\n" + HEAD + b"Content-Length: abc\r\n\r\n", 400),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_what_the_server_itself_refuses_is_a_json_error_and_closes(served, name):
    raw, expected = MALFORMED[name]

    status, headers, body = exchange(served[1], raw)

    assert_json_error(status, headers, body, expected)
    assert headers["connection"] == "close"


def test_a_body_over_the_limit_is_refused_without_being_read(served):
    raw = (b"POST /v1/msisdn/register HTTP/1.1\r\n" + HEAD
           + b"Content-Length: 100000000\r\n\r\n")  # and no body: the server must not wait

    status, headers, body = exchange(served[1], raw)

    assert_json_error(status, headers, body, 413, errno=113)
    assert headers["connection"] == "close"


def test_a_body_cut_short_by_the_client_is_a_json_400(served):
    raw = (b"POST /v1/msisdn/register HTTP/1.1\r\n" + HEAD + b"Content-Length: 50\r\n\r\n{}")

    status, headers, body = exchange(served[1], raw, shut_write=True)

    assert_json_error(status, headers, body, 400)


def test_a_chunked_body_is_a_json_411(served):
    raw = (b"POST /v1/msisdn/register HTTP/1.1\r\n" + HEAD
           + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")

    status, headers, body = exchange(served[1], raw)

    assert_json_error(status, headers, body, 411, errno=112)


@pytest.mark.parametrize("method, path, allowed", [
    ("OPTIONS", "/v1/msisdn/register", "POST"),
    ("OPTIONS", "/", "GET, HEAD"),
    ("TRACE", "/", "GET, HEAD"),
    ("GET", "/v1/msisdn/register", "POST"),
    ("DELETE", "/__heartbeat__", "GET, HEAD"),
])
def test_options_trace_and_other_methods_a_route_does_not_take_are_json_405(
        served, method, path, allowed):
    response = requests.request(method, served[0] + path, timeout=5)

    assert_json_error(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                      response.content, 405)
    assert sorted(response.headers["Allow"].split(", ")) == sorted(allowed.split(", "))

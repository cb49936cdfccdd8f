"""HTTP/1.1 as the API processes speak it (gateway.process.edge_worker), over real sockets
on 127.0.0.1 against `serve --simulate`: what clients other than `requests` send
(``Expect: 100-continue``, HTTP/1.0, HEAD, pipelining after HEAD), what every answer
carries, and a graceful stop that finishes the request it had begun."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import time

import pytest

from processes import SCRIPT, clean_environment, eventually, free_port, start_serve, stop
from test_http_edge import assert_json_error, exchange, parse_response

HEAD = b"Host: x\r\n"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    process, url = start_serve(tmp_path_factory.mktemp("protocol"), "--simulate")
    try:
        yield url, int(url.rsplit(":", 1)[1])
    finally:
        stop(process)


def read_until(sock: socket.socket, marker: bytes, buffer: bytes = b"") -> bytes:
    while marker not in buffer:
        chunk = sock.recv(65536)
        assert chunk, f"closed before {marker!r}: {buffer!r}"
        buffer += chunk
    return buffer


def read_response(sock: socket.socket, buffer: bytes = b"") -> tuple[bytes, dict, bytes, bytes]:
    """(status line, headers, body, what came after) of one response with Content-Length."""
    buffer = read_until(sock, b"\r\n\r\n", buffer)
    head, _, rest = buffer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip()
               for name, _, value in (line.partition(":") for line in lines)}
    length = int(headers["content-length"])
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed mid-body"
        rest += chunk
    return status_line.encode(), headers, rest[:length], rest[length:]


def test_expect_100_continue_gets_the_interim_answer_before_the_body_is_sent(served):
    body = json.dumps({"mcc": "208", "mnc": "01"}).encode()
    with socket.create_connection(("127.0.0.1", served[1]), timeout=5) as sock:
        sock.sendall(b"POST /v1/msisdn/discover HTTP/1.1\r\n" + HEAD
                     + b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
                     + b"Content-Length: %d\r\n\r\n" % len(body))
        interim = read_until(sock, b"\r\n\r\n")
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        status, headers, answer, _ = read_response(sock)
    assert status == b"HTTP/1.1 200 OK"
    assert "verificationMethods" in json.loads(answer)


def test_an_expectation_other_than_100_continue_is_a_json_417(served):
    status, headers, body = exchange(served[1], b"POST /v1/msisdn/register HTTP/1.1\r\n" + HEAD
                                     + b"Expect: something-else\r\nContent-Length: 0\r\n\r\n")

    assert_json_error(status, headers, body, 417)
    assert headers["connection"] == "close"


def test_http_1_0_closes_after_the_answer_unless_asked_to_keep_alive(served):
    status, headers, body = exchange(served[1], b"GET /__lbheartbeat__ HTTP/1.0\r\n\r\n")
    assert status == 200 and headers["connection"] == "close"

    with socket.create_connection(("127.0.0.1", served[1]), timeout=5) as sock:
        request = b"GET /__lbheartbeat__ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        sock.sendall(request)
        first = read_response(sock)
        sock.sendall(request)  # the same connection serves a second request
        second = read_response(sock, first[3])
    for status_line, headers, _, _ in (first, second):
        assert status_line == b"HTTP/1.1 200 OK"
        assert headers["connection"] == "keep-alive"


def test_head_has_the_length_of_get_and_no_body_and_the_next_request_follows(served):
    with socket.create_connection(("127.0.0.1", served[1]), timeout=5) as sock:
        sock.sendall(b"HEAD /__heartbeat__ HTTP/1.1\r\n" + HEAD + b"\r\n"
                     b"GET /__heartbeat__ HTTP/1.1\r\n" + HEAD + b"\r\n")
        buffer = read_until(sock, b"\r\n\r\n")
        head, _, rest = buffer.partition(b"\r\n\r\n")
        # Nothing follows HEAD's head but the GET's answer, whose body has that length.
        status, headers, body, _ = read_response(sock, rest)
    head_length = int(parse_response(head + b"\r\n\r\n")[1]["content-length"])
    assert head.startswith(b"HTTP/1.1 200 OK") and status == b"HTTP/1.1 200 OK"
    assert head_length == len(body) == int(headers["content-length"]) > 0


def test_a_header_line_that_never_ends_is_refused_once_the_head_passes_32_kb(served):
    with socket.create_connection(("127.0.0.1", served[1]), timeout=5) as sock:
        sock.sendall(b"GET /__lbheartbeat__ HTTP/1.1\r\n" + HEAD + b"X-Long: ")
        time.sleep(0.1)  # the head has begun; its line then grows past the limit
        started = time.monotonic()
        try:
            for _ in range(40):
                sock.sendall(b"a" * 1024)
        except OSError:
            pass  # refused and closed while we were still sending
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    status, headers, body = parse_response(received)
    assert_json_error(status, headers, body, 431)
    assert time.monotonic() - started < 2  # not left to the 5 s head timeout


def test_a_client_still_sending_a_refused_body_reads_its_answer(served):
    body = b"{" + b" " * 300_000 + b"}"  # over max_body_bytes: answered without being read
    with socket.create_connection(("127.0.0.1", served[1]), timeout=5) as sock:
        sock.sendall(b"POST /v1/msisdn/register HTTP/1.1\r\n" + HEAD
                     + b"Content-Type: application/json\r\n"
                     + b"Content-Length: %d\r\n\r\n" % len(body))
        sock.sendall(body)  # the server discards it instead of resetting the connection
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    status, headers, answer = parse_response(received)
    assert_json_error(status, headers, answer, 413, errno=113)
    assert headers["connection"] == "close"


def test_every_answer_has_a_date_and_no_server_banner(served):
    status, headers, body = exchange(served[1], b"GET /__lbheartbeat__ HTTP/1.1\r\n" + HEAD
                                     + b"Connection: close\r\n\r\n")

    assert status == 200
    date = time.strptime(headers["date"], "%a, %d %b %Y %H:%M:%S GMT")
    assert abs(time.mktime(date) - time.mktime(time.gmtime())) < 60
    assert "server" not in headers  # no product or version handed to scanners


def test_sigterm_finishes_the_request_whose_body_is_arriving_then_stops(tmp_path):
    process, url = start_serve(tmp_path, "--simulate")
    port = int(url.rsplit(":", 1)[1])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /v1/msisdn/register HTTP/1.1\r\n" + HEAD
                         + b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{")
            time.sleep(0.3)  # the head has reached the server before the signal
            process.send_signal(signal.SIGTERM)

            def refused() -> bool:  # the stop is under way: every listener closed
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=2).close()
                    return False
                except OSError:
                    return True

            eventually(refused, timeout=10)
            sock.sendall(b"}")
            status, headers, body, _ = read_response(sock)
        assert status == b"HTTP/1.1 200 OK" and "msisdnSessionToken" in json.loads(body)
        assert headers["connection"] == "close"
        assert process.wait(60) == 0
    finally:
        stop(process)


def test_sigterm_while_the_api_processes_are_still_building_the_app_stops_them_at_once(
        tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [str(SCRIPT), "api", "--simulate", "--state-dir", str(tmp_path), "--port", str(port),
         "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=clean_environment())
    try:
        def listening() -> bool:  # the arbiter listens before its workers have an app
            assert process.poll() is None
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False

        eventually(listening, timeout=30, interval=0.01)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
        # Not held until the arbiter's graceful timeout (20 s) and then killed.
        assert time.monotonic() - started < 10
    finally:
        stop(process)

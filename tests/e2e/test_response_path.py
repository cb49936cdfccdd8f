"""What the API processes write back, over real sockets on 127.0.0.1: each response whole
and in order on a kept-alive connection (gateway.process.edge_worker writes a response in
one write), and one access line per request in the combined format, with the numbers in
a path masked."""
from __future__ import annotations

import re
import socket

import pytest
import requests

from processes import start_serve, stop

ACCESS = re.compile(r'gunicorn\.access\[\d+\]: (?P<host>\S+) - - '
                    r'\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] '
                    r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+|-) '
                    r'"(?P<referer>[^"]*)" "(?P<agent>[^"]*)"$')


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`serve --simulate`; yields its URL and a function that stops it and returns its
    output (call it once, at the end of a test that reads the log)."""
    process, url = start_serve(tmp_path_factory.mktemp("response-path"), "--simulate")
    output: list[str] = []

    def stopped_output() -> str:
        if not output:
            process.terminate()  # SIGTERM: serve stops and its output ends
            output.append(process.stdout.read())
            process.wait(60)
        return output[0]

    try:
        yield url, stopped_output
    finally:
        stop(process)


def read_response(sock: socket.socket, buffer: bytes) -> tuple[bytes, bytes, bytes]:
    """One HTTP/1.1 response with Content-Length from ``sock``: (head, body, the bytes
    after it)."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-head: {buffer!r}"
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)\r\ncontent-length: (\d+)", head).group(1))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        rest += chunk
    return head, rest[:length], rest[length:]


def test_pipelined_requests_get_whole_answers_in_order_on_one_connection(served):
    url, _ = served
    port = int(url.rsplit(":", 1)[1])
    requests_ = (b"GET /__lbheartbeat__ HTTP/1.1\r\nHost: x\r\n\r\n"
                 b"POST /v1/msisdn/register HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                 b"GET /no/such/path HTTP/1.1\r\nHost: x\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(requests_)  # all three at once: the server answers them in turn
        rest = b""
        answers = []
        for _ in range(3):
            head, body, rest = read_response(sock, rest)
            answers.append((head.split(b"\r\n")[0], body))
    assert answers[0][0] == b"HTTP/1.1 200 OK"
    assert answers[1][0] == b"HTTP/1.1 200 OK" and b"msisdnSessionToken" in answers[1][1]
    assert answers[2][0] == b"HTTP/1.1 404 NOT FOUND" and b'"errno"' in answers[2][1]


def test_each_request_has_one_combined_access_line_with_numbers_masked(served):
    url, stopped_output = served
    with requests.Session() as http:
        http.headers["User-Agent"] = "response-path-test/1.0"
        registered = http.post(url + "/v1/msisdn/register")
        missing = http.get(url + "/__sim__/phones/+33612345678/nothing",
                           headers={"Referer": "https://example.org/page"})
    output = stopped_output()
    lines = [match for line in output.splitlines()
             if (match := ACCESS.search(line)) and match["agent"] == "response-path-test/1.0"]
    assert [(m["request"], m["status"]) for m in lines] == [
        ("POST /v1/msisdn/register HTTP/1.1", "200"),
        (lines[1]["request"], "404")]
    assert lines[0]["host"] == "127.0.0.1" and lines[0]["referer"] == "-"
    assert int(lines[0]["bytes"]) == len(registered.content)
    assert int(lines[1]["bytes"]) == len(missing.content)
    assert lines[1]["referer"] == "https://example.org/page"
    assert "33612345678" not in output  # the number in the path is masked
    assert lines[1]["request"].startswith("GET /__sim__/phones/")

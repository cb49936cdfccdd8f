"""The API's gunicorn worker: asynchronous network I/O (gevent), the WSGI app run to the
end of each request without waiting on a client, and the server's own errors in JSON.

Why this shape (measurements in README.md, "Serving the API"): the box may face the
internet without a proxy, and gunicorn's sync workers are held by a socket that sends a
header line every 2 s. Here each connection is a greenlet (a few KB), up to
``WORKER_CONNECTIONS`` per process, and:

- a request head must arrive within ``HEADER_TIMEOUT`` seconds of the connection or of
  the previous response (gunicorn's gevent worker applies ``keepalive`` to the whole
  head), else the connection is closed without an answer, as nginx does;
- a body (announced by ``Content-Length``, at most ``max_body_bytes``) is read in full,
  within ``BODY_TIMEOUT`` seconds (else 408), before the app runs (:class:`WholeBody`).
  So the app never waits on a client: it runs to the end of the request on the process's
  one OS thread, as in a sync worker, and never yields while it holds the SQLite write
  lock (the request's transaction begins before its view reads the body; a yield there
  would let another request of the same process block it in SQLite's busy handler);
- what the server itself refuses (malformed request line or header, line or headers over
  the limits) is answered ``{code, errno, error, message, info}`` with errno 999
  (:meth:`EdgeWorker.handle_error`), not gunicorn's HTML;
- a response goes out in one ``send`` (:class:`OneSend`; gunicorn sends the head and the
  body apart, and on loopback each send costs as much as a third of our request), and
  the access line is formatted directly (:class:`AccessLog`), not through gunicorn's
  dictionary of every header and environ variable, in the same combined format.

Threads: gunicorn's gevent worker monkey-patches the standard library in each worker
process after the fork, before the app is built; the app runs on greenlets of one thread.
"""
from __future__ import annotations

import gc
import io
import json
import resource
import time
from http import HTTPStatus

import gevent
from gunicorn import glogging, util
from gunicorn.http import errors as parse_errors
from gunicorn.workers.ggevent import GeventWorker

HEADER_TIMEOUT = 5  # seconds for a request head, and for an idle kept-alive connection
BODY_TIMEOUT = 10  # seconds for a body of at most max_body_bytes
WORKER_CONNECTIONS = 1000  # per process; more wait in the listen backlog
#: The server's refusals, first match wins: (error class, status, message).
REFUSALS = (
    (parse_errors.LimitRequestLine, 414, "Request line too long"),
    (parse_errors.LimitRequestHeaders, 431, "Request header fields too large"),
    (parse_errors.UnsupportedTransferCoding, 501, "Transfer-Encoding not supported"),
    (parse_errors.ExpectationFailed, 417, "Expectation not supported"),
    (parse_errors.ForbiddenProxyRequest, 403, "Forbidden"),
    (parse_errors.ConfigurationProblem, 500, "Unexpected error"),
    ((parse_errors.InvalidResponseHeader, parse_errors.InvalidResponseHeaderName), 500,
     "Unexpected error"),
    ((parse_errors.InvalidRequestLine, parse_errors.InvalidRequestMethod,
      parse_errors.InvalidHTTPVersion), 400, "Malformed request line"),
    ((parse_errors.InvalidHeader, parse_errors.InvalidHeaderName,
      parse_errors.ObsoleteFolding), 400, "Malformed request header"),
    (parse_errors.ParseException, 400, "Malformed request"),
)


def refusal(exc: BaseException) -> tuple[int, str]:
    """The status and message for an error raised while reading or answering a request:
    a 4xx for what the client sent, 500 for anything else."""
    for kind, status, message in REFUSALS:
        if isinstance(exc, kind):
            return status, message
    return 500, "Unexpected error"


def error_body(status: int, message: str) -> bytes:
    """The spec's JSON error body, errno 999."""
    # Imported here: the arbiter imports this module for the worker class and never
    # answers; a worker has Flask loaded by then (gateway.http comes with the app).
    from gateway.http.error_handlers import http_error

    return json.dumps(http_error(status, message).to_dict(), separators=(",", ":")).encode()


def error_response(status: int, message: str) -> bytes:
    """A whole HTTP/1.1 response carrying the spec's error body, closing the connection."""
    body = error_body(status, message)
    head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


def raise_open_files_limit(wanted: int) -> None:
    """Raise the soft limit of open files to ``wanted`` (at most the hard limit): each
    connection is a descriptor, and systemd's default soft limit is 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class EdgeWorker(GeventWorker):
    """gunicorn's gevent worker with the server's errors in JSON (configured by
    gateway.process.api_server: ``keepalive`` is the header timeout)."""

    def load_wsgi(self) -> None:
        """Build the app, then take what is alive at that point (modules, the ORM's
        mappers, the app) out of the garbage collector's sight: a full collection no
        longer walks those hundreds of thousands of objects in the middle of a request
        (measured: p99 of register 17 ms -> 13-15 ms, +4 % requests per second)."""
        super().load_wsgi()
        gc.collect()
        gc.freeze()

    def init_process(self) -> None:
        raise_open_files_limit(self.worker_connections + 256)  # + database, logs, metrics
        super().init_process()

    def handle_request(self, listener_name, req, sock, addr):
        out = OneSend(sock)
        try:
            return super().handle_request(listener_name, req, out, addr)
        finally:
            out.flush()
            # Fairness: a client that sends its next request at once would otherwise be
            # served again before connections that were ready earlier (gevent's recv
            # does not yield when data is there): wait until the loop has nothing else.
            gevent.idle()

    def handle_error(self, req, client, addr, exc) -> None:
        if isinstance(exc, gevent.GreenletExit):  # stopped after the graceful timeout
            return
        status, message = refusal(exc)
        if status >= 500:
            self.log.exception("error handling a request: %s", message)
        else:
            ip = addr[0] if addr else ""
            self.log.info("refused a request from %s: %d %s (%s)", ip, status, message,
                          str(exc)[:200])
        try:
            util.write_nonblock(client, error_response(status, message))
        except OSError:
            self.log.debug("could not send the %d answer", status)


class OneSend:
    """The client socket as gunicorn's response sees it: what it sends is gathered and
    goes out in one ``sendall`` at :meth:`flush` (after the response, or before a
    ``sendfile``), instead of one send for the head and one per body chunk. Our answers
    are small and whole (JSON; the metrics page is the largest); everything else is the
    socket's."""

    __slots__ = ("_sock", "_parts")

    def __init__(self, sock) -> None:
        self._sock, self._parts = sock, []

    def sendall(self, data) -> None:
        self._parts.append(bytes(data))

    def send(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def sendfile(self, *args, **kwargs):
        self.flush()
        return self._sock.sendfile(*args, **kwargs)

    def flush(self) -> None:
        """Send what was gathered (nothing when nothing was). A peer gone is the
        caller's to handle, as an unbuffered send's error would be."""
        if self._parts:
            data = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
            self._parts = []
            self._sock.sendall(data)

    def __getattr__(self, name):
        return getattr(self._sock, name)


class AccessLog(glogging.Logger):
    """gunicorn's logger with the access line built directly, in gunicorn's default
    (Apache combined) format: ``host - - [time] "request" status bytes "referer"
    "agent"``. (gunicorn's own builds a dictionary of every request header, response
    header and environ variable for each line, a tenth of a register's cost.)"""

    _stamp = (0, "")  # (second, its formatted time): one strftime per second

    def access(self, resp, req, environ, request_time) -> None:
        if not self.access_log_enabled:
            return
        second = int(time.time())
        if self._stamp[0] != second:
            AccessLog._stamp = (second, time.strftime("[%d/%b/%Y:%H:%M:%S %z]"))
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        sent = getattr(resp, "sent", None)
        self.access_log.info(
            '%s - - %s "%s %s %s" %s %s "%s" "%s"', environ.get("REMOTE_ADDR", "-"),
            self._stamp[1], environ["REQUEST_METHOD"], environ["RAW_URI"],
            environ["SERVER_PROTOCOL"], status, "-" if sent is None else sent,
            environ.get("HTTP_REFERER", "-"), environ.get("HTTP_USER_AGENT", "-"))


class WholeBody:
    """WSGI middleware: reads a body of at most ``max_bytes`` announced by
    ``Content-Length`` in full, within ``timeout`` seconds, before calling ``app``, which
    then reads it from memory. Past the timeout the client gets 408 JSON (400 if it
    closed early), and the app is not called.

    A body without ``Content-Length`` (chunked) or over ``max_bytes`` is not read: the app
    refuses it (411, 413) and the connection is closed after the answer instead of being
    drained. Runs under gevent (the read yields to other connections)."""

    def __init__(self, app, max_bytes: int, timeout: float = BODY_TIMEOUT) -> None:
        self.app, self.max_bytes, self.timeout = app, max_bytes, timeout

    def __call__(self, environ, start_response):
        length = environ.get("CONTENT_LENGTH")
        if not length:
            if "HTTP_TRANSFER_ENCODING" in environ:
                _close_after(start_response)
            return self.app(environ, start_response)
        length = int(length)  # gunicorn's parser refused anything but digits
        if length > self.max_bytes:
            _close_after(start_response)
            return self.app(environ, start_response)
        chunks: list[bytes] = []
        with gevent.Timeout(self.timeout, False):
            _read(environ["wsgi.input"], length, chunks)
        body = b"".join(chunks)
        if len(body) < length:
            _close_after(start_response)
            if chunks and not chunks[-1]:  # the client closed its side
                return _refuse(start_response, 400, "Request body shorter than announced")
            return _refuse(start_response, 408, "Request body not received in time")
        environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)


def _read(stream, length: int, chunks: list[bytes]) -> None:
    """Append what ``stream`` gives to ``chunks`` until ``length`` bytes came; an empty
    chunk last means the stream ended first."""
    left = length
    while left > 0:
        chunk = stream.read(min(left, 65536))
        chunks.append(chunk)
        if not chunk:
            return
        left -= len(chunk)


def _close_after(start_response) -> None:
    """Have gunicorn close the connection after this response (its ``start_response`` is
    a method of the response)."""
    response = getattr(start_response, "__self__", None)
    if hasattr(response, "force_close"):
        response.force_close()


def _refuse(start_response, status: int, message: str) -> list[bytes]:
    body = error_body(status, message)
    start_response(f"{status} {HTTPStatus(status).phrase}",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]

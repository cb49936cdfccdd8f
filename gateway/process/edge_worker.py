"""The API's gunicorn worker: asynchronous network I/O (an asyncio loop on uvloop, requests
parsed by httptools, llhttp's C parser), the WSGI app called once a request is whole, and
the server's own errors in JSON.

Why this shape (measurements in README.md, "Speed, memory and storage"): the box may face
the internet without a proxy, so a socket that sends a header line every 2 s must not hold
a process, as it held gunicorn's sync workers; and the server's share of a request was the
largest single cost (a request that does nothing took about 310 µs of CPU through
gunicorn's own gevent worker, Flask and the loopback; 178 µs here). So each connection is
a protocol object of the loop (a few KB), up to ``WORKER_CONNECTIONS`` per process, and:

- a request head must arrive within ``HEADER_TIMEOUT`` seconds of the connection or of
  the previous response, else the connection is closed without an answer, as nginx does;
- a body (announced by ``Content-Length``, at most ``max_body_bytes``) is received in full,
  within ``BODY_TIMEOUT`` seconds (else 408; 400 if the client closed its side first),
  before the app is called. So the app never waits on a client: it runs to the end of
  the request on the process's one thread, as in a sync worker, and SQLite's write lock
  is never held while a client is slow. A body without ``Content-Length`` (chunked) or
  over the limit is not read: the app is called at once and refuses it (411, 413), and
  the connection is closed after the answer;
- what the server itself refuses (malformed request line or header, request line,
  header fields or whole head over the limits, an unknown ``Expect``) is answered
  ``{code, errno, error, message, info}`` with errno 999, and the connection closed
  lingering (what the client still sends is discarded for LINGER_SECONDS, so that it
  reads the answer rather than a reset), as after an answer to a body not read;
- a response goes out in one write, with ``Content-Length`` and ``Date``; pipelined
  requests are answered in order; a client that does not read its answers is not read
  either (the transport's flow control);
- the access line is gunicorn's (Apache combined) format, on its ``gunicorn.access``
  logger (:class:`AccessLog`).

The arbiter stays gunicorn's: ``--workers``, a worker replaced when it dies or stops
notifying, READY=1 for systemd, and on SIGTERM each worker stops accepting, closes its idle
connections, and finishes the requests it has begun within ``graceful_timeout``.

On a database other than SQLite (PostgreSQL: a network round trip per statement), the
app runs on APP_THREADS threads instead of the loop, one request at a time per
connection, answers in order: a request waiting for the database does not hold the
others (README, "Serving the API", for the measure).

Accepting: the listening socket is shared by the worker processes; each accepts one
connection per turn of its loop, so that connections opened at once spread over the
processes instead of all going to the first one awake.
"""
from __future__ import annotations

import asyncio
import collections
import email.utils
import gc
import io
import json
import logging
import os
import resource
import signal
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from urllib.parse import unquote_to_bytes

import httptools
from gunicorn import glogging
from gunicorn.workers.base import Worker

try:  # a compiled event loop where one is installed (PyPI has wheels for x86-64, arm64)
    import uvloop
except ImportError:  # pragma: no cover - asyncio's own loop: the same behaviour, slower
    uvloop = None

HEADER_TIMEOUT = 5  # seconds for a request head, and for an idle kept-alive connection
BODY_TIMEOUT = 10  # seconds for a body of at most max_body_bytes
WORKER_CONNECTIONS = 1000  # per process; more wait in the listen backlog
HEARTBEAT_SECONDS = 1.0  # how often the worker tells the arbiter it is alive
LINGER_SECONDS = 2.0  # after a refusal, how long what the client still sends is discarded
#: On a database other than SQLite (PostgreSQL: a round trip per statement), the app runs
#: on this many threads per process, so that one request waiting for the database does
#: not hold the others; on SQLite it runs on the loop (nothing to wait for but the lock).
APP_THREADS = 8
PIPELINE_DEPTH = 8  # requests read ahead on one connection while the app works
# The request limits (gunicorn's defaults): a longer request line gets 414, more or
# larger header fields 431. So does a whole head over HEAD_LIMIT bytes: the parser keeps
# a header line until it ends, so without it a line that never ends would grow to the
# fields' product (800 KB) per connection; 32 KB is nginx's default (4 x 8 KB).
LIMIT_REQUEST_LINE = 4094
LIMIT_REQUEST_FIELDS = 100
LIMIT_REQUEST_FIELD_SIZE = 8190
HEAD_LIMIT = 32 * 1024
# X-Forwarded-Proto and its kin, honoured from trusted proxies only (gunicorn's defaults).
SECURE_SCHEME_HEADERS = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_PROTOCOL": "ssl",
                         "HTTP_X_FORWARDED_SSL": "on"}

log = logging.getLogger(__name__)


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


#: What the arbiter sends a worker to stop it (graceful, then quick).
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT}
_HOLDING = False


def hold_stop_signals_across_forks() -> None:
    """In the arbiter: block the stop signals during each fork, until the new worker has
    installed its handlers (:meth:`EdgeWorker.init_signals`). Until then a worker runs the
    arbiter's inherited handlers, which only note the signal for an arbiter loop that
    does not run there: a SIGTERM to a worker just forked was lost, and the worker served
    on until the arbiter killed it after ``graceful_timeout``. In the arbiter, a stop
    signal sent during a fork is delivered right after it. Registered once."""
    global _HOLDING
    if not _HOLDING:
        os.register_at_fork(
            before=lambda: signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS),
            after_in_parent=lambda: signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS))
        _HOLDING = True


def raise_open_files_limit(wanted: int) -> None:
    """Raise the soft limit of open files to ``wanted`` (at most the hard limit): each
    connection is a descriptor, and systemd's default soft limit is 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class Refused(Exception):
    """A request the server answers itself: ``status`` and ``message`` go into the JSON
    error, and the connection is closed after it."""

    def __init__(self, status: int, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.status, self.message, self.detail = status, message, detail


def parser_refusal(error: Exception) -> Refused:
    """What to answer for an error of the parser (or of one of our callbacks)."""
    cause = error.__context__
    if isinstance(cause, Refused):
        return cause
    if cause is not None:  # one of our callbacks failed: ours to fix, not the client's
        log.error("error reading a request", exc_info=(type(cause), cause, cause.__traceback__))
        return Refused(500, "Unexpected error", type(cause).__name__)
    detail = str(error)
    if isinstance(error, (httptools.HttpParserInvalidMethodError,
                          httptools.HttpParserInvalidURLError)):
        return Refused(400, "Malformed request line", detail)
    lowered = detail.lower()
    if "version" in lowered or "method" in lowered or "url" in lowered:
        return Refused(400, "Malformed request line", detail)
    if "header" in lowered or "content-length" in lowered or "transfer-encoding" in lowered:
        return Refused(400, "Malformed request header", detail)
    return Refused(400, "Malformed request", detail)


class HttpDate:
    """The ``Date`` header's value, formatted once per second."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second, self._value = -1, b""

    def value(self) -> bytes:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._value = email.utils.formatdate(second, usegmt=True).encode("latin-1")
        return self._value


class Server:
    """One worker process's connections, its listening sockets and its app."""

    def __init__(self, worker: "EdgeWorker", app, loop: asyncio.AbstractEventLoop,
                 executor: ThreadPoolExecutor | None = None) -> None:
        self.worker, self.app, self.loop = worker, app, loop
        #: Threads the app runs on (a database across a network), or None: on the loop.
        self.executor = executor
        self.log = worker.log
        self.connections: set[HttpConnection] = set()
        self.accepting = False
        self.stopping = False
        self.date = HttpDate()
        settings = worker.app.settings
        self.max_body_bytes = settings.max_body_bytes
        self.trusted_proxies = tuple(settings.trusted_proxies) or ("127.0.0.1",)
        self.multiprocess = worker.cfg.workers > 1

    # -- accepting -------------------------------------------------------------------
    def start_accepting(self) -> None:
        if not self.accepting and not self.stopping:
            for sock in self.worker.sockets:
                self.loop.add_reader(sock.fileno(), self._accept, sock)
            self.accepting = True

    def stop_accepting(self) -> None:
        if self.accepting:
            for sock in self.worker.sockets:
                self.loop.remove_reader(sock.fileno())
            self.accepting = False

    def _accept(self, listener) -> None:
        """One connection per turn of the loop (see the module's docstring)."""
        try:
            sock, _ = listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        except OSError as exc:  # EMFILE and the like: wait for a connection to close
            self.log.warning("cannot accept a connection: %s", exc)
            self.stop_accepting()
            self.loop.call_later(0.5, self.start_accepting)
            return
        sock.setblocking(False)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = HttpConnection(self)
        self.connections.add(connection)
        if len(self.connections) >= WORKER_CONNECTIONS:
            self.stop_accepting()
        self.loop.create_task(self._connect(sock, connection))

    async def _connect(self, sock, connection: "HttpConnection") -> None:
        try:
            await self.loop.connect_accepted_socket(lambda: connection, sock)
        except OSError:
            self.closed(connection)
            sock.close()

    def closed(self, connection: "HttpConnection") -> None:
        self.connections.discard(connection)
        if not self.stopping and len(self.connections) < WORKER_CONNECTIONS:
            self.start_accepting()

    def is_trusted_proxy(self, address: str) -> bool:
        # Imported here: Flask comes with it, which a worker has and the arbiter must not.
        from gateway.http.clients import is_trusted_proxy

        return is_trusted_proxy(address, self.trusted_proxies)

    # -- stopping --------------------------------------------------------------------
    def stop_gracefully(self) -> None:
        """Accept no more; close idle connections at once and the others after the
        response to the request they have begun."""
        self.stopping = True
        self.stop_accepting()
        for sock in self.worker.sockets:
            # This process's copy of the listening socket: once every worker has closed
            # theirs (the arbiter closed its own), new connections are refused at once
            # instead of waiting in a backlog nobody accepts from.
            sock.close()
        for connection in list(self.connections):
            connection.stop()

    def access(self, environ: dict, status: str, sent: int | None) -> None:
        self.log.line(environ, status, sent)

    def call_app(self, environ: dict, body: bytes):
        """The app's answer to ``environ`` with ``body``: (status, headers, body bytes),
        or None when the app failed (logged). Runs on the loop or on a thread."""
        environ["wsgi.input"] = io.BytesIO(body)
        started: list = []

        def start_response(status, headers, exc_info=None):
            if exc_info is not None and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, headers]
            return _no_write

        try:
            result = self.app(environ, start_response)
            try:
                chunks = result if isinstance(result, list) else list(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
            if not started:
                raise RuntimeError("the app returned without calling start_response")
        except Exception:  # the app's own handlers answer everything else in JSON
            log.exception("error handling %s %s", environ.get("REQUEST_METHOD"),
                          environ.get("PATH_INFO"))
            return None
        return started[0], started[1], chunks[0] if len(chunks) == 1 else b"".join(chunks)


class HttpConnection(asyncio.Protocol):
    """One client connection: requests parsed as they come, each answered once whole."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.timer: asyncio.TimerHandle | None = None
        self.peer = ("", 0)
        self.local = ("", "")
        self.closing = False
        self.paused = False  # the client does not read our answers (flow control)
        self.reading = True  # the transport's reading state, set by _update_reading only
        # The request being received
        self.in_request = False  # a request has begun (bytes of its head came)
        self.head_done = False
        self.begun = 0  # requests begun on this connection
        self.head_bytes = 0  # of the head being received, in the chunks after its first
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.environ: dict | None = None
        self.skip_body = False  # answered at the end of its head; the body is not read
        # With the app on threads: requests whole and waiting, one running at a time
        self.waiting: collections.deque = collections.deque()
        self.running = False
        self.held = False  # too many requests waiting: read no more ahead
        self.done_reading = False  # a request that closes the connection was read
        self.eof = False  # the client closed its side while answers were due

    # -- the transport's callbacks -------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.peer = (str(peer[0]), peer[1])
        local = transport.get_extra_info("sockname")
        if isinstance(local, tuple):
            self.local = (str(local[0]), str(local[1]))
        if self.closing or self.server.stopping:
            self.closing = True
            transport.close()
            return
        self._arm(HEADER_TIMEOUT, self._head_timed_out)

    def data_received(self, data: bytes) -> None:
        if self.closing or self.done_reading:
            return
        begun = self.begun
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # What follows the head is another protocol: answer what came, then close.
            self.close()
            return
        except httptools.HttpParserError as error:
            if not self.closing:
                self.refuse(parser_refusal(error))
            return
        if self.in_request and not self.head_done:
            # A head still incomplete: count this chunk if the head began before it (one
            # that began in it is counted from the next, so pipelined requests are not).
            self.head_bytes = self.head_bytes + len(data) if self.begun == begun else 0
            if self.head_bytes > HEAD_LIMIT:
                self.refuse(Refused(431, "Request header fields too large",
                                    f"head over {HEAD_LIMIT} bytes"))

    def eof_received(self) -> bool:
        """The client closed its side: a body cut short is answered 400, a head cut short
        closes the connection. Returns True to keep the connection open for writing."""
        if self.head_done and self.in_request and not self.closing:
            self.refuse(Refused(400, "Request body shorter than announced"))
        elif self.running or self.waiting:
            self.eof = True  # closed once the answers due are sent
        else:
            self.close()
        return True

    def connection_lost(self, exc) -> None:
        self.closing = True
        self._disarm()
        self.server.closed(self)

    def pause_writing(self) -> None:
        """The client reads our answers slower than it sends requests: stop reading."""
        self.paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self.paused = False
        self._update_reading()

    # -- the parser's callbacks -----------------------------------------------------
    def on_message_begin(self) -> None:
        self.begun += 1
        self.in_request, self.head_done = True, False
        self.url, self.headers, self.body = b"", [], []
        self.environ, self.skip_body = None, False

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > LIMIT_REQUEST_LINE:
            raise Refused(414, "Request line too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self.headers) >= LIMIT_REQUEST_FIELDS:
            raise Refused(431, "Request header fields too large", "too many fields")
        if len(name) + len(value) + 2 > LIMIT_REQUEST_FIELD_SIZE:
            raise Refused(431, "Request header fields too large",
                          f"field {name[:40]!r} too large")
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.head_done, self.head_bytes = True, 0
        self._disarm()
        environ = self.environ = self._environ()
        expect = environ.get("HTTP_EXPECT")
        length = environ.get("CONTENT_LENGTH")
        body_coming = bool(length and length != "0") or "HTTP_TRANSFER_ENCODING" in environ
        if expect is not None:
            if expect.lower() != "100-continue":
                raise Refused(417, "Expectation not supported", expect[:80])
        if "HTTP_TRANSFER_ENCODING" in environ or (
                length and int(length) > self.server.max_body_bytes):
            # Not read: the app refuses it from the head alone (411, 413).
            self.skip_body = True
            self._respond(b"", close=True)
            raise Refused(0, "answered")  # stops the parser: nothing more is read
        if body_coming:
            if expect is not None:
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._arm(BODY_TIMEOUT, self._body_timed_out)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self._disarm()
        body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        self.in_request = self.head_done = False
        keep_alive = self.parser.should_keep_alive() and not self.server.stopping
        self._respond(body, close=not keep_alive)
        if self.closing or self.done_reading:
            raise Refused(0, "answered")  # no more requests from this connection
        if not self.running:
            self._arm(HEADER_TIMEOUT, self._head_timed_out)

    # -- answering ------------------------------------------------------------------
    def _environ(self) -> dict:
        server = self.server
        url = self.url
        try:
            parsed = httptools.parse_url(url)
        except httptools.HttpParserInvalidURLError:
            raise Refused(400, "Malformed request line", "unparsable URI") from None
        path, query = parsed.path or b"/", parsed.query or b""
        version = self.parser.get_http_version()
        environ = {
            "REQUEST_METHOD": self.parser.get_method().decode("latin-1"),
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query.decode("latin-1"),
            "RAW_URI": url.decode("latin-1"),
            "SERVER_PROTOCOL": f"HTTP/{version}",
            "SERVER_NAME": self.local[0], "SERVER_PORT": self.local[1],
            "SERVER_SOFTWARE": "msisdn-gateway",
            "REMOTE_ADDR": self.peer[0], "REMOTE_PORT": str(self.peer[1]),
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
            "wsgi.multithread": False, "wsgi.multiprocess": server.multiprocess,
            "wsgi.run_once": False, "wsgi.input_terminated": True,
        }
        for name, value in self.headers:
            key = name.decode("latin-1").upper()
            if "_" in key:
                # Dropped, as gunicorn does: "X_Forwarded_For" would otherwise pass for
                # X-Forwarded-For in the environ.
                continue
            key = key.replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            text = value.decode("latin-1")
            environ[key] = f"{environ[key]},{text}" if key in environ else text
        for key, secure in SECURE_SCHEME_HEADERS.items():
            if key in environ:
                if server.is_trusted_proxy(self.peer[0]):
                    if environ[key].strip().lower() == secure:
                        environ["wsgi.url_scheme"] = "https"
                break
        return environ

    def _respond(self, body: bytes, close: bool) -> None:
        """Answer the request whose head is ``self.environ``, closing the connection after
        it if ``close``: at once (the app called here), or, when the app runs on threads
        (Server.executor), once the requests before it on this connection are answered."""
        environ, linger = self.environ, self.skip_body
        if self.server.executor is None:
            self._send(environ, self.server.call_app(environ, body), close, linger)
            return
        self.waiting.append((environ, body, close, linger))
        if close:
            self.done_reading = True  # nothing after it is read (the parser stops)
        if len(self.waiting) > PIPELINE_DEPTH:
            self.held = True
            self._update_reading()
        if not self.running:
            self._next()

    def _next(self) -> None:
        """Run the app for the oldest waiting request on the server's threads."""
        environ, body, close, linger = self.waiting.popleft()
        if environ is None:  # an answer the server made itself (a refusal): it ends here
            self.waiting.clear()
            self._write(body, close=True, linger=True)
            return
        self.running = True
        loop = self.server.loop
        future = self.server.executor.submit(self.server.call_app, environ, body)
        future.add_done_callback(lambda done: loop.call_soon_threadsafe(
            self._answered, environ, done.result(), close, linger))

    def _answered(self, environ: dict, result, close: bool, linger: bool) -> None:
        """Back on the loop: send the answer, then go on with the next request."""
        self.running = False
        if self.closing or self.transport is None or self.transport.is_closing():
            self.waiting.clear()  # closed meanwhile (the client, a stop): answers to nobody
            return
        self._send(environ, result, close, linger)
        if self.closing:
            return
        if self.waiting:
            self._next()
            return
        if self.held:
            self.held = False
            self._update_reading()
        if self.eof:
            self.close()
        elif not self.in_request:
            self._arm(HEADER_TIMEOUT, self._head_timed_out)

    def _send(self, environ: dict, result, close: bool, linger: bool) -> None:
        """Write the answer ``result`` (status, headers, body; None after a failure of
        the app, answered 500) and log its access line."""
        if result is None:
            self._write(error_response(500, "Unexpected error"), close=True)
            self.server.access(environ, "500", None)
            return
        status, headers, content = result
        if environ["REQUEST_METHOD"] == "HEAD":
            content = b""
        close = close or self.closing or self.server.stopping
        head = [b"HTTP/1.1 ", status.encode("latin-1"), b"\r\n"]
        has_length = False
        for name, value in headers:
            lowered = name.lower()
            if lowered == "content-length":
                has_length = True
            elif lowered in ("connection", "transfer-encoding", "keep-alive"):
                continue  # ours to say
            head += (name.encode("latin-1"), b": ", value.encode("latin-1"), b"\r\n")
        if not has_length:
            head += (b"Content-Length: ", str(len(content)).encode(), b"\r\n")
        head += (b"Date: ", self.server.date.value(), b"\r\n")
        if close:
            head.append(b"Connection: close\r\n")
        elif environ["SERVER_PROTOCOL"] == "HTTP/1.0":
            head.append(b"Connection: keep-alive\r\n")
        head.append(b"\r\n")
        head.append(content)
        self._write(b"".join(head), close, linger=linger)
        self.server.access(environ, status, len(content))

    def _write(self, data: bytes, close: bool, linger: bool = False) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(data)
        if close:
            self.close(linger)

    def refuse(self, refused: Refused) -> None:
        """Answer what the server refuses itself, in JSON, and close."""
        if refused.status == 0 or self.closing:  # already answered
            return
        if refused.status >= 500:
            self.server.log.error("error reading a request from %s: %s", self.peer[0],
                                  refused.message)
        else:
            self.server.log.info("refused a request from %s: %d %s (%s)", self.peer[0],
                                 refused.status, refused.message, refused.detail[:200])
        self.in_request = False
        answer = error_response(refused.status, refused.message)
        if self.running or self.waiting:  # after the answers due before it
            self.waiting.append((None, answer, True, True))
            self.done_reading = True
            return
        self._write(answer, close=True, linger=True)

    def _update_reading(self) -> None:
        """Read while nothing holds it back: the client reading our answers slowly, or
        requests waiting for the app. A closing connection reads on (and discards)."""
        wanted = self.closing or not (self.paused or self.held)
        if wanted != self.reading and self.transport is not None:
            self.reading = wanted
            if wanted:
                self.transport.resume_reading()
            else:
                self.transport.pause_reading()

    # -- timers and closing -----------------------------------------------------------
    def _arm(self, seconds: float, callback) -> None:
        self._disarm()
        self.timer = self.server.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _head_timed_out(self) -> None:
        self.timer = None
        if self.running or self.waiting:  # not idle: answers are being made
            self._arm(HEADER_TIMEOUT, self._head_timed_out)
            return
        self.close()  # an idle connection, or a head too slow: no answer, as nginx does

    def _body_timed_out(self) -> None:
        self.timer = None
        self.refuse(Refused(408, "Request body not received in time"))

    def stop(self) -> None:
        """The worker is stopping: close now if no request has begun, else after it."""
        if not (self.in_request or self.running or self.waiting):
            self.close()

    def close(self, linger: bool = False) -> None:
        """Close the connection once what was written is sent. ``linger``: the client may
        still be sending what was not read (a refused head, a body not read): send our
        end of the stream (FIN) after the answer and discard what comes for up to
        LINGER_SECONDS, or until the client closes too. Closing at once with unread bytes
        would make the kernel reset the connection, and the client could lose the answer
        before reading it (as nginx's lingering close avoids)."""
        transport = self.transport
        if self.closing:
            if not linger and transport is not None and not transport.is_closing():
                transport.close()  # the end of a linger (the client closed, or a stop)
            return
        self.closing = True
        self._disarm()
        if transport is None:
            return
        if linger and transport.can_write_eof():
            transport.write_eof()
            self._update_reading()  # read and discard, so that nothing resets
            self.timer = self.server.loop.call_later(LINGER_SECONDS, transport.close)
        else:
            transport.close()


def _no_write(data) -> None:
    raise RuntimeError("write() of start_response is not supported; return the body")


class EdgeWorker(Worker):
    """A gunicorn worker running :class:`Server` on an asyncio loop (uvloop when present)."""

    def load_wsgi(self) -> None:
        """Build the app, then take what is alive at that point (modules, the ORM's
        mappers, the app) out of the garbage collector's sight: a full collection no
        longer walks those hundreds of thousands of objects in the middle of a request
        (measured: p99 of register 17 ms -> 13-15 ms, +4 % requests per second)."""
        super().load_wsgi()
        gc.collect()
        gc.freeze()

    def init_process(self) -> None:
        raise_open_files_limit(WORKER_CONNECTIONS + 256)  # + database, logs, metrics
        super().init_process()

    def init_signals(self) -> None:
        """gunicorn's handlers, then the stop signals the arbiter blocked around the fork
        (:func:`hold_stop_signals_across_forks`) let through: one sent meanwhile reaches
        them now instead of the arbiter's handlers this process inherited."""
        super().init_signals()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def run(self) -> None:
        loop = uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        executor = None
        if not self.app.settings.effective_database_url.startswith("sqlite"):
            executor = ThreadPoolExecutor(APP_THREADS, thread_name_prefix="app")
        server = Server(self, self.wsgi, loop, executor)
        for sock in self.sockets:
            sock.setblocking(False)
        loop.add_signal_handler(signal.SIGTERM, self._stop, server)
        for quit_signal in (signal.SIGINT, signal.SIGQUIT):
            loop.add_signal_handler(quit_signal, self._quit, loop)
        loop.add_signal_handler(signal.SIGUSR1, self.log.reopen_files)
        server.start_accepting()
        self._beat(server)
        if not self.alive:  # a SIGTERM came while the app was being built (gunicorn's
            self._stop(server)  # handler noted it): stop now, gracefully
        try:
            loop.run_forever()
        finally:
            for connection in list(server.connections):
                connection.close()
            loop.run_until_complete(asyncio.sleep(0))  # let the transports close
            loop.close()
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)

    def _beat(self, server: Server) -> None:
        """Tell the arbiter this worker is alive; stop if the arbiter died."""
        self.notify()
        if self.ppid != os.getppid():
            self.log.info("Parent changed, shutting down: %s", self)
            self._stop(server)
        if server.stopping:
            if not server.connections or time.monotonic() >= self._deadline:
                server.loop.stop()
                return
            server.loop.call_later(0.05, self._beat, server)
            return
        server.loop.call_later(HEARTBEAT_SECONDS, self._beat, server)

    def _stop(self, server: Server) -> None:
        if server.stopping:
            return
        self.alive = False
        self._deadline = time.monotonic() + self.cfg.graceful_timeout
        server.stop_gracefully()
        server.loop.call_soon(self._beat, server)

    def _quit(self, loop) -> None:
        self.alive = False
        self.cfg.worker_int(self)
        loop.stop()


class AccessLog(glogging.Logger):
    """gunicorn's logger with the access line built directly by :meth:`line`, in
    gunicorn's default (Apache combined) format: ``host - - [time] "request" status bytes
    "referer" "agent"``."""

    _stamp = (0, "")  # (second, its formatted time): one strftime per second

    def line(self, environ: dict, status: str, sent: int | None) -> None:
        if not self.access_log_enabled:
            return
        second = int(time.time())
        if self._stamp[0] != second:
            AccessLog._stamp = (second, time.strftime("[%d/%b/%Y:%H:%M:%S %z]"))
        self.access_log.info(
            '%s - - %s "%s %s %s" %s %s "%s" "%s"', environ.get("REMOTE_ADDR", "-"),
            self._stamp[1], environ["REQUEST_METHOD"], environ["RAW_URI"],
            environ["SERVER_PROTOCOL"], status.split(None, 1)[0],
            "-" if sent is None else sent,
            environ.get("HTTP_REFERER", "-"), environ.get("HTTP_USER_AGENT", "-"))

"""Hawk request authentication (the Hawk 1.1 header scheme, MACs as mohawk computes them).

The URL checked is a configured origin (scheme, host, port: gateway.http.origins) plus
the request path: ``public_url``, so signatures made by clients of a TLS proxy verify, or
the entry of ``allowed_hosts`` the request's Host names; with neither configured, the
request's own Host. A body must be covered by the payload hash. A request without a body
needs none, whatever its Content-Type (the spec's ``curl`` examples and requests-hawk
send ``Content-Type: application/json`` and no hash for a body-less request: there is no
payload to protect); a hash that is given is always checked. ``ts`` is 1 to 12 digits
(else 401/109). Nonces are remembered in the database (shared by all workers) only for a
request whose MAC is valid and whose ``ts`` is less than ``hawk_skew_seconds`` from our
clock, until ``ts + hawk_skew_seconds``: never more than twice the skew ahead.

Everything runs in the request's unit of work (gateway.http.transaction): the session
read for the key is the one the use case then uses (read once), and the nonce commits
with the request. Checks run cheapest first, and the one write, the nonce, last: a forged
or stale request stores nothing.

mohawk's ``Receiver`` is not used: it formats its debug logs eagerly (pprint of the URL
parts, header and payload, about 0.3 ms per request); its MAC functions are.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import re
from urllib.parse import urlsplit

from flask import current_app, g, request
from mohawk.exc import BadHeaderValue
from mohawk.util import (HAWK_HEADER_RE, MAX_LENGTH, allowable_header_keys, calculate_mac,
                         calculate_ts_mac, validate_header_attr)

from gateway.errors import InvalidSignature, InvalidToken
from gateway.http import transaction
from gateway.verification import sessions

log = logging.getLogger(__name__)

ALGORITHM = "sha256"
DEFAULT_PORTS = {"http": 80, "https": 443}
REQUIRED = ("id", "ts", "nonce", "mac")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class _Resource:
    """What mohawk's calculate_mac reads of a request."""

    __slots__ = ("credentials", "timestamp", "nonce", "method", "name", "host", "port",
                 "ext", "app", "dlg")

    def __init__(self, key: str, header: dict[str, str], method: str, name: str,
                 host: str, port: str) -> None:
        self.credentials = {"id": header["id"], "key": key, "algorithm": ALGORITHM}
        self.timestamp, self.nonce = header["ts"], header["nonce"]
        self.method, self.name, self.host, self.port = method, name, host, port
        self.ext, self.app, self.dlg = header.get("ext"), header.get("app"), header.get("dlg")


def parse_header(header: str) -> dict[str, str]:
    """The attributes of a Hawk Authorization header, checked as mohawk checks them;
    raises InvalidSignature."""
    if len(header) > MAX_LENGTH:
        raise InvalidSignature("Hawk header too long")
    scheme, _, attributes = header.partition(" ")
    if scheme.lower() != "hawk":
        raise InvalidSignature("the Authorization header is not a Hawk one")
    parsed: dict[str, str] = {}

    def take(match) -> str:
        key, value = match.group("key"), match.group("value")
        if key not in allowable_header_keys or key in parsed:
            raise InvalidSignature(f"unknown or repeated Hawk attribute {key!r}")
        validate_header_attr(value, name=key)
        parsed[key] = value
        return ""

    try:
        rest = HAWK_HEADER_RE.sub(take, attributes)
    except BadHeaderValue:
        raise InvalidSignature("Hawk header with an illegal character") from None
    if rest or any(name not in parsed for name in REQUIRED):
        raise InvalidSignature("malformed Hawk header")
    return parsed


def parse_timestamp(text: str) -> int:
    """Hawk's ``ts``: whole seconds since the epoch, 1 to 12 ASCII digits (up to the year
    33658), so any value is a plain int compared and formatted cheaply. Anything else
    (a sign, a fraction, an exponent, spaces, underscores, 10^30) raises InvalidSignature."""
    if not _TIMESTAMP.fullmatch(text):
        raise InvalidSignature("the Hawk ts must be the time in whole seconds since "
                               "1970-01-01 UTC (at most 12 digits)")
    return int(text)


def payload_hash(body: bytes, content_type: str) -> str:
    """Hawk's payload hash (base64 SHA-256 over the normalised type and the body). Not
    mohawk's ``calculate_payload_hash``, which pformats every part for a debug log on each
    call; tests/unit/test_hawk_header.py holds the two equal."""
    mime = content_type.split(";", 1)[0].strip().lower()
    digest = hashlib.sha256(b"hawk.1.payload\n" + mime.encode("utf-8") + b"\n" + body + b"\n")
    return base64.b64encode(digest.digest()).decode("ascii")


@functools.lru_cache(maxsize=256)
def _origin(url: str) -> tuple[str, str, str]:
    """(host, port, path prefix) of a base URL as Hawk normalises them (lowercase host,
    the scheme's default port); raises ValueError."""
    parts = urlsplit(url)
    port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    return (parts.hostname or ""), str(port), parts.path.rstrip("/")


def _resource_name(prefix: str) -> str:
    query = request.query_string.decode("latin-1")
    return prefix + request.path + (f"?{query}" if query else "")


def authenticate(deps, uow) -> str:
    """Verify the request's Hawk header in the request's unit of work ``uow``; returns the
    hawk id. Raises InvalidToken (401/110: no header, unknown or ended session) or
    InvalidSignature (401/109; with ts/tsm for a stale timestamp)."""
    header = request.headers.get("Authorization", "")
    if not header:
        raise InvalidToken("missing Hawk Authorization header",
                           headers={"WWW-Authenticate": "Hawk"})
    attributes = parse_header(header)
    hawk_id = attributes["id"]
    timestamp = parse_timestamp(attributes["ts"])
    try:
        host, port, prefix = _origin(current_app.extensions["origins"].hawk_origin(
            request.scheme, request.host, request.root_path))
    except ValueError:
        raise InvalidSignature() from None
    if len(hawk_id) != 64:
        raise InvalidToken("unknown or ended session")
    try:
        key = sessions.hawk_key(uow, deps, hawk_id)
    except InvalidToken:
        raise InvalidToken("unknown or ended session") from None

    resource = _Resource(key, attributes, request.method, _resource_name(prefix), host, port)
    their_hash = attributes.get("hash")
    mac = calculate_mac("header", resource, their_hash).decode("ascii")
    if not hmac.compare_digest(mac, attributes["mac"]):
        raise InvalidSignature()
    body = request.get_data(cache=True)
    if their_hash is None:
        if body:
            raise InvalidSignature("a request body must be covered by the payload hash")
    elif not hmac.compare_digest(
            payload_hash(body, request.headers.get("Content-Type", "")), their_hash):
        raise InvalidSignature("the payload hash does not match the body")

    # Compared untruncated, and strictly: a request is accepted only before ts + skew,
    # when its nonce row expires (sessions.remember_nonce) and the cleanup may delete it,
    # so no replay outlives its nonce.
    moment = deps.now().timestamp()
    if abs(timestamp - moment) >= deps.settings.hawk_skew_seconds:
        now = int(moment)
        message = f"token with UTC timestamp {timestamp} has expired; it was compared to {now}"
        tsm = calculate_ts_mac(now, resource.credentials).decode("ascii")
        raise InvalidSignature("stale timestamp: check the clock", headers={
            "WWW-Authenticate": f'Hawk ts="{now}", tsm="{tsm}", error="{message}"'})
    if not sessions.remember_nonce(uow, deps, hawk_id, attributes["nonce"], timestamp):
        raise InvalidSignature("this request was already processed (replayed nonce)")
    return hawk_id


def hawk_required(view):
    """Decorator: authenticate, then call ``view`` with ``g.hawk_id`` set."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        g.hawk_id = authenticate(current_app.extensions["deps"], transaction.current())
        return view(*args, **kwargs)
    return wrapper

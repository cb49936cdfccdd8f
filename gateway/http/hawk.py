"""Hawk request authentication with mohawk.

The URL checked is the configured public URL (scheme, host, port) plus the request path,
so signatures made by clients of a TLS proxy verify; without a public URL, the request's
own Host is used. The payload hash is required for requests with a body; nonces are
remembered in the database for the skew window (shared by all workers).
"""
from __future__ import annotations

import calendar
import functools
import logging
import time

from flask import current_app, g, request
from mohawk import Receiver
from mohawk.exc import (AlreadyProcessed, CredentialsLookupError, HawkFail,
                        MissingAuthorization, TokenExpired)

from gateway.errors import InvalidSignature, InvalidToken
from gateway.verification import sessions

log = logging.getLogger(__name__)


def _request_url() -> str:
    base = current_app.config["PUBLIC_URL"] or request.host_url
    query = request.query_string.decode("latin-1")
    return base.rstrip("/") + request.path + (f"?{query}" if query else "")


def _clock_offset(clock) -> int:
    """Whole seconds from mohawk's clock (time.gmtime) to ours: zero with the system
    clock, the difference with a fake one."""
    return int(clock.now().timestamp()) - calendar.timegm(time.gmtime())


def authenticate(deps) -> str:
    """Verify the request's Hawk header; returns the hawk id. Raises InvalidToken
    (401/110) or InvalidSignature (401/109, with ts/tsm for a stale timestamp)."""
    header = request.headers.get("Authorization", "")
    if not header:
        raise InvalidToken("missing Hawk Authorization header",
                           headers={"WWW-Authenticate": "Hawk"})

    def credentials(hawk_id):
        if not isinstance(hawk_id, str) or len(hawk_id) != 64:
            raise LookupError(hawk_id)
        try:
            return {"id": hawk_id, "key": sessions.hawk_key(deps, hawk_id), "algorithm": "sha256"}
        except InvalidToken:
            raise LookupError(hawk_id) from None

    def seen_nonce(hawk_id, nonce, timestamp):
        return not sessions.remember_nonce(deps, hawk_id, nonce, int(timestamp))

    body = request.get_data(cache=True)
    try:
        receiver = Receiver(
            credentials, header, _request_url(), request.method,
            content=body, content_type=request.headers.get("Content-Type", ""),
            seen_nonce=seen_nonce, timestamp_skew_in_seconds=deps.settings.hawk_skew_seconds,
            localtime_offset_in_seconds=_clock_offset(deps.clock))
    except CredentialsLookupError:
        raise InvalidToken("unknown or ended session") from None
    except MissingAuthorization:
        raise InvalidToken("missing Hawk Authorization header") from None
    except TokenExpired as exc:
        raise InvalidSignature("stale timestamp: check the clock",
                               headers={"WWW-Authenticate": exc.www_authenticate}) from None
    except AlreadyProcessed:
        raise InvalidSignature("this request was already processed (replayed nonce)") from None
    except (HawkFail, ValueError, KeyError, TypeError) as exc:
        log.info("hawk refused: %s", type(exc).__name__)
        raise InvalidSignature() from None
    return receiver.parsed_header["id"]


def hawk_required(view):
    """Decorator: authenticate, then call ``view`` with ``g.hawk_id`` set."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        g.hawk_id = authenticate(current_app.extensions["deps"])
        return view(*args, **kwargs)
    return wrapper

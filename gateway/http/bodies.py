"""Request bodies: presence and size of Content-Length, JSON parsing, typed parameters.

Limits on what a body may hold, whatever the endpoint: at most ``max_body_bytes`` (413),
JSON arrays and objects nested at most MAX_JSON_DEPTH deep, and Unicode text only (no
lone UTF-16 surrogate escape such as ``"\\ud800"``, which no text can be encoded from).
Both are 400/106, answered before anything reads the value.
"""
from __future__ import annotations

import json
import re
from typing import Any

from flask import Request

from gateway.errors import (BodyTooLarge, InvalidJson, InvalidParameter, LengthRequired,
                            MissingParameter)


def check_length(request: Request, max_bytes: int) -> None:
    """411 for a body without Content-Length (chunked), 413 above ``max_bytes``; runs
    before the body is read."""
    if request.content_length is None:
        if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
            raise LengthRequired()
    elif request.content_length > max_bytes:
        raise BodyTooLarge(f"Request body too large (limit {max_bytes} bytes)")


# Arrays and objects nested in a body: the API's own requests go 3 deep (a publicKey in
# a body); the parser recurses once per level and Python stops at ~1000.
MAX_JSON_DEPTH = 32
# A string (closed or not: an unterminated one runs to the end, so the scan stays linear)
# or one bracket.
_JSON_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)
_OPENERS = frozenset(b"[{")
_CLOSERS = frozenset(b"]}")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def check_json_depth(raw: bytes, limit: int = MAX_JSON_DEPTH) -> None:
    """InvalidJson if arrays and objects in ``raw`` nest more than ``limit`` deep, brackets
    inside strings not counted. Two ``bytes.count`` calls when the body has no more
    brackets than ``limit`` (every request of the API); else a linear scan that stops at
    the first level too deep."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return
    depth = 0
    for token in _JSON_TOKEN.finditer(raw):
        first = raw[token.start()]
        if first in _OPENERS:
            depth += 1
            if depth > limit:
                raise InvalidJson(f"JSON nested too deep (at most {limit} levels of arrays "
                                  "and objects)")
        elif first in _CLOSERS:
            depth -= 1


def _check_text(raw: bytes, value: Any) -> None:
    """InvalidJson if a string of ``value`` holds a lone surrogate (only possible through a
    ``\\uD800``-``\\uDFFF`` escape, so the value is re-encoded only when one is there)."""
    if _SURROGATE_ESCAPE.search(raw) is None:
        return
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidJson("the JSON body holds a lone UTF-16 surrogate escape: "
                          "strings must be Unicode text") from None


def json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}``. Raises InvalidJson (also for
    nesting deeper than MAX_JSON_DEPTH and lone surrogates), InvalidParameter."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    mimetype = request.mimetype
    if mimetype and mimetype != "application/json":
        raise InvalidJson(f"Content-Type must be application/json, not {mimetype}")
    check_json_depth(raw)
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidJson() from None
    _check_text(raw, value)
    if not isinstance(value, dict):
        raise InvalidParameter("the request body must be a JSON object")
    return value


_MISSING = object()
_JSON_NAMES = {str: "string", int: "integer", bool: "boolean", dict: "object",
               list: "array", float: "number"}


def param(body: dict, name: str, kind: type | tuple[type, ...], *, required: bool = True,
          default: Any = None) -> Any:
    """``body[name]`` checked against ``kind`` (bool is never an int here)."""
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise MissingParameter(f"missing parameter: {name}")
        return default
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        names = " or ".join(_JSON_NAMES.get(k, k.__name__) for k in kinds)
        raise InvalidParameter(f"{name} must be of type {names}")
    return value

"""Request bodies: presence and size of Content-Length, JSON parsing, typed parameters."""
from __future__ import annotations

import json
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


def json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}``. Raises InvalidJson, InvalidParameter."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    mimetype = request.mimetype
    if mimetype and mimetype != "application/json":
        raise InvalidJson(f"Content-Type must be application/json, not {mimetype}")
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidJson() from None
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

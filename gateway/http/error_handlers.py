"""One error handler: every error, ours or Werkzeug's, becomes the spec's JSON body.

The HTTP server's own errors (a malformed request line, headers over the limits: see
gateway.process.edge_worker) use :func:`http_error` for the same shape. ``OPTIONS`` is
not answered by Flask's automatic handler (200, text/html) but, like any other method a
route does not take, with 405 and ``Allow``; ``TRACE`` too."""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from gateway.errors import (ApiError, BodyTooLarge, LengthRequired, MethodNotAllowed,
                            NotFound, ServiceUnavailable, UnexpectedError)

log = logging.getLogger(__name__)

# How long a client should wait when the database is locked or unreachable.
DATABASE_RETRY_AFTER = 5
_WERKZEUG = {404: NotFound, 405: MethodNotAllowed, 411: LengthRequired, 413: BodyTooLarge}


def render(error: ApiError):
    response = jsonify(error.to_dict())
    response.status_code = error.status
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    response.headers.update(error.headers)
    return response


def http_error(status: int, message: str) -> ApiError:
    """An error of the spec's shape for a status no error of gateway.errors stands for:
    errno 999."""
    error = ApiError(message)
    error.status, error.errno = status, 999
    return error


def _http_exception(exc: HTTPException):
    kind = _WERKZEUG.get(exc.code or 500)
    error = http_error(exc.code or 500, exc.description) if kind is None else kind()
    response = render(error)
    if exc.code == 405 and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def _database_unavailable(exc: OperationalError):
    log.error("database unavailable: %s", exc.orig.__class__.__name__ if exc.orig else exc)
    return render(ServiceUnavailable("The database is temporarily unavailable, please retry",
                                     retry_after=DATABASE_RETRY_AFTER))


def _unexpected(exc: Exception):
    log.exception("unhandled error")
    return render(UnexpectedError())


def install(app: Flask) -> None:
    """Register the handlers; call it before any route is added, so that no route gets
    Flask's automatic ``OPTIONS`` answer (``PROVIDE_AUTOMATIC_OPTIONS`` is read when a
    route is added): ``OPTIONS`` then gets 405 JSON with ``Allow``."""
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.register_error_handler(ApiError, render)
    app.register_error_handler(HTTPException, _http_exception)
    app.register_error_handler(OperationalError, _database_unavailable)
    app.register_error_handler(Exception, _unexpected)

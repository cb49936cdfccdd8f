"""One database transaction per request.

Before the view, the app opens the request's unit of work as the *ambient* one (see
gateway.storage.uow): the per-client counter, the Hawk key and the Hawk nonce run in it,
and every unit of work a use case opens (``deps.uow()``) joins it as a nested one, a
savepoint taken just before its first write. After the view it is committed once, also
when the request was refused with an API error: the counter hit and the nonce stay (a
client making failing requests is still limited, a replayed request still refused),
while the refused use case's own work was already undone with its savepoint. Only a
request refused by the per-client limit itself is rolled back (gateway.api.app), so that a
refusal consumes no budget.

The transaction begins at its first statement: a request that touches no table opens
none, and one whose only statement is a read from a read-only unit of work (discover,
for an exempt client) opens a read transaction. A database error at commit is rolled
back and rendered by the app's error handlers (OperationalError: the JSON 503).
"""
from __future__ import annotations

import logging

from flask import Flask, Response, current_app, g
from sqlalchemy.exc import SQLAlchemyError

from gateway.storage.uow import UnitOfWork

log = logging.getLogger(__name__)
_KEY = "_gateway_transaction"


def begin(deps) -> UnitOfWork:
    """Open the request's unit of work (ambient for ``deps.uow``); returns it."""
    scope = deps.uow.ambient()
    uow = scope.__enter__()
    setattr(g, _KEY, (scope, uow))
    return uow


def current() -> UnitOfWork:
    """The request's unit of work; ``begin()`` must have run (the app's before_request)."""
    return getattr(g, _KEY)[1]


def _commit(response: Response) -> Response:
    entry = g.get(_KEY)
    if entry is None:
        return response
    uow = entry[1]
    try:
        uow.commit()
    except SQLAlchemyError as exc:
        try:
            uow.rollback()
        except SQLAlchemyError:
            log.warning("rollback after a failed commit failed too", exc_info=True)
        if response.status_code >= 500:
            return response  # already an error: keep the first one
        app = current_app._get_current_object()
        return app.make_response(app.handle_user_exception(exc))
    return response


def _close(_error: BaseException | None) -> None:
    entry = g.pop(_KEY, None)
    if entry is not None:
        entry[0].__exit__(None, None, None)  # rolls back what was not committed


def install(app: Flask) -> None:
    """Commit after the view (after_request), close at teardown."""
    app.after_request(_commit)
    app.teardown_request(_close)

"""The admin blueprint and its gate, run before every admin view:

    1. the client address must be in ``admin_networks``          else 403
    2. a password must be set                                    else 404 (how to set it)
    3. except for the login page and the static script, a valid session: a GET without
       one is sent to the login page, anything else refused      401
    4. every POST must carry the session's CSRF token            else 403

Refusals (AdminError) and the use cases' errors (ApiError: bad number, bad prefix...) are
rendered as HTML pages with their status, never a 500. Every answer is ``no-store`` and
may not be framed; the Content-Security-Policy admits scripts from this host only. The
notice an action's redirect shows is named by a code of ``NOTICES``; ids in URLs stop at
``MAX_ROW_ID`` (a larger one is 404, as any unknown URL).
"""
from __future__ import annotations

import logging

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for

from gateway.admin.password import PasswordError, read_password_hash
from gateway.api.admin.access import AdminError, check_csrf, client_allowed, session_csrf
from gateway.errors import ApiError

log = logging.getLogger(__name__)
admin = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates",
                  static_folder="static", static_url_path="/static")
OPEN_ENDPOINTS = ("admin.login_form", "admin.login", "admin.static")
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; connect-src 'self'; "
                               "style-src 'unsafe-inline'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}
# The notices an action's redirect may show (``?notice=<code>``); an unknown code shows
# nothing. Fixed texts: the query string is the sender's, whoever sent the link.
NOTICES = {
    "fault-on": "Simulated fault switched on (the modem worker applies it).",
    "fault-off": "Simulated fault switched off (the modem worker clears it).",
    "unblocked": "Prefix unblocked and its figures forgotten.",
    "client-removed": "API client removed.",
}
# The largest id a route takes (``<int(max=...)>``, ROW_ID): a signed 64-bit integer, the
# widest the database stores; one more would reach the driver and fail there (a 500).
MAX_ROW_ID = 2 ** 63 - 1
ROW_ID = f"int(max={MAX_ROW_ID})"


def deps():
    return current_app.extensions["deps"]


@admin.before_request
def _gate():
    settings = deps().settings
    if not client_allowed(request, settings):
        raise AdminError(403, "The admin page is not open to this address (admin_networks).")
    stored = read_password_hash(settings)
    if stored is None:
        raise AdminError(404, "The admin page is off: set a password first with "
                              "`msisdn-gateway admin password` (README, \"The admin page\").")
    g.admin_hash = stored
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    g.csrf = session_csrf(request, deps(), stored)
    if g.csrf is None:
        if request.method == "GET":
            return redirect(url_for("admin.login_form", next=request.full_path.rstrip("?")))
        raise AdminError(401, "Log in first.")
    if request.method == "POST":
        check_csrf(request.form.get("csrf"), g.csrf)
    return None


@admin.after_request
def _headers(response):
    response.headers.update(SECURITY_HEADERS)
    return response


def page(status: int, message: str, retry_after: int | None = None):
    response = current_app.make_response(
        (render_template("admin/error.html", status=status, message=message), status))
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@admin.errorhandler(AdminError)
def _refused(error: AdminError):
    return page(error.status, error.message, error.retry_after)


@admin.errorhandler(ApiError)
def _api_error(error: ApiError):
    return page(error.status, error.message, error.retry_after)


@admin.errorhandler(PasswordError)
def _password_file(error: PasswordError):
    log.error("admin page: %s", error)
    return page(503, str(error))

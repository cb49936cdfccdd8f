"""The admin pages (GET) and the login:

    GET  /admin/                  overview: modems, queue, 24-hour chart, verifications
    GET  /admin/outbox[?status=]  the latest SMS to send or sent (numbers masked)
    GET  /admin/inbox[?kind=]     the latest SMS received (senders masked)
    GET  /admin/guard             prefixes with their figures and blocks
    GET  /admin/login             POST /admin/login   POST /admin/logout
"""
from __future__ import annotations

import hmac
import logging
import secrets
from datetime import timedelta

from flask import g, make_response, redirect, render_template, request, url_for

from gateway.admin import listings
from gateway.admin.password import (BOX_LOGIN_SCOPE, LOGIN_SCOPE, end_sessions,
                                     verify_password)
from gateway.api.admin import figures
from gateway.api.admin.access import (LOGIN_COOKIE, LOGIN_FORM_SECONDS, SESSION_COOKIE,
                                      COOKIE_PATH, AdminError, cookie_options, new_session)
from gateway.api.admin.blueprint import NOTICES, admin, deps
from gateway.errors import TooManyRequests
from gateway.guard import listing as guard_listing
from gateway.config.values import RateRule
from gateway.http.clients import client_key
from gateway.verification import ratelimit
from modem.numbers import mask_number

log = logging.getLogger(__name__)
OUTBOX_STATUSES = ("queued", "sending", "sent", "delivered", "failed", "unknown", "expired")
INBOX_KINDS = ("momt-verify", "number-proof", "other", "undecodable")
LIST_LIMIT = 100
# Login attempts of every client together (admin_login_limit counts each client): 5 a
# minute bounds the scrypt checks running at once (32 MiB each, on a box that may be a
# Raspberry Pi), 30 per 15 minutes the guesses of a LAN full of addresses.
BOX_LOGIN_LIMIT = (RateRule(5, 60), RateRule(30, 15 * 60))


@admin.context_processor
def _context():
    # A notice is one of ours, named by its code: never text from the URL, which anyone
    # can send an admin (and the login page carries it on through `next`).
    return {"csrf": g.get("csrf"), "simulate": deps().settings.simulate,
            "notice": NOTICES.get(request.args.get("notice") or "")}


@admin.get("/")
def overview():
    d = deps()
    now = d.now()
    modems = listings.modem_rows(d)
    for modem in modems:
        modem["bars"] = figures.signal_svg(modem["signal_dbm"])
    since = now - timedelta(hours=figures.HOURS)
    with d.uow(read_only=True) as uow:
        queue = uow.admin_figures.outbox_by_status()
        ended = uow.admin_figures.ended_since(since)
        verifications = uow.admin_figures.verifications_since(since)
    buckets = figures.hourly(ended, now)
    return render_template("admin/overview.html", modems=modems, now=now,
                           queue=[(s, queue.get(s, 0)) for s in OUTBOX_STATUSES],
                           chart=figures.chart_svg(buckets), buckets=buckets,
                           verifications=figures.conversion_rows(verifications),
                           faults=_fault_names())


def _fault_names() -> tuple[str, ...]:
    if not deps().settings.simulate:
        return ()
    from modem.sim.faults import FAULT_NAMES

    return FAULT_NAMES


def _choice(name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.args.get(name) or None
    if value is not None and value not in allowed:
        raise AdminError(400, f"{name} must be one of {', '.join(allowed)}")
    return value


@admin.get("/outbox")
def outbox():
    status = _choice("status", OUTBOX_STATUSES)
    rows = listings.outbox_rows(deps(), LIST_LIMIT, status)
    return render_template("admin/outbox.html", rows=rows, status=status,
                           statuses=OUTBOX_STATUSES)


@admin.get("/inbox")
def inbox():
    kind = _choice("kind", INBOX_KINDS)
    rows = listings.inbox_rows(deps(), LIST_LIMIT, kind=kind)
    for row in rows:  # an SMS-MO of kind "other" keeps its sender in clear
        row["sender"] = mask_number(row["sender"] or "")
        row["recipient"] = mask_number(row["recipient"]) if row["recipient"] else None
    return render_template("admin/inbox.html", rows=rows, kind=kind, kinds=INBOX_KINDS)


@admin.get("/guard")
def guard():
    settings = deps().settings
    return render_template("admin/guard.html", rows=guard_listing.prefix_rows(deps()),
                           settings=settings)


@admin.get("/login")
def login_form():
    return _login_page(200, None)


def _login_page(status: int, error: str | None, retry_after: int | None = None):
    token = secrets.token_urlsafe(32)
    response = make_response(render_template("admin/login.html", login_csrf=token,
                                             error=error, next=_next()), status)
    response.set_cookie(LOGIN_COOKIE, token,
                        **cookie_options(request, deps().settings, LOGIN_FORM_SECONDS))
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _next() -> str:
    target = request.values.get("next") or ""
    if not target.startswith("/admin") or target.startswith("//") or "\\" in target:
        return url_for("admin.overview")
    return target


@admin.post("/login")
def login():
    d = deps()
    sent, expected = request.form.get("csrf") or "", request.cookies.get(LOGIN_COOKIE) or ""
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise AdminError(403, "This login form has no valid CSRF token (it may have "
                              "expired): reload the page and try again.")
    refused = _count_login(d)
    if refused is not None:
        return refused
    if not verify_password(g.admin_hash, request.form.get("password") or ""):
        log.warning("admin login refused: wrong password")
        return _login_page(401, "Wrong password.")
    log.info("admin login")
    cookie, _ = new_session(d, g.admin_hash)
    response = redirect(_next(), code=303)
    response.set_cookie(SESSION_COOKIE, cookie,
                        **cookie_options(request, d.settings, d.settings.admin_session_ttl))
    response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH)
    return response


def _count_login(d):
    """Count this login attempt for its client and for the box (one transaction: a
    refused attempt counts in neither); the 429 login page when a limit is over, else
    None."""
    client = client_key(request, d.settings)  # None: in rate_limit_exempt_networks
    where, hint = "from this address", ""
    try:
        with d.uow() as uow:
            # Per client as every budget counts it: an IPv6 /64, not each of the 2^64
            # addresses a host on the LAN may pick.
            if client is not None:
                ratelimit.enforce(uow, d.now(), d.settings.admin_login_limit, LOGIN_SCOPE,
                                  d.secret.digest("admin-login", client), TooManyRequests)
            # Each check costs 32 MiB of scrypt: however many clients, few at a time.
            where = "on this box"
            hint = " (from a shell on the box, `msisdn-gateway admin unlock` lets you in now)"
            ratelimit.enforce(uow, d.now(), BOX_LOGIN_LIMIT, BOX_LOGIN_SCOPE, "all",
                              TooManyRequests)
            uow.commit()
    except TooManyRequests as exc:
        log.warning("admin login refused: too many attempts %s", where)
        return _login_page(429, f"Too many login attempts {where}: wait "
                                f"{exc.retry_after} s{hint}.", exc.retry_after)
    return None


@admin.post("/logout")
def logout():
    end_sessions(deps().settings)  # a copy of the cookie dies too
    response = redirect(url_for("admin.login_form"), code=303)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response

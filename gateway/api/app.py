"""The application factory: ``create_app(deps, engine)`` returns the Flask app with the
shared plumbing of gateway.http installed and every face's blueprint mounted.

Nothing happens at import time; the composition root (gateway.process, or a test) builds
the dependencies and calls this.
"""
from __future__ import annotations

from flask import Flask, request
from sqlalchemy import Engine

from gateway.api.admin.views import admin
from gateway.api.camara import views as camara
from gateway.api.msisdn_v1.views import api
from gateway.api.sna import views as sna
from gateway.api.service.scrape import metrics
from gateway.api.service.views import meta
from gateway.api.textsecure.views import textsecure
from gateway.deps import Deps
from gateway.errors import TooManyRequests
from gateway.http import error_handlers as errors, transaction
from gateway.http.bodies import check_length
from gateway.http.clients import limit_client
from gateway.http.origins import Origins
from gateway.verification.discover import RecentStatuses

UNLIMITED_PATHS = ("/__heartbeat__", "/__lbheartbeat__", "/metrics")


def create_app(deps: Deps, engine: Engine) -> Flask:
    app = Flask("gateway")
    # The origins URLs and Hawk MACs use (public_url, allowed_hosts); never the request's
    # Host as sent.
    app.extensions["origins"] = Origins(deps.settings)
    app.json.sort_keys = False
    app.extensions["deps"] = deps
    app.extensions["engine"] = engine
    # discover's modem statuses, read at most once a second per process
    app.extensions["recent_modem_statuses"] = RecentStatuses(deps.clock.monotonic)
    app.url_map.strict_slashes = False
    # No redirect to the merged path either ("/v1//msisdn" -> 308): Werkzeug builds its
    # Location from the request's Host, and answers it in HTML. A 404 JSON instead.
    app.url_map.merge_slashes = False
    errors.install(app)

    @app.before_request
    def _guard():
        check_length(request, deps.settings.max_body_bytes)
        if request.path in UNLIMITED_PATHS:
            return
        # The whole body first: a slow client must never hold the transaction (on SQLite,
        # the write lock) while we wait for its bytes.
        request.get_data(cache=True)
        uow = transaction.begin(deps)  # the request's one transaction, committed after it
        try:
            limit_client(uow, deps, request)
        except TooManyRequests:
            uow.rollback()  # a refused request consumes no budget
            raise

    transaction.install(app)

    app.register_blueprint(meta)
    app.register_blueprint(api)
    app.register_blueprint(textsecure)
    app.register_blueprint(metrics)
    camara.install(app, deps)  # OpenID Connect and Number Verification (issue 13)
    sna.install(app)  # silent authentication for apps (issue 14)
    app.register_blueprint(admin)  # off (404) until an admin password is set
    if deps.settings.simulate:
        from gateway.api.simulator.views import simulator

        app.register_blueprint(simulator)
    return app

"""The application factory: ``create_app(deps, engine)`` returns the Flask app with the
shared plumbing of gateway.http installed and every face's blueprint mounted.

Nothing happens at import time; the composition root (gateway.process, or a test) builds
the dependencies and calls this.
"""
from __future__ import annotations

from flask import Flask, request
from sqlalchemy import Engine

from gateway.api.msisdn_v1.views import api
from gateway.api.service.scrape import metrics
from gateway.api.service.views import meta
from gateway.deps import Deps
from gateway.http import error_handlers as errors
from gateway.http.bodies import check_length
from gateway.http.clients import limit_client

UNLIMITED_PATHS = ("/__heartbeat__", "/__lbheartbeat__", "/metrics")


def create_app(deps: Deps, engine: Engine) -> Flask:
    app = Flask("gateway")
    app.config["PUBLIC_URL"] = deps.settings.public_url
    app.json.sort_keys = False
    app.extensions["deps"] = deps
    app.extensions["engine"] = engine
    app.url_map.strict_slashes = False
    errors.install(app)

    @app.before_request
    def _guard():
        check_length(request, deps.settings.max_body_bytes)
        if request.path not in UNLIMITED_PATHS:
            limit_client(deps, request)

    app.register_blueprint(meta)
    app.register_blueprint(api)
    app.register_blueprint(metrics)
    if deps.settings.simulate:
        from gateway.api.simulator.views import simulator

        app.register_blueprint(simulator)
    return app

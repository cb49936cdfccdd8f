"""``GET /metrics``: Prometheus text exposition of every process of this box (see
gateway.metrics). No authentication, and not counted by the per-client request limit
(``UNLIMITED_PATHS`` in gateway.http.app), like the heartbeats: keep it off the public
side of a reverse proxy."""
from __future__ import annotations

from flask import Blueprint, Response, current_app

from gateway.metrics import exposition

metrics = Blueprint("metrics", __name__)


@metrics.get("/metrics")
def scrape():
    deps = current_app.extensions["deps"]
    body, content_type = exposition(deps.settings, current_app.extensions["engine"],
                                    deps.clock)
    return Response(body, content_type=content_type)

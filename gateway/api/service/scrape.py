"""``GET /metrics``: Prometheus text exposition of every process of this box (see
gateway.metrics). No authentication, and not counted by the per-client request limit
(``UNLIMITED_PATHS`` in gateway.api.app), like the heartbeats: keep it off the public
side of a reverse proxy."""
from __future__ import annotations

from flask import Blueprint, Response, current_app

from gateway.metrics import event_families
from gateway.storage.gauges import DatabaseCollector

metrics = Blueprint("metrics", __name__)


@metrics.get("/metrics")
def scrape():
    deps = current_app.extensions["deps"]
    body, content_type = exposition(deps.settings, current_app.extensions["engine"],
                                    deps.clock)
    return Response(body, content_type=content_type)


class _Scrape:
    """What one scrape exposes (duck-typed as a registry for ``generate_latest``)."""

    def __init__(self, settings, engine, clock) -> None:
        self._settings, self._database = settings, DatabaseCollector(engine, clock)

    def collect(self):
        yield from event_families(self._settings)
        yield from self._database.collect()


def exposition(settings, engine, clock) -> tuple[bytes, str]:
    """The body and content type of ``GET /metrics`` (Prometheus text format 0.0.4, which
    every Prometheus version reads)."""
    from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

    return generate_latest(_Scrape(settings, engine, clock)), CONTENT_TYPE_PLAIN_0_0_4

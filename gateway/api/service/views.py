"""Service endpoints: root, heartbeats, the BrowserID support document."""
from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, request, send_from_directory
from sqlalchemy.exc import SQLAlchemyError

from gateway import __version__
from gateway.verification.capacity import healthy_modems

log = logging.getLogger(__name__)

meta = Blueprint("meta", __name__, static_folder="static")
WARNING_PAGE = "/.well-known/browserid/warning.html"


@meta.get("/")
def root():
    origins = current_app.extensions["origins"]  # never the request's Host as sent
    return jsonify(name="msisdn-gateway", version=__version__,
                   endpoint=origins.base_url(request.scheme, request.host))


@meta.get("/__lbheartbeat__")
def lbheartbeat():
    return jsonify({})


@meta.get("/__heartbeat__")
def heartbeat():
    """200 when every dependency answers, else 503; one entry per dependency: the
    database, and the modems (as the worker last reported them)."""
    deps = current_app.extensions["deps"]
    try:
        with deps.uow(read_only=True) as uow:  # a plain read: no write lock on SQLite
            healthy = len(healthy_modems(uow, deps))
        status = {"database": "ok",
                  "modems": "ok" if healthy else "no healthy modem reported by the worker"}
    except SQLAlchemyError as exc:
        log.warning("heartbeat: database unreachable: %s", exc.__class__.__name__)
        status = {"database": "unreachable", "modems": "unknown"}
    return jsonify(status), 200 if all(v == "ok" for v in status.values()) else 503


@meta.get("/.well-known/browserid")
def browserid_support():
    deps = current_app.extensions["deps"]
    return jsonify({"public-key": deps.signing_key.public_key_document(),
                    "authentication": WARNING_PAGE, "provisioning": WARNING_PAGE})


@meta.get(WARNING_PAGE)
def browserid_warning():
    return send_from_directory(meta.static_folder, "browserid-warning.html")

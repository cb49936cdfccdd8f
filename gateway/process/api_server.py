"""Serving the API with gunicorn: one process per core (``workers``), each an
:class:`~gateway.process.edge_worker.EdgeWorker` (gevent: idle and slow clients hold a
greenlet, not a process; errors of the server itself in JSON). Never Flask's dev server.

The arbiter (this process) binds the socket, tells systemd ``READY=1`` once it listens
(``NOTIFY_SOCKET``), replaces a worker that dies, and on SIGTERM lets each worker finish
its requests (``graceful_timeout``). The app (engine, connections) is built in each
worker after the fork, after gevent's monkey-patching.
"""
from __future__ import annotations

from gunicorn.app.base import BaseApplication

from gateway.logs import gunicorn_logconfig
from gateway.config.settings import Settings
from gateway.process import edge_worker

# gunicorn's request limits (its defaults, written down): longer lines get 414, more
# or larger header fields 431, in JSON.
LIMIT_REQUEST_LINE = 4094
LIMIT_REQUEST_FIELDS = 100
LIMIT_REQUEST_FIELD_SIZE = 8190


class ApiServer(BaseApplication):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        settings = self.settings
        self.cfg.set("bind", [f"{settings.host}:{settings.port}"])
        self.cfg.set("workers", settings.effective_workers)
        self.cfg.set("worker_class", f"{edge_worker.__name__}.EdgeWorker")
        self.cfg.set("logger_class", f"{edge_worker.__name__}.AccessLog")
        self.cfg.set("worker_connections", edge_worker.WORKER_CONNECTIONS)
        # The gevent worker gives a request head (and an idle connection) this long.
        self.cfg.set("keepalive", edge_worker.HEADER_TIMEOUT)
        self.cfg.set("proc_name", "msisdn-gateway-api")
        self.cfg.set("timeout", 30)
        self.cfg.set("graceful_timeout", 20)
        self.cfg.set("loglevel", settings.log_level.lower())
        self.cfg.set("logconfig_dict", gunicorn_logconfig(settings))  # same format as ours
        self.cfg.set("limit_request_line", LIMIT_REQUEST_LINE)
        self.cfg.set("limit_request_fields", LIMIT_REQUEST_FIELDS)
        self.cfg.set("limit_request_field_size", LIMIT_REQUEST_FIELD_SIZE)
        if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 26: no socket in $HOME
            self.cfg.set("control_socket_disable", True)
        # Behind a proxy, honour X-Forwarded-Proto only from the configured proxies.
        self.cfg.set("forwarded_allow_ips", ",".join(settings.trusted_proxies) or "127.0.0.1")

    def load(self):
        from gateway.logs import configure_logging
        from gateway.process.wiring import build_app

        configure_logging(self.settings)
        return edge_worker.WholeBody(build_app(self.settings), self.settings.max_body_bytes)

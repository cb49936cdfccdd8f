"""Serving the API with gunicorn: one process per core (``workers``), each an
:class:`~gateway.process.edge_worker.EdgeWorker` (an asyncio loop: idle and slow clients
hold a protocol object, not a process; a request reaches the app only once whole; errors
of the server itself in JSON). Never Flask's dev server.

The arbiter (this process) binds the socket, tells systemd ``READY=1`` once it listens
(``NOTIFY_SOCKET``), replaces a worker that dies or stops notifying (``timeout``), and on
SIGTERM lets each worker finish its requests (``graceful_timeout``). The app (engine,
connections) is built in each worker after the fork. The request limits, the timeouts and
the trusted proxies for X-Forwarded-Proto are the worker's (gateway.process.edge_worker).
"""
from __future__ import annotations

from gunicorn.app.base import BaseApplication

from gateway.logs import gunicorn_logconfig
from gateway.config.settings import Settings
from gateway.process import edge_worker


class ApiServer(BaseApplication):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        settings = self.settings
        edge_worker.hold_stop_signals_across_forks()  # this process is the arbiter
        self.cfg.set("bind", [f"{settings.host}:{settings.port}"])
        self.cfg.set("workers", settings.effective_workers)
        self.cfg.set("worker_class", f"{edge_worker.__name__}.EdgeWorker")
        self.cfg.set("logger_class", f"{edge_worker.__name__}.AccessLog")
        self.cfg.set("proc_name", "msisdn-gateway-api")
        self.cfg.set("timeout", 30)
        self.cfg.set("graceful_timeout", 20)
        self.cfg.set("loglevel", settings.log_level.lower())
        self.cfg.set("logconfig_dict", gunicorn_logconfig(settings))  # same format as ours
        if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 26: no socket in $HOME
            self.cfg.set("control_socket_disable", True)

    def load(self):
        from gateway.logs import configure_logging
        from gateway.process.wiring import build_app

        configure_logging(self.settings)
        return build_app(self.settings)

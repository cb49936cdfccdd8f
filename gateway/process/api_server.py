"""Serving the API with gunicorn: several worker processes, never Flask's dev server.

The app (engine, connections) is built in each gunicorn worker after the fork.
"""
from __future__ import annotations

from gunicorn.app.base import BaseApplication

from gateway.logs import gunicorn_logconfig
from gateway.config.settings import Settings


class ApiServer(BaseApplication):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        settings = self.settings
        self.cfg.set("bind", [f"{settings.host}:{settings.port}"])
        self.cfg.set("workers", settings.effective_workers)
        self.cfg.set("proc_name", "msisdn-gateway-api")
        self.cfg.set("timeout", 30)
        self.cfg.set("graceful_timeout", 20)
        self.cfg.set("loglevel", settings.log_level.lower())
        self.cfg.set("logconfig_dict", gunicorn_logconfig(settings))  # same format as ours
        self.cfg.set("limit_request_field_size", 8190)
        if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 26: no socket in $HOME
            self.cfg.set("control_socket_disable", True)
        # Behind a proxy, honour X-Forwarded-Proto only from the configured proxies.
        self.cfg.set("forwarded_allow_ips", ",".join(settings.trusted_proxies) or "127.0.0.1")

    def load(self):
        from gateway.logs import configure_logging
        from gateway.process.wiring import build_app

        configure_logging(self.settings)
        return build_app(self.settings)

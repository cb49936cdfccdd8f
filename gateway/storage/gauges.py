"""The state half of ``/metrics`` (see gateway.metrics): gauges read from the database at
each scrape, the outbox queue depth and what each worker last published of each of its
modems (labelled ``worker`` and ``modem``: modem names repeat across boxes)."""
from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from gateway.metrics import PREFIX
from gateway.storage.models import ModemStatus, OutboundSms

log = logging.getLogger(__name__)

QUEUE_STATUSES = ("queued", "sending")
REGISTRATION_STATES = ("home", "roaming", "searching", "denied", "not_registered", "unknown")


class DatabaseCollector:
    """Gauges read from the database at each scrape: outbox queue depth and what the worker
    last published of each modem. ``clock`` dates the status age. A database that does
    not answer gives ``database_up 0`` and no other gauge (logged, never raised)."""

    def __init__(self, engine, clock) -> None:
        self._engine, self._clock = engine, clock

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily(PREFIX + "database_up",
                               "1 when the database answered this scrape, else 0.")
        try:
            with self._engine.connect() as connection:
                queue = dict(connection.execute(
                    select(OutboundSms.status, func.count()).where(
                        OutboundSms.status.in_(QUEUE_STATUSES)).group_by(OutboundSms.status)
                ).all())
                modems = connection.execute(select(ModemStatus).order_by(
                    ModemStatus.worker, ModemStatus.name)).all()
        except SQLAlchemyError as exc:
            log.warning("metrics: database unreachable: %s", exc.__class__.__name__)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        depth = GaugeMetricFamily(PREFIX + "outbox_queue_depth", "Outbox rows waiting "
                                  "(queued, including retries) or being sent.",
                                  labels=["status"])
        for status in QUEUE_STATUSES:
            depth.add_metric([status], queue.get(status, 0))
        return [up, depth, *self._modem_families(modems)]

    def _modem_families(self, modems) -> list:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        def gauge(name: str, documentation: str, labels=("worker", "modem")):
            return GaugeMetricFamily(PREFIX + name, documentation, labels=list(labels))

        healthy = gauge("modem_healthy", "1 when the modem is ready and registered.")
        signal = gauge("modem_signal_dbm", "Signal strength (AT+CSQ) in dBm.")
        registration = gauge("modem_registration", "1 for the modem's current network "
                             "registration state, 0 for the others.",
                             ("worker", "modem", "state"))
        sent_today = gauge("modem_sent_today", "SMS parts sent today (UTC) by the modem.")
        quota = gauge("modem_daily_quota", "The modem's configured daily_quota of parts.")
        age = gauge("modem_status_age_seconds", "Seconds since the worker last published "
                    "this modem's status (every 5 s while it runs).")
        failures = CounterMetricFamily(
            PREFIX + "modem_send_failures", "Sends refused or with an unknown outcome on "
            "this modem since the worker started (failovers included).",
            labels=["worker", "modem"])
        now = self._clock.now()
        for row in modems:
            name = [row.worker, row.name]
            healthy.add_metric(name, 1 if row.healthy else 0)
            if row.signal_dbm is not None:
                signal.add_metric(name, row.signal_dbm)
            current = row.registration or "unknown"
            for state in dict.fromkeys(REGISTRATION_STATES + (current,)):
                registration.add_metric([*name, state], 1 if state == current else 0)
            sent_today.add_metric(name, row.sent_today)
            if row.daily_quota is not None:
                quota.add_metric(name, row.daily_quota)
            age.add_metric(name, max(0.0, (now - row.updated_at).total_seconds()))
            failures.add_metric(name, row.failed)
        return [healthy, signal, registration, sent_today, quota, age, failures]

"""Prometheus metrics: what is counted where, and how one scrape sees every process.

Two kinds of numbers, two sources, chosen deliberately:

* **Events** (the counters and the send-latency histogram) happen in several processes:
  the gunicorn workers (codes sent, code checks) and the worker process (sends, delivery
  reports, SMS received, codes sent by the SMS-MO flow). They exist nowhere else (the
  outbox forgets its rows after a day), so each process records them where they happen
  with prometheus_client, and a scrape, which lands on one gunicorn worker, must add up
  every process: prometheus_client's **multiprocess mode**. Each process writes its values
  to small mmap files under ``<metrics_dir>/<role>/`` (role ``api`` or ``worker``) and
  ``/metrics`` merges every file under ``<metrics_dir>``. The files of a process that
  exited still count, so a counter does not go down when gunicorn replaces a worker. Each
  role empties its own directory when it starts (:func:`prepare_process_dir`): restarting
  the API alone does not erase the worker's counts, and files do not pile up for months.
* **State** (outbox queue depth; modem health, signal, registration, sends today) is
  already in the database: the outbox, and ``modem_status`` that the worker rewrites every
  5 s. :class:`gateway.storage.gauges.DatabaseCollector` reads it at each scrape instead of copying it into
  multiprocess gauges: one source of truth, the same answer from every API process, no
  gauge files of dead processes to reconcile, and ``modem_status_age_seconds`` shows when
  the worker stopped reporting.

prometheus_client chooses multiprocess mode from the environment variable
``PROMETHEUS_MULTIPROC_DIR`` (:data:`MULTIPROC_ENV`) when it is first imported, and reads it
again for every file it creates. So the composition root sets it to
``prepare_process_dir(settings, role)`` in the ``api`` and ``worker`` commands before
anything imports prometheus_client (``serve`` runs those two commands as its children), and
this module imports prometheus_client only inside functions and creates its metrics on
first use: importing it does nothing. A process without the variable (tests, the admin
commands) keeps its values in memory, and its ``/metrics`` shows that process alone.

Threads: every function here may be called from any thread.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import CodeGone, InvalidCode

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
ROLES = ("api", "worker")
PREFIX = "msisdn_gateway_"
NO_MODEM = "none"  # a failure no modem accepted any part of
# Seconds from claim to +CMGS: ~0.1 s on an idle modem, up to send_timeout (120 s) on LTE.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)


def metrics_dir(settings) -> Path:
    """Where the processes of this box write their metric files (setting ``metrics_dir``,
    default ``<state_dir>/metrics``)."""
    return Path(getattr(settings, "metrics_dir", None) or settings.state_dir / "metrics")


def prepare_process_dir(settings, role: str) -> Path:
    """Create ``<metrics_dir>/<role>`` and delete the files of its previous run; returns it.
    Call once per start of a role, before its processes (gunicorn's workers) exist.
    Raises OSError (directory not writable) and ValueError (unknown role)."""
    if role not in ROLES:
        raise ValueError(f"metrics role {role!r} is not one of {', '.join(ROLES)}")
    directory = metrics_dir(settings) / role
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.db"):
        old.unlink()
    return directory


class _Events:
    """This process's event metrics, in a registry of their own."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry(auto_describe=True)

        def counter(name: str, documentation: str, labels: list[str]):
            return Counter(PREFIX + name, documentation, labels, registry=self.registry)

        self.sent = counter("sms_sent", "SMS accepted by the network (+CMGS), by modem.",
                            ["modem"])
        self.failed = counter(
            "sms_failed", "SMS that ended failed at sending, unknown (no answer in time) or "
            "undelivered (failed delivery report), by modem ('none' when no modem took any "
            "part) and outcome.", ["modem", "outcome"])
        self.delivered = counter("sms_delivered",
                                 "SMS whose every part was reported delivered, by modem.",
                                 ["modem"])
        self.send_seconds = Histogram(
            PREFIX + "sms_send_seconds", "Seconds from claiming an outbox row to the "
            "modem's acceptance of its last part, by modem.", ["modem"],
            buckets=LATENCY_BUCKETS, registry=self.registry)
        self.received = counter("sms_received", "SMS received (stored in the inbox), by "
                                "modem and kind (momt-verify, other).", ["modem", "kind"])
        self.codes_sent = counter(
            "verification_codes_sent", "Verification codes queued (sms/mt verify, "
            "resend_code, SMS-MO), by method and code kind.", ["method", "code_kind"])
        self.code_checks = counter(
            "verification_attempts", "verify_code attempts by method, code kind and "
            "outcome (verified, wrong_code, gone: expired or burnt, no_code).",
            ["method", "code_kind", "outcome"])
        self.destinations_refused = counter(
            "destinations_refused", "Code SMS refused by the destination policy or the "
            "pumping guard (gateway.guard), by reason (denied_prefix, network, "
            "non_geographic, country, number_type, pumping).", ["reason"])
        self.rate_limited = counter(
            "rate_limited", "Requests refused by a rate limit (429), by limit: client "
            "(requests per address), client-sms (code SMS per address), msisdn, "
            "short-code, method (the global budget).", ["limit"])
        self.guard_blocks = counter(
            "guard_blocks", "Destination prefixes blocked by pumping detection (many code "
            "SMS, few verified), by the prefix's country.", ["country"])
        self.chatter_dropped = counter(
            "modem_chatter_dropped", "Chatter notices (signal reports, registration, vendor "
            "status lines) dropped because a modem's events queue was full, by modem. "
            "Message and delivery report notices are never dropped.", ["modem"])


_events: _Events | None = None
_events_lock = threading.Lock()


def _get() -> _Events:
    global _events
    if _events is None:
        with _events_lock:
            if _events is None:
                _events = _Events()
    return _events


def sms_accepted(modem: str, seconds: float) -> None:
    """``modem`` accepted an SMS ``seconds`` after its row was claimed."""
    _get().send_seconds.labels(modem).observe(max(0.0, seconds))


def outbox_finished(status: str, modem: str | None, count: int = 1) -> None:
    """``count`` outbox rows left the dispatcher with ``status``: "sent" counts as sent,
    "failed" and "unknown" as failed with that outcome; anything else (back to "queued")
    counts nothing."""
    events = _get()
    if status == "sent":
        events.sent.labels(modem or NO_MODEM).inc(count)
    elif status in ("failed", "unknown") and count:
        events.failed.labels(modem or NO_MODEM, status).inc(count)


def report_applied(before: str, after: str, modem: str) -> None:
    """A delivery report moved an outbox row from ``before`` to ``after``."""
    if before == after:
        return
    if after == "delivered":
        _get().delivered.labels(modem).inc()
    elif after == "failed":
        _get().failed.labels(modem, "undelivered").inc()


def sms_received(modem: str, kind: str) -> None:
    """A new SMS (not a redelivery) was stored in the inbox."""
    _get().received.labels(modem, kind).inc()


def code_sent(method: str, short_code: bool) -> None:
    """A verification code was committed to the outbox."""
    _get().codes_sent.labels(method, "short" if short_code else "long").inc()


def destination_refused(reason: str) -> None:
    """A code SMS was refused by the destination policy or the pumping guard."""
    _get().destinations_refused.labels(reason).inc()


def rate_limited(limit: str) -> None:
    """A rate limit (its scope in gateway.verification.ratelimit) refused a request."""
    _get().rate_limited.labels(limit).inc()


def guard_blocked(country: str | None) -> None:
    """Pumping detection blocked a prefix of ``country`` (ISO 3166, "001", or None)."""
    _get().guard_blocks.labels(country or "unknown").inc()


def chatter_dropped(modem: str) -> None:
    """The worker's pool dropped a chatter notice of ``modem`` (on its reader thread)."""
    _get().chatter_dropped.labels(modem).inc()


@dataclass
class CodeCheck:
    """Filled in by verify_code: the code row checked (None when none is pending)."""

    code: object = None  # gateway.storage.models.VerificationCode


@contextmanager
def code_check():
    """Count one verify_code attempt by what leaves the block: no error is "verified",
    InvalidCode "wrong_code" (or "no_code" without ``check.code``), CodeGone "gone".
    Other errors (unknown session, database) are not code checks and count nothing."""
    check = CodeCheck()
    try:
        yield check
    except InvalidCode:
        _count_check(check, "wrong_code" if check.code is not None else "no_code")
        raise
    except CodeGone:
        _count_check(check, "gone")
        raise
    _count_check(check, "verified")


def _count_check(check: CodeCheck, outcome: str) -> None:
    method = getattr(check.code, "method", None) or "none"
    kind = getattr(check.code, "kind", None) or "none"
    _get().code_checks.labels(method, kind, outcome).inc()


def event_families(settings):
    """The event metrics: every process's files in multiprocess mode, else this process's."""
    from prometheus_client import values
    from prometheus_client.multiprocess import MultiProcessCollector

    if values.ValueClass is values.MutexValue:
        return list(_get().registry.collect())
    files = sorted(str(path) for path in metrics_dir(settings).glob("*/*.db"))
    return list(MultiProcessCollector.merge(files, accumulate=True))

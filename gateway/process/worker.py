"""The worker process: owns the modem pool and the scheduler. One per box.

Pumps, each a named thread that runs its job when woken and at least every interval:
``dispatch`` claims due outbox rows (every ``dispatch_interval`` seconds, and at once when
the doorbell rings: an API process committed an SMS, see gateway.pipeline.doorbell); under
--simulate, ``simulation`` moves the virtual network and its mailboxes (every
``SIMULATION_INTERVAL``, at once when the doorbell rings for the simulator and when the
virtual network has a delivery to make); ``webhooks`` delivers due webhooks
(gateway.pipeline.webhooks, every ``WEBHOOK_INTERVAL`` seconds, when the next retry is due,
and at once when the doorbell rings for a webhook queued). Each pump is woken by the rings
of its own kind of work only (gateway.pipeline.doorbell). Jobs (APScheduler): ``status``
publishes modem health to the database every ``STATUS_INTERVAL`` seconds; ``lease``
renews the worker's heartbeat and the leases of the SMS it is sending, and marks unknown
those of workers that died, every third of ``worker_lease`` (gateway.pipeline.leases);
``cleanup`` removes expired rows every ``cleanup_interval``. Each job is logged with its
traceback if it fails, never stopping the rest. Inbound SMS and delivery reports arrive
on the pool's inbound thread.

Stopping (SIGTERM/SIGINT): no new claims, the sends in progress finish, the pool closes.
Nothing accepted is lost: unsent rows stay queued in the database.

Identity: the worker writes its identity (``worker_id``, else made once per box:
gateway.config.worker_identity) to every row it claims, to its modems' status and to its
heartbeat; at start it refuses an identity that another live worker uses.

The service manager (``gateway.process.sd_notify``; under `serve`, serve's relay, which alone talks
to systemd) hears from ``Worker.start``: ``STATUS=`` how many modems are ready (while
opening them, then from the ``status`` job when it changed), ``READY=1`` once the modems
are open and the jobs run, ``WATCHDOG=1`` from the ``watchdog`` job every half watchdog
timeout (only when a watchdog is configured); and from ``Worker.stop``: ``STOPPING=1``.
"""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from gateway import metrics
from gateway.clock import start_of_utc_day
from gateway.config.worker_identity import worker_identity
from gateway.pipeline import status
from gateway.pipeline.dispatch import Dispatcher
from gateway.pipeline.doorbell import DoorbellListener, bell_address
from gateway.pipeline.inbound import store_inbound
from gateway.pipeline.leases import Instance, Presence
from gateway.pipeline.reports import ReportBacklog
from gateway.pipeline.simulation import Simulation
from gateway.pipeline.webhooks import WebhookSender
from gateway.process.sd_notify import Notifier, modems_status
from gateway.process.signals import StopSignals
from gateway.storage.transaction import OUTBOX_WORK, SIMULATOR_WORK, WEBHOOK_WORK
from gateway.verification import sna
from gateway.deps import Deps
from modem.pool import ModemPool

log = logging.getLogger(__name__)

OUTBOX_RETENTION_SECONDS = 86400
# A worker silent for this long is forgotten (`msisdn-gateway modems` lists it till then).
WORKER_RETENTION_SECONDS = 7 * 86400
STATUS_INTERVAL = 5.0
# The simulation pump is woken by the doorbell (phone and fault requests) and by the
# virtual network (a delivery scheduled), and runs when its parts are due: this is only
# the safety net (and how often it reads the requests without a ring: simulation's
# READ_EVERY).
SIMULATION_INTERVAL = 1.0
WEBHOOK_INTERVAL = 2.0  # seconds between looks at the webhook table at most


def cleanup(deps: Deps) -> dict:
    """One cleanup pass; returns rows removed per table."""
    now = deps.now()
    with deps.uow() as uow:
        # First: SNA requests whose time is up get their final status and webhook
        # before the housekeeping below may delete them.
        ended = sna.end_expired(uow, deps)
        counts = uow.delete_expired(now, OUTBOX_RETENTION_SECONDS,
                                    deps.settings.inbox_retention)
        counts["sna_ended"] = ended
        counts["workers"] = uow.workers.forget_silent(
            now - timedelta(seconds=WORKER_RETENTION_SECONDS))
        uow.commit()
    removed = {table: n for table, n in counts.items() if n}
    if removed:
        log.info("cleanup removed %s", removed)
    return counts


def _guarded(name: str, job, *args):
    def run():
        try:
            return job(*args)
        except Exception:  # top of a job: log with traceback, keep the scheduler alive
            log.exception("job %s failed", name)
    return run


class Pump:
    """A thread named ``name`` that runs ``job`` when woken (``wake()``, from any thread)
    and at least every ``interval`` seconds, or sooner when the job returns the seconds
    until it wants to run again. A wake during a run makes one more run right after it,
    so nothing rung is missed and runs never overlap."""

    def __init__(self, name: str, job, interval: float) -> None:
        self.name, self._job, self._interval = name, _guarded(name, job), interval
        self._woken, self._stopping = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def wake(self) -> None:
        self._woken.set()

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._woken.clear()
            again = self._job()
            self._woken.wait(self._interval if again is None
                             else max(0.0, min(self._interval, again)))

    def stop(self) -> None:
        """Let the run in progress finish; no new one starts."""
        self._stopping.set()
        self._woken.set()
        if self._thread.is_alive():
            self._thread.join()


class Worker:
    """The worker's object graph. ``pool`` and ``simulation`` may be given by tests."""

    def __init__(self, deps: Deps, *, pool: ModemPool | None = None,
                 simulation: Simulation | None = None, worker_id: str | None = None) -> None:
        settings = deps.settings
        self.deps = deps
        self.simulation = simulation or (Simulation(settings) if settings.simulate else None)
        if self.simulation:  # what its network accepts for phones goes to the database
            self.simulation.attach(deps)
        configs = self.simulation.modem_configs if self.simulation else settings.modems
        if not configs:
            log.warning("no modems configured: SMS stay queued (see `modems` in the README)")
        self.pool = pool or ModemPool(configs, on_chatter_dropped=metrics.chatter_dropped)
        self.worker_id = worker_id or worker_identity(settings)
        self.presence = Presence(deps, Instance(self.worker_id))
        self.report_backlog = ReportBacklog(deps, self.worker_id)
        self.webhooks = WebhookSender(deps)  # issue 14: signed webhooks, at least once
        self.dispatcher = Dispatcher(deps, self.pool, self.worker_id,
                                     slots=len(configs), on_recorded=self.report_backlog.retry,
                                     on_free=self._slot_freed)
        self.scheduler = BackgroundScheduler(timezone="UTC", job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": 5})
        self.pumps: list[Pump] = []
        self.doorbell: DoorbellListener | None = None

    def _parts_sent_today(self) -> dict[str, int]:
        with self.deps.uow() as uow:
            return uow.outbox.parts_sent_since(start_of_utc_day(self.deps.now()),
                                               self.worker_id)

    def _slot_freed(self) -> None:
        """A send thread is free: claim the next due row now (the dispatch pump), so that
        the modems' speeds add up instead of waiting for the next poll."""
        if self.pumps:
            self.pumps[0].wake()

    def publish_status(self) -> None:
        """Publish modem health (and apply delivery reports still waiting for their send)."""
        self.report_backlog.retry()
        status.publish(self.deps, self.worker_id, self.pool.health(),
                       self.dispatcher.speeds())

    def handle_sms(self, sms) -> None:
        """Pool inbound thread: store (and act on) a received SMS; raising keeps it on the SIM."""
        store_inbound(self.deps, sms)

    def handle_report(self, report) -> None:
        """Pool inbound thread: apply a delivery report (or keep it until its send is
        recorded)."""
        self.report_backlog.handle(report)

    def start(self, run_jobs: bool = True) -> None:
        """Join the database's workers under this worker's identity (raises
        WorkerIdentityInUse when another live worker has it), recover interrupted sends,
        open the modems and (unless ``run_jobs`` is False, for tests that drive the jobs
        themselves) start the scheduler.

        Tells the service manager (``gateway.process.sd_notify``; under `serve`, serve's relay) the
        modems' STATUS while opening them and at each status job when it changed, READY=1
        once they are open and the jobs run, and WATCHDOG=1 from a scheduler job every half
        watchdog timeout, so that a hung scheduler stops the keep-alives."""
        deps = self.deps
        notifier = Notifier.for_settings(deps.settings)
        notifier.status(f"opening {len(self.pool.health())} modem(s)")
        self.presence.join()
        self.dispatcher.recover_interrupted()
        self.pool.carry_over_sent_today(self._parts_sent_today())  # quotas survive restarts
        self.pool.start(on_sms=self.handle_sms, on_report=self.handle_report)
        self.pool.maintain()  # sweep now: SMS that arrived while nothing listened
        if not run_jobs:
            notifier.ready(modems_status(self.pool.health()))
            return

        def publish_status() -> None:
            self.publish_status()
            notifier.update_status(modems_status(self.pool.health()))

        def dispatch() -> None:  # the futures are for tests; a pump's job returns seconds
            self.dispatcher.dispatch_due()

        dispatching = Pump("dispatch", dispatch, deps.settings.dispatch_interval)
        sending_webhooks = Pump("webhooks", self.webhooks.deliver_due, WEBHOOK_INTERVAL)
        self.pumps = [dispatching, sending_webhooks]
        rung = {OUTBOX_WORK: [dispatching.wake], WEBHOOK_WORK: [sending_webhooks.wake]}
        if self.simulation:
            simulation = Pump("simulation", lambda: self.simulation.run(deps),
                              SIMULATION_INTERVAL)
            self.simulation.network.on_schedule = simulation.wake
            self.pumps.append(simulation)
            rung[SIMULATOR_WORK] = [self.simulation.requests_arrived, simulation.wake]
        self.doorbell = DoorbellListener(bell_address(deps.settings.effective_database_url),
                                         rung)
        self.doorbell.start()
        for pump in self.pumps:
            pump.start()
        jobs = [("status", publish_status, STATUS_INTERVAL),
                ("lease", self.presence.heartbeat, self.presence.interval),
                ("cleanup", lambda: cleanup(deps), deps.settings.cleanup_interval)]
        if notifier.keepalive_interval:
            jobs.append(("watchdog", notifier.watchdog, notifier.keepalive_interval))
        for name, job, seconds in jobs:
            _guarded(name, job)()  # once now, then on schedule
            self.scheduler.add_job(_guarded(name, job), "interval", seconds=seconds,
                                   id=name, name=name)
        self.scheduler.start()
        notifier.ready(modems_status(self.pool.health()))
        log.info("worker started with %d modem(s) (%s)", len(self.pool.health()),
                 self.worker_id)

    def stop(self) -> None:
        Notifier.for_settings(self.deps.settings).stopping(
            "stopping: finishing the sends in progress")
        if self.doorbell is not None:
            self.doorbell.stop()
        for pump in self.pumps:
            pump.stop()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.dispatcher.close()
        self.report_backlog.release_all()  # before the modems close: they come again
        self.pool.stop()
        _guarded("leave", self.presence.leave)()
        log.info("worker stopped (%s)", self.worker_id)


def run_worker(deps: Deps) -> None:
    """Run the worker until SIGTERM/SIGINT (main thread: gateway.process.signals says why
    the wait is not an Event's). A signal that comes while the modems open is kept: the
    worker stops as soon as it has started. Later signals change nothing until the
    process ends (the handlers stay: a second one must not kill a clean stop)."""
    signals = StopSignals()
    worker = Worker(deps)
    worker.start()
    signals.wait()
    worker.stop()

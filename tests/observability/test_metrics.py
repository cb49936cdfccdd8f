"""GET /metrics over real HTTP: the verification counters after register, sms/mt/verify and
verify_code; the pipeline counters and latency histogram after sends through the real
worker pieces over simulated modems; the gauges read from the database; and, in
prometheus_client's multiprocess mode, values written by two processes collected by a
third. Counters live as long as the test process, so tests compare before and after."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families
from requests_hawk import HawkAuth
from sqlalchemy import create_engine

import modem.sim
from gateway.metrics import MULTIPROC_ENV, prepare_process_dir
from gateway.storage.gauges import DatabaseCollector
from gateway.pipeline.simulation import Simulation
from gateway.process.wiring import prepare_database
from gateway.process.worker import Worker

PHONE = "+33612345678"
DELIVERY_DELAY = 5.0
ROOT = Path(__file__).resolve().parents[2]


def samples_of(text: str) -> dict:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def scrape(gw) -> dict:
    response = gw.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples_of(response.text)


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: dict, after: dict, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def mt_verify(gw, token, number=PHONE, **extra):
    body = {"msisdn": number, "mcc": "208", **extra}
    assert gw.post("/v1/msisdn/sms/mt/verify", body, token).status_code == 204


def verify(gw, token, code):
    return gw.post("/v1/msisdn/sms/verify_code", {"code": code}, token)


def test_metrics_need_no_auth_and_escape_the_per_client_limit(start_gateway):
    gw = start_gateway(rate_limit_client=("2/1m",))
    assert all(gw.get("/metrics").status_code == 200 for _ in range(5))
    assert gw.post("/v1/msisdn/register").status_code == 200  # the limit was not spent


def test_a_short_code_sent_then_checked_wrong_and_right_moves_the_verification_counters(
        gateway):
    before = scrape(gateway)
    token = gateway.register()
    mt_verify(gateway, token, shortVerificationCode=True)
    code = re.search(r"\d{6}", gateway.last_sms_to(PHONE)).group()
    wrong = f"{(int(code) + 1) % 10 ** 6:06d}"
    assert verify(gateway, token, wrong).status_code == 400
    assert verify(gateway, token, code).status_code == 200
    after = scrape(gateway)
    short = {"method": "sms/mt", "code_kind": "short"}
    attempts = "msisdn_gateway_verification_attempts_total"
    assert moved(before, after, "msisdn_gateway_verification_codes_sent_total", **short) == 1
    assert moved(before, after, attempts, outcome="wrong_code", **short) == 1
    assert moved(before, after, attempts, outcome="verified", **short) == 1


def test_long_codes_resends_missing_and_burnt_codes_are_counted_apart(start_gateway):
    gw = start_gateway(max_code_attempts=1)
    before = scrape(gw)
    token = gw.register()
    assert verify(gw, token, "123456").status_code == 400  # nothing sent yet
    mt_verify(gw, token)
    assert gw.post("/v1/msisdn/sms/resend_code", {}, token).status_code == 204
    assert verify(gw, token, "ab" * 32).status_code == 400
    assert verify(gw, token, gw.last_sms_to(PHONE)).status_code == 410  # burnt by the try
    after = scrape(gw)
    long = {"method": "sms/mt", "code_kind": "long"}
    attempts = "msisdn_gateway_verification_attempts_total"
    assert moved(before, after, "msisdn_gateway_verification_codes_sent_total", **long) == 2
    assert moved(before, after, attempts, method="none", code_kind="none",
                 outcome="no_code") == 1
    assert moved(before, after, attempts, outcome="wrong_code", **long) == 1
    assert moved(before, after, attempts, outcome="gone", **long) == 1
    assert moved(before, after, attempts, outcome="verified", **long) == 0


def test_queue_depth_and_modem_gauges_come_from_the_database(start_gateway, clock):
    gw = start_gateway(modems=0)
    gw.publish_modem("modem0", signal_dbm=-71, registration="home", sent_today=4,
                     daily_quota=500, failed=2)
    gw.publish_modem("modem1", healthy=False, signal_dbm=None, registration="searching")
    mt_verify(gw, gw.register())
    mt_verify(gw, gw.register(), number="+33698765432")
    clock.advance(30)
    samples = scrape(gw)
    modem0 = {"worker": "box-a", "modem": "modem0"}
    modem1 = {"worker": "box-a", "modem": "modem1"}
    for name, labels, expected in [
            ("database_up", {}, 1), ("outbox_queue_depth", {"status": "queued"}, 2),
            ("outbox_queue_depth", {"status": "sending"}, 0), ("modem_signal_dbm", modem0, -71),
            ("modem_registration", {**modem0, "state": "home"}, 1),
            ("modem_registration", {**modem0, "state": "searching"}, 0),
            ("modem_registration", {**modem1, "state": "searching"}, 1),
            ("modem_healthy", modem0, 1), ("modem_healthy", modem1, 0),
            ("modem_status_age_seconds", modem0, 30), ("modem_sent_today", modem0, 4),
            ("modem_daily_quota", modem0, 500), ("modem_send_failures_total", modem0, 2)]:
        assert samples[("msisdn_gateway_" + name, frozenset(labels.items()))] == expected, name
    assert ("msisdn_gateway_modem_signal_dbm", frozenset(modem1.items())) not in samples


def test_an_unreachable_database_gives_database_up_zero_not_an_error(tmp_path, clock, caplog):
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'db.sqlite3'}")
    try:
        families = list(DatabaseCollector(engine, clock).collect())
    finally:
        engine.dispose()
    assert [(f.name, [s.value for s in f.samples]) for f in families] == [
        ("msisdn_gateway_database_up", [0])]
    assert "database unreachable" in caplog.text


class ReportingWorker(Worker):
    """The real worker, driven by the test: inbound SMS and reports are awaited."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.changed = threading.Condition()
        self.stored = self.reports = 0

    def _bump(self, counter: str) -> None:
        with self.changed:
            setattr(self, counter, getattr(self, counter) + 1)
            self.changed.notify_all()

    def handle_sms(self, sms):
        super().handle_sms(sms)
        self._bump("stored")

    def handle_report(self, report):
        super().handle_report(report)
        self._bump("reports")

    def wait(self, predicate) -> None:
        with self.changed:
            assert self.changed.wait_for(predicate, 10), "timed out waiting for the modems"

    def send_due(self) -> None:
        [send] = self.dispatcher.dispatch_due()
        send.result(timeout=30)


@pytest.fixture
def pipeline(start_gateway):
    workers = []

    def start(network_clock=None, **overrides):
        gw = start_gateway(modems=0, simulate=True, **overrides)
        worker = ReportingWorker(gw.deps, simulation=Simulation(gw.settings, network_clock),
                                 worker_id="test-worker")
        workers.append(worker)
        worker.start(run_jobs=False)
        worker.publish_status()
        return gw, worker

    yield start
    for worker in workers:
        worker.stop()
    modem.sim.reset_networks()


def send_and_report(worker, network_clock) -> None:
    """Send the due row, then let the network deliver it and report. (The report comes
    after the send's commit here, so the count is applied at once, not from the backlog.)"""
    worker.send_due()
    network_clock.advance(DELIVERY_DELAY)
    worker.simulation.network.tick()
    worker.wait(lambda: worker.reports == 1)


@pytest.mark.parametrize("report_status, counter, labels", [
    (0x00, "msisdn_gateway_sms_delivered_total", {"modem": "sim0"}),
    (0x41, "msisdn_gateway_sms_failed_total", {"modem": "sim0", "outcome": "undelivered"})])
def test_a_send_moves_sent_and_latency_then_delivered_or_undelivered_for_its_modem(
        pipeline, report_status, counter, labels):
    network_clock = modem.sim.ManualClock()
    gw, worker = pipeline(network_clock, simulated_delay=DELIVERY_DELAY)
    worker.simulation.network.phone(PHONE).report_status = report_status  # 0x41: failed
    before = scrape(gw)
    mt_verify(gw, gw.register())
    send_and_report(worker, network_clock)
    after = scrape(gw)
    assert moved(before, after, "msisdn_gateway_sms_sent_total", modem="sim0") == 1
    assert moved(before, after, counter, **labels) == 1
    assert moved(before, after, "msisdn_gateway_sms_send_seconds_count", modem="sim0") == 1
    # The gateway's clock is fake and did not move: the send took 0 s by it.
    assert moved(before, after, "msisdn_gateway_sms_send_seconds_bucket", modem="sim0",
                 le="0.1") == 1


def test_a_send_every_modem_rejects_counts_as_failed_and_as_a_failure_of_the_modem(pipeline):
    gw, worker = pipeline(max_send_attempts=1)
    worker.simulation.network.modem("sim0").inject("cms_error", 38)
    before = scrape(gw)
    mt_verify(gw, gw.register())
    worker.send_due()
    worker.publish_status()
    after = scrape(gw)
    assert moved(before, after, "msisdn_gateway_sms_failed_total", modem="none",
                 outcome="failed") == 1
    assert value(after, "msisdn_gateway_modem_send_failures_total", worker="test-worker",
                 modem="sim0") == 1
    assert moved(before, after, "msisdn_gateway_sms_send_seconds_count", modem="sim0") == 0


def test_sms_received_are_counted_by_kind_and_an_sms_mo_request_sends_a_long_code(pipeline):
    gw, worker = pipeline()
    token = gw.register()
    hawk_id = HawkAuth(hawk_session=token).credentials["id"].decode()
    before = scrape(gw)
    for count, text in enumerate(["STOP", f"/v1/msisdn/sms/momt/verify {hawk_id}"], 1):
        response = gw.post(f"/__sim__/phones/{PHONE}/messages",
                           {"to": "+33700000001", "text": text})
        assert response.status_code == 202
        worker.simulation.sync(gw.deps)
        worker.wait(lambda: worker.stored == count)
    after = scrape(gw)
    received = "msisdn_gateway_sms_received_total"
    assert moved(before, after, received, modem="sim0", kind="other") == 1
    assert moved(before, after, received, modem="sim0", kind="momt-verify") == 1
    assert moved(before, after, "msisdn_gateway_verification_codes_sent_total",
                 method="sms/momt", code_kind="long") == 1


WRITER = """
import sys
from gateway import metrics
metrics.outbox_finished("sent", "sim0", count=int(sys.argv[1]))
metrics.sms_accepted("sim0", float(sys.argv[2]))
metrics.code_sent("sms/mt", short_code=True)
"""

COLLECTOR = """
import json, sys
from gateway.config.settings import load_settings
from gateway.process.wiring import build_app
settings = load_settings(overrides=json.loads(sys.argv[1]), environ={})
print(build_app(settings).test_client().get("/metrics").get_data(as_text=True))
"""


def run_as(role_dir: Path, script: str, *args: str) -> str:
    """``script`` in a fresh interpreter in multiprocess mode, writing under ``role_dir``,
    as the composition root starts the api and worker processes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSISDN_GATEWAY_")}
    env[MULTIPROC_ENV] = str(role_dir)
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_values_written_by_two_processes_are_summed_by_the_collecting_one(make_settings):
    settings = make_settings()
    prepare_database(settings).dispose()
    flags = json.dumps({"state_dir": str(settings.state_dir),
                        "signing_key_file": str(settings.signing_key_file),
                        "secret_key_file": str(settings.secret_key_file)})
    worker_dir = prepare_process_dir(settings, "worker")
    api_dir = prepare_process_dir(settings, "api")
    run_as(worker_dir, WRITER, "2", "0.5")
    run_as(api_dir, WRITER, "3", "1.5")

    samples = samples_of(run_as(api_dir, COLLECTOR, flags))
    assert value(samples, "msisdn_gateway_sms_sent_total", modem="sim0") == 5
    assert value(samples, "msisdn_gateway_sms_send_seconds_count", modem="sim0") == 2
    assert value(samples, "msisdn_gateway_sms_send_seconds_sum", modem="sim0") == 2.0
    assert value(samples, "msisdn_gateway_sms_send_seconds_bucket", modem="sim0",
                 le="1.0") == 1
    assert value(samples, "msisdn_gateway_verification_codes_sent_total",
                 method="sms/mt", code_kind="short") == 2
    assert value(samples, "msisdn_gateway_database_up") == 1

    prepare_process_dir(settings, "api")  # the API restarts: its old files go, not the worker's
    samples = samples_of(run_as(api_dir, COLLECTOR, flags))
    assert value(samples, "msisdn_gateway_sms_sent_total", modem="sim0") == 2


def test_importing_the_processes_code_leaves_prometheus_client_unloaded():
    # The composition root sets PROMETHEUS_MULTIPROC_DIR after these imports and before
    # prometheus_client is first imported, which fixes its mode for the process.
    script = ("import sys, gateway.cli.server_commands, gateway.process.worker, gateway.process.api_server, gateway.api.app; "
              "print('prometheus_client' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "False"), done.stderr


def test_a_metrics_directory_is_only_for_the_api_or_the_worker():
    with pytest.raises(ValueError, match="role"):
        prepare_process_dir(SimpleNamespace(state_dir=ROOT / "nowhere"), "scheduler")

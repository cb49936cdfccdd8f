"""The soak (issue 11, point 9), shared by tests/e2e/test_soak.py (10 rounds, in `make
test`) and bench/soak.py (100 rounds, `make bench-soak`).

`msisdn-gateway api --simulate` and `msisdn-gateway worker --simulate` run apart on one
SQLite database (two simulated modems, a delivery delay of SIMULATED_DELAY), so that the
API keeps taking verifications while the worker is dead. A client thread asks for
verifications through the API (register, then sms/mt/verify), each to a number of its own,
for as long as the soak lasts. Each round, at moments drawn from the seed: a modem may be
slowed (its +CMGS answers held, so that a kill often lands inside a send), a modem may be
unplugged and plugged back (through /__sim__/modems/<name>/faults), and the worker is
killed with SIGKILL, then started again. Only time and the radio are simulated.

At the end the faults are cleared, the worker finishes, and the ledger is drawn up from
the database (as an admin reads it) and the phones (through /__sim__, as the README shows
them): every SMS the API accepted is an outbox row; a row ``sent`` or ``delivered``
reached its phone once (else lost, or duplicated); no row is left ``queued`` or
``sending`` (stuck); a row ``unknown`` (its outcome was not known when its worker died or
its modem went) is explained either by its phone (the network had accepted it: only the
answer was lost) or, when its phone got nothing, by a disruption during its life (between
its creation and the moment it was marked): a kill when the gateway says its worker
stopped, else a kill or an unplug. Rows are matched to numbers through
their session (the keyed hash of the client's hawk id, computed with the server secret).

The moments are drawn from one seed (``SOAK_SEED`` in the environment, else a new one),
printed with the ledger; the same seed replays the same plan (what the processes do in
between still depends on the machine).
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from requests_hawk import HawkAuth

from processes import (SCRIPT, clean_environment, eventually, query, start_api, start_worker,
                       stop)

MODEMS = ("sim0", "sim1")
SIMULATED_DELAY = 0.2  # seconds between a modem's +CMGS and the phone: kills land in between
DELAY = timedelta(seconds=SIMULATED_DELAY)
ENVIRONMENT = {
    "MSISDN_GATEWAY_SIMULATED_MODEMS": str(len(MODEMS)),
    "MSISDN_GATEWAY_SIMULATED_DELAY": str(SIMULATED_DELAY),
    # One client asks for every SMS: no per-client budget, no pumping guard, a global
    # budget above what a soak sends, and quick retries after a modem went away.
    "MSISDN_GATEWAY_RATE_LIMIT_EXEMPT_NETWORKS": "127.0.0.0/8",
    "MSISDN_GATEWAY_RATE_LIMIT_METHOD": "1000000/1h",
    "MSISDN_GATEWAY_GUARD_MIN_SMS": "0",
    "MSISDN_GATEWAY_RETRY_BACKOFF": "1",
}
SETTLE_SECONDS = 120.0
REPORT_SLACK = timedelta(seconds=1)


def new_seed() -> int:
    return int(os.environ.get("SOAK_SEED") or random.SystemRandom().randrange(10**9))


@dataclass
class Ledger:
    seed: int
    rounds: int
    seconds: float = 0.0
    accepted: int = 0  # sms/mt/verify answered 204
    refused: Counter = field(default_factory=Counter)  # other answers, by status
    statuses: Counter = field(default_factory=Counter)  # outbox rows by status
    received: int = 0  # SMS the phones show
    disruptions: Counter = field(default_factory=Counter)  # kill, unplug, slow_submit
    unknown_received: int = 0  # unknown rows whose phone got the SMS
    unknown_cut: int = 0  # unknown rows whose phone got nothing, cut by a kill or unplug
    # Rows left "sent" (not a failure: their delivery report never came): how many had
    # it due in a worker that a kill or an unplug cut off (REPORT_SLACK after the delay).
    reports_cut: int = 0
    lost: list = field(default_factory=list)
    duplicated: list = field(default_factory=list)
    stuck: list = field(default_factory=list)
    unexplained: list = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(self.statuses.values())

    @property
    def ok(self) -> bool:
        return (self.rows == self.accepted and not self.lost and not self.duplicated
                and not self.stuck and not self.unexplained)

    def report(self) -> str:
        lines = [
            f"soak: seed {self.seed} (SOAK_SEED={self.seed} replays it), {self.rounds} rounds "
            f"in {self.seconds:.0f} s; {dict(self.disruptions)}",
            f"  accepted {self.accepted} (outbox rows {self.rows}), refused "
            f"{dict(self.refused) or 0}; rows by status {dict(self.statuses)}",
            f"  received by phones {self.received}; lost {len(self.lost)}, duplicated "
            f"{len(self.duplicated)}, stuck {len(self.stuck)}",
            f"  sent without a delivery report {self.statuses['sent']}: "
            f"{self.reports_cut} were due while a kill or an unplug cut them off",
            f"  unknown {self.statuses['unknown']}: {self.unknown_received} reached their "
            f"phone (only the answer was lost), {self.unknown_cut} did not (a kill or an "
            f"unplug during their send); unexplained {len(self.unexplained)}",
        ]
        for name in ("lost", "duplicated", "stuck", "unexplained"):
            for item in getattr(self, name):
                lines.append(f"  {name}: {item}")
        return "\n".join(lines)


class Traffic(threading.Thread):
    """One client asking for verifications, each to a new number, until stopped."""

    def __init__(self, url: str, seed: int) -> None:
        super().__init__(name="soak-traffic", daemon=True)
        self.url, self._rng = url, random.Random(seed)
        self.sessions: dict[str, str] = {}  # number -> session token (when accepted)
        self.refused: Counter = Counter()
        self._http = requests.Session()
        self._stopping = threading.Event()

    def run(self) -> None:
        count = 0
        while not self._stopping.is_set():
            count += 1
            self._verify(f"+336{10_000_000 + count:08d}")
            self._stopping.wait(self._rng.uniform(0.02, 0.15))  # a client's pace

    def _verify(self, number: str) -> None:
        try:
            token = self._http.post(self.url + "/v1/msisdn/register",
                                    timeout=10).json()["msisdnSessionToken"]
            answer = self._http.post(self.url + "/v1/msisdn/sms/mt/verify",
                                     json={"msisdn": number, "mcc": "208"}, timeout=10,
                                     auth=HawkAuth(hawk_session=token, server_url=self.url))
        except requests.RequestException as exc:
            self.refused[type(exc).__name__] += 1
            return
        if answer.status_code == 204:
            self.sessions[number] = token
        else:
            self.refused[answer.status_code] += 1

    def stop(self) -> None:
        self._stopping.set()
        self.join(30)


class Soak:
    """Runs the soak in ``state_dir`` (empty); ``say`` prints progress."""

    def __init__(self, state_dir: Path, rounds: int, seed: int, say=lambda text: None) -> None:
        self.state_dir, self.rounds, self.seed, self.say = state_dir, rounds, seed, say
        self.rng = random.Random(seed)
        self.log_path = state_dir / "worker.log"
        self.events: list[tuple[datetime, str]] = []  # disruptions, as they were made
        self.api = self.worker = None
        self.url = ""

    def run(self) -> Ledger:
        ledger = Ledger(self.seed, self.rounds)
        started = time.monotonic()
        self.say(f"soak: {self.rounds} rounds, seed {self.seed} "
                 f"(SOAK_SEED={self.seed} replays the plan)")
        subprocess.run([str(SCRIPT), "keys", "generate", "--state-dir", str(self.state_dir)],
                       check=True, capture_output=True, env=clean_environment())
        try:
            self.api, self.url = start_api(self.state_dir, "--simulate", env=ENVIRONMENT)
            self._start_worker()
            traffic = Traffic(self.url, self.seed + 1)
            traffic.start()
            try:
                for index in range(self.rounds):
                    self._round(index)
            finally:
                traffic.stop()
            self._settle()
            self._draw_up(ledger, traffic)
        finally:
            for process in (self.worker, self.api):
                if process is not None:
                    stop(process)
        ledger.seconds = time.monotonic() - started
        return ledger

    # ------------------------------------------------------------ the rounds

    def _start_worker(self) -> None:
        self.worker = start_worker(self.state_dir, self.log_path, "--simulate",
                                   env=ENVIRONMENT)

    def _round(self, index: int) -> None:
        """A plan drawn from the seed, played in real time: maybe a slowed modem, maybe an
        unplug and its replug, and a SIGKILL of the worker, then its restart."""
        rng, plan = self.rng, []
        if rng.random() < 0.5:
            plan.append((rng.uniform(0, 0.3), "inject", rng.choice(MODEMS),
                         f"slow_submit:{rng.choice([0.2, 0.5, 1])}"))
        if rng.random() < 0.5:
            at, name = rng.uniform(0, 1.0), rng.choice(MODEMS)
            plan += [(at, "inject", name, "unplug"),
                     (at + rng.uniform(0.1, 1.5), "clear", name, "unplug")]
        plan.append((rng.uniform(0.1, 1.2), "kill", None, None))
        self.say(f"round {index + 1}: " + ", ".join(
            f"{at:.2f}s {action} {name or ''} {fault or ''}".strip()
            for at, action, name, fault in sorted(plan)))
        begin = time.monotonic()
        for at, action, name, fault in sorted(plan):
            time.sleep(max(0.0, begin + at - time.monotonic()))  # the plan's moment
            if action == "kill":
                self._kill_worker()
            else:
                self._fault(action, name, fault)

    def _kill_worker(self) -> None:
        os.kill(self.worker.pid, signal.SIGKILL)
        self.worker.wait(30)
        self.events.append((datetime.now(timezone.utc), "kill"))
        self._start_worker()

    def _fault(self, action: str, name: str, fault: str) -> None:
        where = f"{self.url}/__sim__/modems/{name}/faults"
        if action == "inject":
            answer = requests.post(where, json={"fault": fault}, timeout=10)
            self.events.append((datetime.now(timezone.utc), fault.split(":")[0]))
        else:
            answer = requests.delete(where, params={"fault": fault}, timeout=10)
        assert answer.status_code == 202, answer.text

    # ------------------------------------------------------------ the end

    def _settle(self) -> None:
        """Faults off, then wait until no SMS is left to send or to deliver."""
        for name in MODEMS:
            assert requests.delete(f"{self.url}/__sim__/modems/{name}/faults",
                                   timeout=10).status_code == 202
        eventually(lambda: query(self.state_dir, "SELECT count(*) FROM sim_modem_commands "
                                                 "WHERE applied_at IS NULL") == [(0,)],
                   timeout=30)
        eventually(lambda: query(self.state_dir, """
            SELECT (SELECT count(*) FROM outbox WHERE status IN ('queued', 'sending'))
                 + (SELECT count(*) FROM sim_pending_parts)""") == [(0,)],
                   timeout=SETTLE_SECONDS)

    def _draw_up(self, ledger: Ledger, traffic: Traffic) -> None:
        from gateway.config.keys import load_keys
        from gateway.config.settings import load_settings
        from gateway.verification.sessions import HAWK_ID

        secret = load_keys(load_settings(overrides={"state_dir": self.state_dir},
                                         environ={})).secret
        by_digest = {secret.digest(HAWK_ID, HawkAuth(hawk_session=token)
                                   .credentials["id"].decode()): number
                     for number, token in traffic.sessions.items()}
        ledger.accepted, ledger.refused = len(traffic.sessions), traffic.refused
        ledger.disruptions = Counter(what for _, what in self.events)
        rows = query(self.state_dir, """
            SELECT o.id, o.status, o.last_error, o.created_at, o.updated_at, o.sent_at,
                   lower(hex(s.hawk_id_digest))
            FROM outbox o LEFT JOIN sessions s ON s.id = o.session_id ORDER BY o.id""")
        for row_id, status, error, created, updated, sent, digest in rows:
            number = by_digest.get(digest)
            copies = self._received(number) if number else 0
            ledger.statuses[status] += 1
            ledger.received += copies
            self._judge(ledger, (row_id, number, status, error), copies,
                        _utc(created), _utc(updated))
            if status == "sent" and self._cut(_utc(sent), _utc(sent) + DELAY + REPORT_SLACK):
                ledger.reports_cut += 1

    def _cut(self, start: datetime, end: datetime, kinds=("kill", "unplug")) -> bool:
        """Whether a disruption of ``kinds`` happened between ``start`` and ``end``."""
        return any(start <= at <= end for at, what in self.events if what in kinds)

    def _received(self, number: str) -> int:
        answer = requests.get(f"{self.url}/__sim__/phones/{number}/messages", timeout=10)
        return len(answer.json())

    def _judge(self, ledger: Ledger, row: tuple, copies: int, created: datetime,
               updated: datetime) -> None:
        _, number, status, error = row
        if number is None:
            ledger.unexplained.append(f"{row}: no session the client opened")
        elif copies > 1:
            ledger.duplicated.append(f"{row}: {copies} copies")
        elif status in ("queued", "sending"):
            ledger.stuck.append(row)
        elif status in ("sent", "delivered"):
            if copies == 0:
                ledger.lost.append(row)
        elif status == "unknown" and copies == 1:
            ledger.unknown_received += 1
        elif status == "unknown" and self._cut(created, updated, _causes(error)):
            ledger.unknown_cut += 1
        elif status == "unknown":
            ledger.unexplained.append(
                f"{row}: its phone got nothing, and no {' or '.join(_causes(error))} happened "
                f"during its life ({created:%H:%M:%S.%f} to {updated:%H:%M:%S.%f})")
        else:
            ledger.unexplained.append(f"{row}: {status}, {copies} copies")


def _causes(error: str | None) -> tuple[str, ...]:
    """The disruptions that can explain an unknown row the gateway marked with ``error``:
    a kill when it says the worker stopped (or stopped renewing its claim), else a kill or
    an unplug."""
    said = error or ""
    return ("kill",) if "worker stopped" in said or "stopped renewing" in said else (
        "kill", "unplug")


def _utc(text: str) -> datetime:
    """A timestamp as the SQLite database holds it (ISO, UTC)."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)

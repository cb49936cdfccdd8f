"""Several boxes on one PostgreSQL database (a throw-away cluster, tests/pg/pg_cluster.py).

First in one process, what only a real PostgreSQL can show: two workers publishing their
modems' status at once never delete each other's rows, a lease that ends while its worker
is finishing the row leaves the row as its worker wrote it, and boxes that start at once
migrate the database in turn.

Then as an operator runs it: real processes, ``msisdn-gateway worker`` twice (``box-a``
and ``box-b``, each with a simulated modem of its own on a pseudo-terminal, both called
``modem0`` by their box) and ``msisdn-gateway api`` twice, on one database. Both modems are
listed together at every listing; SMS go out through both; ``kill -9`` of box a in the
middle of a send leaves no row ``queued`` or ``sending`` beyond 2 x ``worker_lease`` and no
SMS sent twice; the restarted box a rejoins and takes work.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from alembic.script import ScriptDirectory
from requests_hawk import HawkAuth
from sqlalchemy import select, text

import modem.sim
from gateway.admin.listings import modem_rows
from gateway.clock import SystemClock
from gateway.config.settings import load_settings
from gateway.deps import Deps
from gateway.storage.db import make_engine
from gateway.storage.migrate import alembic_config, current_revision
from gateway.storage.models import OutboundSms
from gateway.storage.uow import uow_factory
from modem.numbers import mask_number

from test_pg_pipeline import module_of
from test_postgresql import (pg_cluster, shared_database,  # noqa: F401
                             start_pg_gateway)

several = module_of("pipeline", "test_several_workers")
processes = module_of("e2e", "processes")


# --- in one process ---------------------------------------------------------------------------

@pytest.fixture
def two_pg_boxes(start_pg_gateway):
    boxes = []

    def start(**overrides):
        overrides.setdefault("worker_lease", several.LEASE)
        gw = start_pg_gateway(modems=0, **overrides)
        boxes.extend([several.Box(gw, "box-a", "+33700000001"),
                      several.Box(gw, "box-b", "+33700000002")])
        return gw, boxes[0], boxes[1]

    yield start
    for box in boxes:
        box.worker.stop()
    modem.sim.reset_networks()


def test_two_workers_publishing_at_once_never_remove_each_other_s_modems(two_pg_boxes):
    """The issue's StaleDataError and one-box listings came from each box deleting the
    other's rows; here both publish 30 times at once while a third thread lists."""
    gw, a, b = two_pg_boxes()
    done = threading.Event()
    listings = []

    def publish(box):
        for _ in range(30):
            box.worker.publish_status()

    def list_until_done():
        while not done.is_set():
            listings.append(several.listed(gw))

    lister = threading.Thread(target=list_until_done, name="lister")
    lister.start()
    publishers = [threading.Thread(target=publish, args=(box,), name=f"publisher-{i}")
                  for i, box in enumerate((a, b))]
    for thread in publishers:
        thread.start()
    for thread in publishers:
        thread.join(60)
    done.set()
    lister.join(10)
    both = [("box-a", "modem0", True), ("box-b", "modem0", True)]
    assert len(listings) > 10 and all(listing == both for listing in listings)


def test_a_lease_that_ends_while_its_worker_commits_the_outcome_keeps_the_outcome(
        two_pg_boxes):
    """Box a, frozen past its lease, writes "sent" in a transaction still open when box b
    marks the rows whose lease ended: box b's UPDATE waits for the row, then sees it is
    no longer being sent, and leaves it."""
    gw, a, b = two_pg_boxes()
    assert several.mt_verify(gw, several.PHONES[0]).status_code == 204
    claimed = several.claim_for(gw, "box-a")
    gw.clock.advance(several.LEASE + 1)
    marked = {}
    with gw.deps.uow() as owner:
        row = owner.outbox.get(claimed.id)
        row.status, row.sealed = "sent", None
        owner.db.flush()  # the row is locked by this open transaction
        sweeper = threading.Thread(
            target=lambda: marked.update(b.worker.presence.heartbeat()), name="sweeper")
        sweeper.start()
        processes.eventually(lambda: waiting_on_a_lock(gw), timeout=15)
        owner.commit()
    sweeper.join(15)
    assert marked == {}
    assert several.status_of(gw, claimed.id).status == "sent"


def waiting_on_a_lock(gw) -> bool:
    with gw.engine.connect() as connection:
        return bool(connection.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE 'UPDATE outbox SET %'")).scalar())


def test_boxes_that_start_at_once_migrate_the_database_in_turn(pg_cluster):
    """Three processes (Alembic is not thread-safe) run `db upgrade` on a new database at
    once: the advisory lock of the migration environment makes them take turns."""
    url = pg_cluster.url(pg_cluster.create_database())
    upgrades = [subprocess.Popen([str(processes.SCRIPT), "db", "upgrade", "--database-url", url],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 env=processes.clean_environment()) for _ in range(3)]
    outputs = [process.communicate(timeout=120)[0] for process in upgrades]
    assert [process.returncode for process in upgrades] == [0, 0, 0], outputs
    engine = make_engine(url)
    try:
        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        assert current_revision(engine) == head
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        engine.dispose()


# --- real processes -------------------------------------------------------------------------

LEASE_SECONDS = 6
BOUND = 2 * LEASE_SECONDS  # the README's promise
FINAL = {"sent", "delivered", "unknown"}


class PtyModem:
    """A simulated modem on a pseudo-terminal whose +CMGS answers take ``submit_seconds``:
    a box's modem, which outlives the box's worker as real hardware does."""

    def __init__(self, name: str, number: str, submit_seconds: int, log: Path) -> None:
        self.name, self.log = name, log
        with log.open("w") as errors:
            self.process = subprocess.Popen(
                [sys.executable, "-u", "-m", "modem.sim.pty", "--name", name, "--number",
                 number, "--fault", f"slow_submit:{submit_seconds}"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors,
                text=True, env=processes.clean_environment())
        banner = self.process.stdout.readline()
        assert " on /dev/" in banner, banner + log.read_text()
        self.device = banner.rsplit(" on ", 1)[1].strip()

    def alive(self) -> bool:
        """Still serving its pseudo-terminal (else: why, from its stderr)."""
        assert self.process.poll() is None, self.log.read_text()
        return True

    def texts(self, number: str) -> list[str]:
        """What the virtual phone ``number`` of this modem's network received."""
        self.process.stdin.write(f"inbox {number}\nstatus\n")
        self.process.stdin.flush()
        texts = []
        for line in iter(self.process.stdout.readline, ""):
            if line.startswith(f"{self.name} "):  # the status line ends the listing
                return texts
            if line.startswith(f"{number} <- "):
                texts.append(line.split(": ", 1)[1].rstrip("\n"))
        raise AssertionError("the pty modem stopped answering")

    def close(self) -> None:
        self.process.stdin.write("quit\n")
        self.process.stdin.close()
        self.process.wait(10)
        self.process.stdout.close()


class Fleet:
    """The processes of two boxes sharing one PostgreSQL database."""

    def __init__(self, tmp_path: Path, url: str) -> None:
        self.tmp_path, self.url = tmp_path, url
        keys = tmp_path / "shared"
        subprocess.run([str(processes.SCRIPT), "keys", "generate", "--state-dir", str(keys)],
                       check=True, capture_output=True, env=processes.clean_environment())
        # What every box shares: the database, the signing key and the server secret.
        self.env = {**processes.clean_environment(),
                    "MSISDN_GATEWAY_DATABASE_URL": url,
                    "MSISDN_GATEWAY_SIGNING_KEY_FILE": str(keys / "keys" / "signing-key.pem"),
                    "MSISDN_GATEWAY_SECRET_KEY_FILE": str(keys / "keys" / "secret.hex"),
                    "MSISDN_GATEWAY_WORKER_LEASE": str(LEASE_SECONDS),
                    "MSISDN_GATEWAY_RATE_LIMIT_EXEMPT_NETWORKS": "127.0.0.0/8"}
        self.running: dict[str, subprocess.Popen] = {}
        self.apis: list[str] = []

    def start(self, role: str, name: str, *flags: str, **env: str) -> subprocess.Popen:
        log = (self.tmp_path / f"{name}.log").open("a")
        process = subprocess.Popen(
            [str(processes.SCRIPT), role, "--state-dir", str(self.tmp_path / name), *flags],
            stdout=log, stderr=subprocess.STDOUT, env={**self.env, **env})
        log.close()
        self.running[name] = process
        return process

    def start_worker(self, name: str, modem_: PtyModem) -> subprocess.Popen:
        return self.start("worker", name, "--modem", modem_.device,
                          MSISDN_GATEWAY_WORKER_ID=name)

    def start_api(self, name: str) -> None:
        port = processes.free_port()
        self.start("api", name, "--port", str(port), "--workers", "1")
        self.apis.append(f"http://127.0.0.1:{port}")

    def logs(self) -> str:
        """The tail of every process's log (for a failure message)."""
        return "\n".join(f"--- {path.name}\n" + "\n".join(path.read_text().splitlines()[-15:])
                         for path in sorted(self.tmp_path.glob("*.log")))

    def eventually(self, probe, timeout: float) -> None:
        try:
            processes.eventually(probe, timeout=timeout)
        except AssertionError:
            raise AssertionError("not in time; the logs:\n" + self.logs()) from None

    def stop(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running.values():
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def serving(url: str) -> bool:
    try:
        return requests.get(url + "/__heartbeat__", timeout=2).status_code == 200
    except (requests.ConnectionError, requests.Timeout):  # or its worker still booting
        return False


def ask_for_code(api: str, other: str, number: str) -> str:
    """Register on one API process and ask for a code through the other; the token."""
    token = requests.post(api + "/v1/msisdn/register", timeout=10).json()["msisdnSessionToken"]
    response = requests.post(other + "/v1/msisdn/sms/mt/verify",
                             json={"msisdn": number, "mcc": "208"}, timeout=10,
                             auth=HawkAuth(hawk_session=token, server_url=other))
    assert response.status_code == 204, response.text
    return token


def outbox(engine) -> list[OutboundSms]:
    with uow_factory(engine)() as uow:
        return list(uow.db.scalars(select(OutboundSms).order_by(OutboundSms.id)))


class Lister(threading.Thread):
    """Lists the modems as `msisdn-gateway modems` does, again and again, until stopped."""

    def __init__(self, deps: Deps) -> None:
        super().__init__(name="lister", daemon=True)
        self.deps, self.listings = deps, []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.listings.append(sorted((r["worker"], r["name"]) for r in modem_rows(self.deps)))
            self.stopping.wait(0.05)  # a listing every 50 ms, not a timing assumption

    def stop(self) -> list:
        self.stopping.set()
        self.join(10)
        return self.listings


@pytest.fixture
def fleet(tmp_path, pg_cluster):
    url = pg_cluster.url(pg_cluster.create_database())
    # Box a's modem is slow, so that kill -9 surely lands in the middle of its send.
    modems = {name: PtyModem("m0", number, seconds, tmp_path / f"{name}-modem.log")
              for name, number, seconds in (("box-a", "+33700000001", 3),
                                            ("box-b", "+33700000002", 1))}
    fleet = Fleet(tmp_path, url)
    engine = make_engine(url)
    try:
        yield fleet, modems, engine
    finally:
        fleet.stop()
        engine.dispose()
        for modem_ in modems.values():
            modem_.close()


def test_two_boxes_share_the_work_and_a_killed_one_loses_nothing_and_sends_nothing_twice(
        fleet):
    fleet, modems, engine = fleet
    started = time.monotonic()
    assert modems["box-a"].device != modems["box-b"].device
    box_a = fleet.start_worker("box-a", modems["box-a"])  # all four migrate at once
    fleet.start_worker("box-b", modems["box-b"])
    fleet.start_api("api-1")
    fleet.start_api("api-2")
    for api in fleet.apis:
        fleet.eventually(lambda: serving(api), timeout=60)
    both = [("box-a", "modem0"), ("box-b", "modem0")]
    settings = load_settings(overrides={"database_url": fleet.url,
                                        "worker_lease": LEASE_SECONDS}, environ={})
    deps = Deps(settings=settings, clock=SystemClock(), secret=None, uow=uow_factory(engine),
                signing_key=None)
    fleet.eventually(lambda: all(m.alive() for m in modems.values()) and sorted(
        (r["worker"], r["name"]) for r in modem_rows(deps) if r["healthy"]) == both,
        timeout=60)
    lister = Lister(deps)
    lister.start()
    try:
        run_the_fleet(fleet, modems, engine, box_a, lister, both, started)
    finally:
        lister.stop()


def run_the_fleet(fleet, modems, engine, box_a, lister, both, started) -> None:
    """The test's story, once both boxes and both API processes run."""
    # Six codes asked for through both API processes: both boxes send.
    numbers = [f"+3361234560{i}" for i in range(6)]
    tokens = {}
    for i, number in enumerate(numbers):
        api, other = fleet.apis if i % 2 else fleet.apis[::-1]
        tokens[number] = ask_for_code(api, other, number)
    fleet.eventually(lambda: any(r.status == "sending" and r.claimed_by == "box-a"
                                     for r in outbox(engine)), timeout=30)
    os.kill(box_a.pid, signal.SIGKILL)  # box a dies in the middle of a send
    killed = time.monotonic()
    assert box_a.wait(10) == -signal.SIGKILL

    def settled(rows) -> bool:
        return not any(r.status in ("queued", "sending") for r in rows)

    fleet.eventually(lambda: not any(r.status == "sending" and r.claimed_by == "box-a"
                                         for r in outbox(engine)), timeout=BOUND + 30)
    box_a_released = time.monotonic() - killed
    fleet.eventually(lambda: settled(outbox(engine)), timeout=BOUND + 60)
    all_settled = time.monotonic() - killed
    assert box_a_released <= BOUND, f"box a's SMS left sending for {box_a_released:.1f} s"
    assert all_settled <= BOUND, f"rows left queued or sending for {all_settled:.1f} s"
    rows = outbox(engine)
    assert {r.status for r in rows} <= FINAL, [(r.id, r.status) for r in rows]
    assert {r.claimed_by for r in rows} == {"box-a", "box-b"}  # both sent some
    assert any(r.status == "unknown" and r.claimed_by == "box-a" for r in rows)
    assert_sent_once(rows, numbers, modems)

    # A code sent by either box verifies through either API process.
    for number in numbers[:2]:  # registered on one, code asked through the other
        if by_recipient(rows)[mask_number(number)].status == "unknown":
            continue
        [code] = texts_of(modems, number)
        api = fleet.apis[numbers.index(number) % 2]
        response = requests.post(api + "/v1/msisdn/sms/verify_code", json={"code": code},
                                 timeout=10, auth=HawkAuth(hawk_session=tokens[number],
                                                           server_url=api))
        assert response.status_code == 200, response.text
        assert response.json() == {"msisdn": number}

    # Box a comes back under its identity and takes work again.
    restarted = fleet.start_worker("box-a", modems["box-a"])
    fleet.eventually(lambda: modems["box-a"].alive() and
                         reported_healthy_since_start(engine, "box-a", restarted.pid),
                         timeout=60)
    more = [f"+3361234561{i}" for i in range(4)]
    for i, number in enumerate(more):
        ask_for_code(fleet.apis[i % 2], fleet.apis[i % 2], number)
    fleet.eventually(lambda: settled(outbox(engine)), timeout=60)
    new_rows = [r for r in outbox(engine) if r.id > max(r.id for r in rows)]
    assert {r.claimed_by for r in new_rows} == {"box-a", "box-b"}
    assert {r.status for r in new_rows} <= {"sent", "delivered"}
    assert_sent_once(new_rows, more, modems)

    listings = lister.stop()
    assert len(listings) > 20 and all(listing == both for listing in listings), \
        [listing for listing in listings if listing != both][:3]
    listed = subprocess.run([str(processes.SCRIPT), "modems", "--json", "--state-dir",
                             str(fleet.tmp_path / "admin")], capture_output=True, text=True,
                            env=fleet.env, check=True)
    assert sorted((m["worker"], m["name"]) for m in json.loads(listed.stdout)) == both
    print(f"several boxes: box a's SMS released {box_a_released:.1f} s after kill -9, "
          f"all settled after {all_settled:.1f} s (bound {BOUND} s); "
          f"{len(listings)} listings; {time.monotonic() - started:.0f} s in all")


def by_recipient(rows) -> dict:
    return {r.recipient: r for r in rows}


def texts_of(modems: dict, number: str) -> list[str]:
    return [t for modem_ in modems.values() for t in modem_.texts(number)]


def assert_sent_once(rows, numbers, modems) -> None:
    """Every SMS sent reached its phone once, through one box; one whose outcome is
    unknown at most once."""
    for number in numbers:
        row = by_recipient(rows)[mask_number(number)]
        if row.status in ("sent", "delivered"):
            copies = processes.eventually(lambda: texts_of(modems, number), timeout=20)
            assert len(copies) == 1, (number, row.status, copies)
        else:
            assert len(texts_of(modems, number)) <= 1, (number, row.status)


def reported_healthy_since_start(engine, worker: str, pid: int) -> bool:
    """The worker process ``pid`` joined as ``worker`` and reported its modem ready."""
    with uow_factory(engine)() as uow:
        joined = uow.workers.get(worker)
        if joined is None or joined.pid != pid:
            return False
        return any(s.worker == worker and s.healthy and s.updated_at >= joined.started_at
                   for s in uow.modems.all())

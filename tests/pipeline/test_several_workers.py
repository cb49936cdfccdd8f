"""Several boxes on one database, in one process on SQLite: two workers with their own
simulated modems (both called ``modem0``, as two boxes' first modems are), the API over
HTTP, the real worker pieces and modem pool. Only the gateway's time is faked (FakeClock).

What is shown: each worker publishes and removes only its own modems' status, every box's
healthy modems serve discover, the heartbeat and the back-off, a box that stopped
reporting is forgotten after ``modem_status_ttl``; a row claimed by a worker that died is
marked unknown by another one within 2 x ``worker_lease``, never resent; a worker's
restart touches only its own rows; two instances of one identity are refused.
(tests/pg/test_pg_several_boxes.py does it again with real processes on PostgreSQL.)"""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

import modem.sim
from fakes import WatchedPool
from gateway.admin.listings import modem_rows, worker_rows
from gateway.pipeline.leases import Instance, Presence, WorkerIdentityInUse
from gateway.process.worker import WORKER_RETENTION_SECONDS, Worker, cleanup
from gateway.storage.models import OutboundPart, OutboundSms
from modem.transport import ModemConfig
from pipeline_harness import finish

PHONES = [f"+336123456{i:02d}" for i in range(6)]
LEASE = 30


class Box:
    """One box: a virtual network of its own with one modem ``modem0``, and its worker."""

    def __init__(self, gw, worker_id: str, number: str) -> None:
        self.network = modem.sim.create_network(worker_id)
        self.network.add_modem("modem0", "generic", number=number, plmn="20801")
        config = ModemConfig(url=f"modemsim://modem0?network={worker_id}", name="modem0",
                             send_timeout=10.0)
        self.pool = WatchedPool([config])
        self.worker = Worker(gw.deps, pool=self.pool, worker_id=worker_id)
        self.worker.start(run_jobs=False)  # the test drives the jobs
        assert self.pool.wait_for(lambda h: h[0].healthy, 10)
        self.worker.publish_status()

    def send_due(self) -> int:
        return finish(self.worker.dispatcher.dispatch_due())

    def sent_to(self, number: str) -> int:
        """SMS parts this box's modem submitted to ``number``."""
        return len(self.network.messages(kind="MT", recipient=number))


@pytest.fixture
def two_boxes(start_gateway):
    boxes: list[Box] = []

    def start(**overrides):
        overrides.setdefault("worker_lease", LEASE)
        gw = start_gateway(modems=0, **overrides)
        boxes.extend([Box(gw, "box-a", "+33700000001"), Box(gw, "box-b", "+33700000002")])
        return gw, boxes[0], boxes[1]

    yield start
    for box in boxes:
        box.worker.stop()
    modem.sim.reset_networks()


def mt_verify(gw, number: str):
    response = gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": number, "mcc": "208"},
                       gw.register())
    return response


def outbox(gw) -> list[OutboundSms]:
    with gw.deps.uow() as uow:
        return list(uow.db.scalars(select(OutboundSms).order_by(OutboundSms.id)))


def listed(gw) -> list[tuple[str, str, bool]]:
    return [(row["worker"], row["name"], row["healthy"]) for row in modem_rows(gw.deps)]


# --- modem status per worker ----------------------------------------------------------------

def test_two_boxes_publishing_in_turn_are_always_listed_together(two_boxes):
    gw, a, b = two_boxes()
    for _ in range(20):  # in the issue, 19 listings of 19 showed one box only
        for box in (a, b):
            gw.clock.advance(5)
            box.worker.publish_status()
            box.worker.presence.heartbeat()
            assert listed(gw) == [("box-a", "modem0", True), ("box-b", "modem0", True)]
    assert [(w["worker"], w["state"]) for w in worker_rows(gw.deps)] == [
        ("box-a", "running"), ("box-b", "running")]


def test_discover_the_heartbeat_and_the_back_off_use_every_box_s_healthy_modem(two_boxes):
    gw, a, b = two_boxes()
    a.network.modem("modem0").unplug()
    assert a.pool.wait_for(lambda h: not h[0].healthy, 10)
    a.worker.publish_status()
    assert listed(gw) == [("box-a", "modem0", False), ("box-b", "modem0", True)]
    assert gw.get("/__heartbeat__").status_code == 200
    discovered = gw.post("/v1/msisdn/discover", {"mcc": "208", "mnc": "01"})
    assert discovered.status_code == 200, discovered.text
    assert discovered.json()["verificationDetails"]["sms/momt"]["moVerifier"] == "+33700000002"
    assert mt_verify(gw, PHONES[0]).status_code == 204  # box b can send: no 503

    b.network.modem("modem0").unplug()
    assert b.pool.wait_for(lambda h: not h[0].healthy, 10)
    b.worker.publish_status()
    assert gw.get("/__heartbeat__").status_code == 503
    assert mt_verify(gw, PHONES[1]).status_code == 503


def test_a_box_that_stopped_reporting_is_forgotten_after_the_ttl_by_the_other(two_boxes):
    gw, a, b = two_boxes(modem_status_ttl=60)
    gw.clock.advance(60)
    b.worker.publish_status()  # a's status is 60 s old: stale only after that
    assert [name for name, *_ in listed(gw)] == ["box-a", "box-b"]
    gw.clock.advance(1)
    b.worker.publish_status()
    assert listed(gw) == [("box-b", "modem0", True)]
    a.worker.publish_status()  # it comes back
    assert [name for name, *_ in listed(gw)] == ["box-a", "box-b"]


def test_a_worker_whose_modem_is_no_longer_configured_removes_only_its_own_row(two_boxes):
    gw, a, b = two_boxes()
    a.worker.pool.health = lambda: []  # as after a restart with no modem configured
    a.worker.publish_status()
    assert listed(gw) == [("box-b", "modem0", True)]


# --- claims and leases ------------------------------------------------------------------------

def test_sms_are_spread_over_both_boxes_and_carry_the_worker_that_sent_them(two_boxes):
    gw, a, b = two_boxes()
    for number in PHONES[:4]:
        assert mt_verify(gw, number).status_code == 204
    while a.send_due() + b.send_due():  # one modem each: one SMS each at a time
        pass
    rows = outbox(gw)
    assert {row.status for row in rows} <= {"sent", "delivered"}
    assert sorted(row.claimed_by for row in rows) == ["box-a", "box-a", "box-b", "box-b"]
    for row, number in zip(rows, PHONES):
        box = a if row.claimed_by == "box-a" else b
        assert (box.sent_to(number), (b if box is a else a).sent_to(number)) == (1, 0)
    with gw.deps.uow() as uow:  # each box's daily quota counts its own modem0 only
        since = gw.clock.now() - timedelta(days=1)
        assert uow.outbox.parts_sent_since(since, "box-a") == {"modem0": 2}
        assert uow.outbox.parts_sent_since(since) == {"modem0": 4}


def claim_for(gw, worker: str, lease: float = LEASE) -> OutboundSms:
    with gw.deps.uow() as uow:
        [row] = uow.outbox.claim_due(gw.clock.now(), 1, worker, lease)
        uow.commit()
    return row


def status_of(gw, row_id: int) -> OutboundSms:
    with gw.deps.uow() as uow:
        return uow.outbox.get(row_id)


def test_a_row_of_a_worker_that_died_is_unknown_within_twice_the_lease_never_resent(
        two_boxes):
    gw, a, b = two_boxes()
    assert mt_verify(gw, PHONES[0]).status_code == 204
    a.worker.presence.heartbeat()
    claimed = claim_for(gw, "box-a")  # ...and box a dies: no heartbeat any more
    died = gw.clock.now()
    assert claimed.lease_expires_at == died + timedelta(seconds=LEASE)
    marked = None
    while marked is None:
        gw.clock.advance(b.worker.presence.interval)  # box b's lease job
        expired = b.worker.presence.heartbeat()
        row = status_of(gw, claimed.id)
        if row.status == "sending":
            assert expired == {} and gw.clock.now() <= claimed.lease_expires_at
        else:
            marked = gw.clock.now()
            assert expired == {"box-a": 1}
    assert marked - died <= timedelta(seconds=2 * LEASE)
    assert (row.status, row.sealed, row.claimed_by) == ("unknown", None, "box-a")
    assert "may have been sent" in row.last_error
    gw.clock.advance(3600)
    assert b.send_due() == 0 and b.sent_to(PHONES[0]) == 0  # never resent


def test_a_live_worker_keeps_its_claim_however_long_the_send_takes(two_boxes):
    gw, a, b = two_boxes()
    assert mt_verify(gw, PHONES[0]).status_code == 204
    claimed = claim_for(gw, "box-a")
    for _ in range(12):  # 4 leases: an LTE modem may take 120 s to answer +CMGS
        gw.clock.advance(a.worker.presence.interval)
        a.worker.presence.heartbeat()
        assert b.worker.presence.heartbeat() == {}
    row = status_of(gw, claimed.id)
    assert row.status == "sending"
    assert row.lease_expires_at == gw.clock.now() + timedelta(seconds=LEASE)


def test_a_row_its_worker_finished_after_its_lease_ended_is_not_marked(two_boxes):
    gw, a, b = two_boxes()
    assert mt_verify(gw, PHONES[0]).status_code == 204
    claimed = claim_for(gw, "box-a")
    gw.clock.advance(LEASE + 1)  # box a was frozen past its lease, then finished
    with gw.deps.uow() as uow:
        row = uow.outbox.get(claimed.id)
        row.status, row.sealed = "sent", None
        uow.commit()
    assert b.worker.presence.heartbeat() == {}
    assert status_of(gw, claimed.id).status == "sent"


def test_a_restarting_worker_marks_only_its_own_interrupted_rows(two_boxes):
    gw, a, b = two_boxes()
    for number in PHONES[:2]:
        assert mt_verify(gw, number).status_code == 204
    mine, theirs = claim_for(gw, "box-a"), claim_for(gw, "box-b")
    assert a.worker.dispatcher.recover_interrupted() == 1
    assert status_of(gw, mine.id).status == "unknown"
    assert status_of(gw, theirs.id).status == "sending"  # box b still sends it


def test_the_queue_estimate_forgets_a_row_whose_lease_ended(two_boxes):
    gw, a, b = two_boxes()
    for number in PHONES[:3]:
        assert mt_verify(gw, number).status_code == 204
    claim_for(gw, "box-a", lease=10)
    with gw.deps.uow() as uow:
        assert uow.outbox.pending_parts_estimate(gw.clock.now()) == 3
        assert uow.outbox.pending_parts_estimate(gw.clock.now() + timedelta(seconds=11)) == 2


def test_a_report_from_one_box_s_modem0_never_matches_the_other_box_s_part(two_boxes):
    gw, a, b = two_boxes()
    now = gw.clock.now()
    with gw.deps.uow() as uow:
        for worker in ("box-a", "box-b"):  # both modem0, same TP-MR, same recipient
            row = OutboundSms(recipient="+33*******00", purpose="sms/mt", status="sent",
                              attempts=1, next_attempt_at=now, expires_at=now, created_at=now,
                              updated_at=now, claimed_by=worker, recipient_digest="d" * 64)
            uow.outbox.add(row)
            uow.outbox.add_part(OutboundPart(outbox_id=row.id, part_number=1, part_count=1,
                                             modem="modem0", reference=9, status="sent",
                                             submitted_at=now))
        uow.commit()
    with gw.deps.uow() as uow:
        since = now - timedelta(days=1)
        for worker in ("box-a", "box-b"):
            part = uow.outbox.part_for_report("modem0", 9, "d" * 64, since, worker)
            assert uow.outbox.get(part.outbox_id).claimed_by == worker


# --- identities -------------------------------------------------------------------------------

class Waits:
    """The wait of Presence.join, in fake time: the other instance may renew meanwhile."""

    def __init__(self, gw, during=lambda: None) -> None:
        self.gw, self.during, self.seconds = gw, during, []

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)
        self.gw.clock.advance(seconds)
        self.during()


def other_box(worker: str) -> Instance:
    return Instance(worker, host="other-box", pid=4242, boot_id="another-boot")


def test_a_second_live_worker_with_the_same_identity_is_refused(two_boxes):
    gw, a, b = two_boxes()
    twin = Presence(gw.deps, other_box("box-a"),
                    wait=Waits(gw, during=a.worker.presence.heartbeat))
    with pytest.raises(WorkerIdentityInUse, match="give each box its own worker_id"):
        twin.join()
    assert status_of_worker(gw, "box-a").instance == a.worker.presence.instance.token


def test_a_worker_of_the_same_identity_that_died_elsewhere_is_taken_over_after_a_wait(
        two_boxes):
    gw, a, b = two_boxes()
    waits = Waits(gw)
    successor = Presence(gw.deps, other_box("box-a"), wait=waits)
    successor.join()  # box a's old instance never renewed while it waited
    assert waits.seconds == [1.5 * successor.interval]
    assert status_of_worker(gw, "box-a").host == "other-box"


def test_a_restart_on_the_same_machine_takes_over_at_once_unless_the_old_process_runs(
        two_boxes):
    gw, a, b = two_boxes()
    old = a.worker.presence.instance
    again = Instance("box-a", host=old.host, pid=old.pid + 1, boot_id=old.boot_id)
    waits = Waits(gw)
    with pytest.raises(WorkerIdentityInUse, match="another worker process on this machine"):
        Presence(gw.deps, again, wait=waits, process_running=lambda pid: True).join()
    Presence(gw.deps, again, wait=waits, process_running=lambda pid: False).join()
    assert waits.seconds == []  # the same machine knows at once
    assert status_of_worker(gw, "box-a").pid == old.pid + 1


def test_a_worker_that_stopped_cleanly_is_taken_over_at_once(two_boxes):
    gw, a, b = two_boxes()
    a.worker.presence.leave()
    waits = Waits(gw)
    Presence(gw.deps, other_box("box-a"), wait=waits).join()
    assert waits.seconds == []


def test_a_heartbeat_that_finds_its_identity_taken_says_so(two_boxes, caplog):
    gw, a, b = two_boxes()
    gw.clock.advance(LEASE + 1)
    Presence(gw.deps, other_box("box-a"), wait=Waits(gw)).join()
    with caplog.at_level(logging.ERROR, logger="gateway.pipeline.leases"):
        a.worker.presence.heartbeat()
    assert "two workers share one identity" in caplog.text


def status_of_worker(gw, worker: str):
    with gw.deps.uow() as uow:
        return uow.workers.get(worker)


def test_a_worker_silent_for_a_week_is_forgotten_by_the_cleanup(two_boxes):
    gw, a, b = two_boxes()
    gw.clock.advance(WORKER_RETENTION_SECONDS)
    b.worker.presence.heartbeat()
    assert cleanup(gw.deps)["workers"] == 0  # box a was heard of a week ago: kept
    assert [w["state"] for w in worker_rows(gw.deps)] == ["lost", "running"]
    gw.clock.advance(1)
    assert cleanup(gw.deps)["workers"] == 1
    assert [w["worker"] for w in worker_rows(gw.deps)] == ["box-b"]


def test_a_forgotten_worker_joins_again_at_its_next_heartbeat(two_boxes):
    gw, a, b = two_boxes()
    gw.clock.advance(WORKER_RETENTION_SECONDS + 1)
    cleanup(gw.deps)  # both silent for a week (as after restoring an old backup)
    a.worker.presence.heartbeat()
    assert [w["worker"] for w in worker_rows(gw.deps)] == ["box-a"]


def test_a_pid_is_a_running_worker_only_if_it_runs_a_gateway():
    import subprocess
    import sys

    from gateway.pipeline.leases import process_running

    sleep = [sys.executable, "-c", "import time; time.sleep(30)"]
    worker = subprocess.Popen(sleep + ["msisdn-gateway", "worker"])  # as named in /proc
    other = subprocess.Popen(sleep)  # a pid reused by another program after a crash
    try:
        assert process_running(worker.pid) and not process_running(other.pid)
    finally:
        for process in (worker, other):
            process.kill()
            process.wait()
    assert not process_running(worker.pid)

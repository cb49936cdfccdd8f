"""The modem side under load and at rest: SMS/s across simulated modems, and idle CPU.

Throughput: for N = 1, 2, 4, 8 simulated modems whose every submit takes L seconds (the
simulator's ``slow_submit:L`` fault: the ``+CMGS`` answer comes L seconds after the PDU), a
worker built as the ``worker`` command builds it (real dispatcher, pool, AT driver, SQLite
database in a temporary directory; the scheduler, pumps and doorbell running) first sends
one warm-up SMS per modem (first-use costs: query compilation, connections), then ROUNDS x N
test SMS queued at once. SMS/s is the number of those sent divided by the time from their
first ``created_at`` to their last ``sent_at``; the physical limit is N/L (each modem does
one submit at a time), the target 95 % of it for every N.

Idle: ``serve --simulate`` with 8 simulated modems, nothing moving; the CPU time (user +
system, from /proc/PID/stat) the worker process used over IDLE_SECONDS, as a share of one
core. Process CPU time, not wall clock, so other load on the machine barely changes it;
the target is under 2 %. The threads that used the most follow (from /proc/PID/task/*/stat,
named by ``py-spy dump`` when py-spy is installed, else by thread id), then the same
measure for the modem side alone: a process with a pool of 8 simulated modems (the real
driver over ``modemsim://``, a real-time virtual network) and nothing else.

Run by hand: ``make bench`` (``.venv/bin/python bench/modems.py --help`` for the knobs).
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
from processes import start_serve, stop, worker_pid  # noqa: E402

TARGET_SHARE = 0.95
IDLE_TARGET = 2.0  # percent of one core
SETTLE_SECONDS = 3.0  # after start, before the idle measurement
PHONE = "+33612345678"


def throughput(modems: int, latency: float, rounds: int) -> tuple[int, float]:
    """(SMS sent, seconds) for ``rounds`` SMS per modem over ``modems`` modems of
    ``latency`` seconds per submit; see the module docstring."""
    from gateway.admin.sending import queue_test_sms
    from gateway.config.settings import load_settings
    from gateway.process.wiring import build_deps, prepare_database
    from gateway.process.worker import Worker

    with tempfile.TemporaryDirectory() as state:
        settings = load_settings(overrides={
            "simulate": True, "state_dir": state, "simulated_modems": modems}, environ={})
        engine = prepare_database(settings)
        deps = build_deps(settings, engine)
        worker = Worker(deps, worker_id="bench-worker")
        worker.start()
        try:
            for index in range(modems):
                worker.simulation.network.modem(f"sim{index}").inject("slow_submit", latency)
            url = settings.effective_database_url
            for index in range(modems):
                queue_test_sms(deps, PHONE, f"warm-up {index}")
            _wait_sent(url, 60 + 4 * latency)
            first = _last_id(url) + 1
            count = rounds * modems
            for index in range(count):
                queue_test_sms(deps, PHONE, f"bench {index}")
            _wait_sent(url, 60 + 4 * rounds * latency)
        finally:
            worker.stop()
            engine.dispose()
        return _outcome(url, first, count)


def _db_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def _wait_sent(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with closing(sqlite3.connect(_db_path(url))) as db:
            if not db.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL AND status "
                              "NOT IN ('failed', 'unknown')").fetchone()[0]:
                return
        time.sleep(0.05)  # other threads do the work: poll its outcome


def _last_id(url: str) -> int:
    with closing(sqlite3.connect(_db_path(url))) as db:
        return db.execute("SELECT max(id) FROM outbox").fetchone()[0]


def _outcome(url: str, first: int, count: int) -> tuple[int, float]:
    with closing(sqlite3.connect(_db_path(url))) as db:
        rows = db.execute("SELECT created_at, sent_at FROM outbox WHERE id >= ?",
                          (first,)).fetchall()
    start = min(datetime.fromisoformat(created) for created, _ in rows)
    sent = [datetime.fromisoformat(at) for _, at in rows if at]
    if len(sent) < count:
        print(f"  only {len(sent)}/{count} SMS were sent", file=sys.stderr)
    return len(sent), (max(sent) - start).total_seconds() if sent else float("inf")


def idle_cpu(modems: int, seconds: float) -> tuple[float, list[tuple[float, str]]]:
    """Percent of one core the worker of ``serve --simulate`` used while idle, and the
    busiest threads (percent, name)."""
    with tempfile.TemporaryDirectory() as state:
        serve, _ = start_serve(Path(state), "--simulate",
                               env={"MSISDN_GATEWAY_SIMULATED_MODEMS": str(modems)})
        try:
            pid = worker_pid(serve)
            time.sleep(SETTLE_SECONDS)
            cpu, threads, wall = _cpu_seconds(pid), _thread_seconds(pid), time.monotonic()
            time.sleep(seconds)
            elapsed = time.monotonic() - wall
            total = 100 * (_cpu_seconds(pid) - cpu) / elapsed
            after, names = _thread_seconds(pid), _thread_names(pid)
        finally:
            stop(serve)
    used = sorted(((100 * (after[tid] - threads.get(tid, 0.0)) / elapsed,
                    names.get(tid, f"thread {tid}")) for tid in after), reverse=True)
    return total, used[:4]


def idle_pool_cpu(modems: int, seconds: float) -> float:
    """Percent of one core a process with just a pool of ``modems`` idle simulated modems
    uses (measured in a child process: ``--pool-child``)."""
    out = subprocess.run([sys.executable, __file__, "--pool-child", str(modems), str(seconds)],
                         capture_output=True, text=True, check=True, timeout=seconds + 60)
    return float(out.stdout.split()[-1])


def _pool_child(modems: int, seconds: float) -> None:
    import resource

    import modem.sim
    from modem.pool import ModemPool
    from modem.transport import ModemConfig

    modem.sim.register()
    modem.sim.create_network("idle")
    pool = ModemPool([ModemConfig(url=f"modemsim://m{n}?network=idle", name=f"m{n}")
                      for n in range(modems)])
    pool.start()
    time.sleep(SETTLE_SECONDS)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu, wall = usage.ru_utime + usage.ru_stime, time.monotonic()
    time.sleep(seconds)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    share = 100 * (usage.ru_utime + usage.ru_stime - cpu) / (time.monotonic() - wall)
    pool.stop()
    print(f"{share:.3f}")


def _cpu_seconds(pid: int, task: str = "") -> float:
    fields = Path(f"/proc/{pid}{task}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _thread_seconds(pid: int) -> dict[int, float]:
    return {int(task.name): _cpu_seconds(pid, f"/task/{task.name}")
            for task in Path(f"/proc/{pid}/task").iterdir()}


def _thread_names(pid: int) -> dict[int, str]:
    """Python thread names by native thread id, when py-spy can tell them."""
    spy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}"
                                      f"{os.environ.get('PATH', '')}")
    if spy is None:
        return {}
    dump = subprocess.run([spy, "dump", "--pid", str(pid)], capture_output=True, text=True,
                          timeout=30).stdout
    return {int(tid): name for tid, name in re.findall(r'Thread (\d+) \([^)]*\): "([^"]+)"',
                                                        dump)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modems", default="1,2,4,8", help="N values, comma separated")
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per submit (L)")
    # 40, not 10: modems never run at exactly the same pace, so near the end the faster
    # ones take the last SMS and one of them sends one more than its share; over 10
    # rounds that single extra send (L seconds) costs ~10 % of the figure, over 40 ~2.5 %.
    parser.add_argument("--rounds", type=int, default=40, help="SMS per modem")
    parser.add_argument("--idle-modems", type=int, default=8)
    parser.add_argument("--idle-seconds", type=float, default=30.0, help="0 skips it")
    parser.add_argument("--pool-child", nargs=2, metavar=("MODEMS", "SECONDS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pool_child:
        _pool_child(int(args.pool_child[0]), float(args.pool_child[1]))
        return
    logging.basicConfig(level=logging.ERROR)
    print(f"SMS/s with L = {args.latency:g} s per submit, {args.rounds} SMS per modem "
          f"(target {TARGET_SHARE:.0%} of N/L):")
    for modems in (int(n) for n in args.modems.split(",")):
        sent, seconds = throughput(modems, args.latency, args.rounds)
        rate, limit = sent / seconds, modems / args.latency
        verdict = "ok" if rate >= TARGET_SHARE * limit else "BELOW TARGET"
        print(f"  N = {modems}: {rate:5.2f} SMS/s of {limit:5.2f} ({rate / limit:.1%}), "
              f"{sent} SMS in {seconds:.2f} s  {verdict}")
    if args.idle_seconds > 0:
        share, busiest = idle_cpu(args.idle_modems, args.idle_seconds)
        verdict = "ok" if share < IDLE_TARGET else "ABOVE TARGET"
        print(f"Idle worker, serve --simulate with {args.idle_modems} modems: {share:.2f} % of "
              f"a core over {args.idle_seconds:g} s (target < {IDLE_TARGET:g} %)  {verdict}")
        print("  busiest threads: " + ", ".join(f"{name} {percent:.2f} %"
                                                for percent, name in busiest))
        pool = idle_pool_cpu(args.idle_modems, min(args.idle_seconds, 10.0))
        print(f"  the modem side alone (a pool of {args.idle_modems} simulated modems): "
              f"{pool:.2f} % of a core")


if __name__ == "__main__":
    main()

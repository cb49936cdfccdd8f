"""`make bench-api`: throughput, latency, memory and storage of the API (issue 9, point 4).

Each measure runs against `msisdn-gateway serve --simulate` started in a fresh temporary
state directory on a free 127.0.0.1 port, with a TOML config file (bench.toml in it):
loopback exempt from the per-client limit (`rate_limit_exempt_networks`), the
per-session, per-number and per-method SMS budgets raised to 10^9 with their default
windows (so rate counters are still written, as in production), and `max_code_attempts`
raised so that wrong codes keep getting 400/105 instead of burning the code (410/111).
Everything else is default (two API processes on two cores, log level INFO).

The first server (`wrk`): `wrk -t1 -c16 -d10s --latency` after a 2 s warm-up on POST
register, POST discover and a Hawk-signed POST sms/verify_code with a wrong code, round
robin over 64 sessions whose short code is pending; every request is signed by mohawk
just before the run with its own nonce and payload hash (bench/api_walk.lua walks the
list, never replaying one). Printed: requests/s, p50, p90, p99, responses by status and
errno (for verify_code only 400/105 is expected: a 401 would mean a replay or a bad MAC,
a broken benchmark), and who used the CPU meanwhile.

The second server (`verifications`, a fresh database): N (2,000) full verifications in
sequence, one client (register, sms/mt/verify with a short code, the code read from the
virtual phone, sms/verify_code), then the database's bytes per verified user:
page_count × page_size after `PRAGMA wal_checkpoint(TRUNCATE)`, before and after, then
after the worker's cleanup job (gateway.process.worker.cleanup, run from here on the same
database) with the real clock, and again with the clock past every retention period but
the verified sessions' own lifetime: what a verified user costs for good.

For both: the RSS and PSS of every process of the serve tree, idle and after the load.
Then a table next to the issue's targets. Each server is stopped with SIGTERM whatever
happens. Memory is in MiB (2^20 bytes), as /proc's kB are KiB. `--help` for the knobs.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import requests

import api_flows
import wrk_run
from api_report import Report
from serve_tree import CpuMeter, Server, serving, tree_memory
from sqlite_size import database_size, load_bench_settings, longest_retention, run_cleanup

RAISED = 1_000_000  # the most a rule may count (gateway.config.values)
LOOPBACK = ["127.0.0.0/8", "::1/128"]
WARMUP_SIGNED = 20_000  # signed requests for the verify_code warm-up
MAX_SIGNED = 400_000
IDLE_SECONDS = 3.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verifications", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of wrk warm-up")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--sessions", type=int, default=64,
                        help="sessions with a pending code for verify_code")
    parser.add_argument("--verbose", action="store_true", help="print wrk's own output")
    parser.add_argument("--keep", action="store_true",
                        help="keep the state directory (database, serve.log)")
    return parser.parse_args(argv)


def write_config(state_dir: Path) -> Path:
    """The benchmark's TOML config: limits off or raised, everything else default."""
    from gateway.config.settings import Settings

    defaults = Settings()

    def raised(name: str) -> str:
        rules = ", ".join(f'"{RAISED}/{rule.period}s"' for rule in getattr(defaults, name))
        return f"{name} = [{rules}]"

    lines = ["# bench/api.py: measure speed, not limits",
             f"rate_limit_exempt_networks = {LOOPBACK!r}".replace("'", '"'),
             raised("rate_limit_short_code"), raised("rate_limit_msisdn"),
             raised("rate_limit_method"), raised("rate_limit_sms_total"),
             f"max_code_attempts = {RAISED}",
             "# thousands of codes left pending for verify_code look like SMS pumping",
             "guard_min_sms = 0"]
    path = state_dir / "bench.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass(frozen=True)
class Bench:
    """One running `serve --simulate` and what the phases need to know of it."""

    server: Server
    state: Path
    config: Path
    settings: object  # gateway.config.settings.Settings
    network: tuple[str, str]  # MCC, MNC of the simulated network


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not shutil.which("wrk"):
        print("bench-api needs wrk: `sudo apt-get install wrk` (Debian, Ubuntu), "
              "or build it from https://github.com/wg/wrk", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="bench-api-"))
    report = Report(args)
    try:
        # Two fresh servers: wrk's tens of thousands of sessions must not mix with the
        # per-user storage figures, and the simulated network's thousands of phones (the
        # worker walks them every 0.1 s) must not weigh on the throughput figures.
        run_server(report, root / "wrk", throughput_phases)
        run_server(report, root / "verifications", storage_phase)
    finally:
        report.print_table()
        if args.keep:
            print(f"state directories kept under {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 1 if report.failures else 0


def run_server(report: Report, state: Path, phases) -> None:
    """A fresh `serve --simulate` in ``state`` for ``phases(report, bench)``, then the
    memory of its processes; SIGTERM at the end whatever happens."""
    state.mkdir()
    config = write_config(state)
    settings = load_bench_settings(state, config)
    network = (settings.simulated_network[:3], settings.simulated_network[3:])
    print(f"\n### {state.name}: serve --simulate, state {state}, config {config.name}:\n  "
          + config.read_text().strip().replace("\n", "\n  "), flush=True)
    try:
        with serving(state, config) as server:
            report.server = server
            pid = server.process.pid
            print(f"serve pid {pid} at {server.url}, network {network[0]}-{network[1]}",
                  flush=True)
            idle = tree_memory(pid)
            idle_cpu(report, pid, f"{state.name}, idle after start")
            phases(report, Bench(server, state, config, settings, network))
            idle_cpu(report, pid, f"{state.name}, idle after the load")
            report.health[state.name] = health(server)
            report.memory[state.name] = (idle, tree_memory(pid))
            print(report.health[state.name])
    except RuntimeError as exc:  # serve did not become healthy (the message has its log)
        report.failures[f"start of serve ({state.name})"] = str(exc).splitlines()[0]
        print(exc)
    finally:
        if report.server and report.server.stop_report:
            print(report.server.stop_report)
        report.server = None


def idle_cpu(report: Report, pid: int, label: str, seconds: float = IDLE_SECONDS) -> None:
    """What the serve tree burns doing nothing (the worker's jobs poll the database)."""
    with CpuMeter(pid) as cpu:
        time.sleep(seconds)  # measuring the idle server, not waiting for it
    report.idle[label] = cpu
    print(f"{label}: {cpu.summary()}", flush=True)


def throughput_phases(report: Report, bench: Bench) -> None:
    url, network = bench.server.url, bench.network
    register = wrk_run.raw_request("POST", url + "/v1/msisdn/register")
    discover = wrk_run.raw_request(
        "POST", url + "/v1/msisdn/discover",
        json.dumps({"mcc": network[0], "mnc": network[1]}).encode(),
        {"Content-Type": "application/json"})
    phase(report, "register", fixed_request_phase, report, bench, "register", register)
    phase(report, "discover", fixed_request_phase, report, bench, "discover", discover)
    phase(report, "verify_code", verify_code_phase, report, bench)


def phase(report: Report, name: str, run, *args) -> None:
    """Run one phase; a failure is reported (with serve's log) and the next phase runs."""
    print(f"\n== {name}", flush=True)
    try:
        run(*args)
    except Exception as exc:  # top of a phase: say what broke, go on with the others
        report.failures[name] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
        if report.server:
            print(f"-- serve.log (last lines):\n{report.server.log_tail()}")


def storage_phase(report: Report, bench: Bench) -> None:
    phase(report, "storage", verifications_and_storage, report, bench)


def verifications_and_storage(report: Report, bench: Bench) -> None:
    server, state, config = bench.server, bench.state, bench.config
    count = report.args.verifications
    sizes = report.sizes
    sizes["before"] = database_size(state)
    with CpuMeter(server.process.pid) as cpu:
        times = api_flows.sequential_verifications(server.url, count, bench.network)
    report.sequential = times
    report.add_cpu("verifications in sequence", cpu)
    print(f"{count} verifications in sequence: {times.total:.1f} s "
          f"({times.total / count * 1000:.1f} ms each); per step, total: " + ", ".join(
              f"{step} {seconds:.1f} s" for step, seconds in times.steps.items())
          + f"; {times.polls} reads of the phones' messages"
          + (f"; {times.backoff:.0f} s waited after 503/201" if times.backoff else ""),
          flush=True)
    sizes["after"] = database_size(state)
    removed = run_cleanup(state, config)
    sizes["cleanup now"] = database_size(state)
    ahead = longest_retention(bench.settings) + 60
    removed_later = run_cleanup(state, config, ahead)
    sizes[f"cleanup +{ahead / 3600:.0f} h"] = database_size(state)
    print(f"cleanup now removed {removed}\ncleanup with the clock {ahead} s ahead removed "
          f"{removed_later}")
    report.print_sizes(count)


def fixed_request_phase(report: Report, bench: Bench, name: str, request: bytes) -> None:
    args, server = report.args, bench.server
    path = wrk_run.write_requests(bench.state / f"{name}.requests", [request])
    warm = wrk_run.run_wrk(server.url, path, args.warmup, args.connections)
    print(f"warm-up: {warm.requests} requests, {format_statuses(warm.statuses)}")
    with CpuMeter(server.process.pid) as cpu:
        result = wrk_run.run_wrk(server.url, path, args.duration, args.connections)
    report.add_run(name, result)
    report.add_cpu(name, cpu)


def verify_code_phase(report: Report, bench: Bench) -> None:
    args, server, state = report.args, bench.server, bench.state
    sessions, waited = api_flows.pending_sessions(server.url, args.sessions, bench.network)
    print(f"{len(sessions)} sessions with a pending short code (SMS received)"
          + (f"; sms/mt/verify answered 503/201 (queue over its time budget), "
             f"{waited:.0f} s waited as retryAfter said" if waited else ""))
    path, seconds = wrk_run.timed_signing(server.url, sessions, WARMUP_SIGNED,
                                          state / "verify-warmup.requests")
    warm = wrk_run.run_wrk(server.url, path, args.warmup, args.connections)
    print(f"warm-up: {WARMUP_SIGNED} requests signed in {seconds:.1f} s; "
          f"{warm.requests} sent, {format_statuses(warm.statuses)}"
          + (" (list exhausted)" if warm.exhausted else ""))
    if warm.unexpected(("400/105",), success=False):
        print("!! the warm-up got responses other than 400/105: the signed requests are "
              "refused, the measure below is not one of verify_code")
    rate = warm.rate if not warm.exhausted else 2 * WARMUP_SIGNED / args.warmup
    count = min(MAX_SIGNED, max(10_000, int(rate * args.duration * 2) + 2_000))
    path, seconds = wrk_run.timed_signing(server.url, sessions, count,
                                          state / "verify.requests")
    print(f"{count} requests signed in {seconds:.1f} s (nonces and timestamps fresh)")
    with CpuMeter(server.process.pid) as cpu:
        result = wrk_run.run_wrk(server.url, path, args.duration, args.connections)
    report.add_run("verify_code", result, expected=("400/105",), success=False)
    report.add_cpu("verify_code", cpu)


def health(server) -> str:
    alive = server.process.poll() is None
    try:
        response = requests.get(server.url + "/__heartbeat__", timeout=5)
        answer = f"{response.status_code} {response.text.strip()}"
    except requests.RequestException as exc:
        answer = f"no answer ({exc})"
    return f"serve {'running' if alive else 'exited'}; /__heartbeat__ after the load: {answer}"


def format_statuses(statuses: dict[str, int]) -> str:
    return ", ".join(f"{key} × {n:,}" for key, n in sorted(statuses.items())) or "no response"


if __name__ == "__main__":
    sys.exit(main())

"""What the API benchmark (bench/api.py) measured, and the table of it next to the targets
of issue 9 (2-core machine, 1.5× the Node.js reference)."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from api_flows import SequentialTimes
from serve_tree import CpuMeter, ProcessMemory, Server
from sqlite_size import DatabaseSize
from wrk_run import WrkResult

TARGET_RATE = {"register": 5500, "discover": 4300, "verify_code": 2800}
TARGET_REGISTER_P99_MS = 15
TARGET_SEQUENTIAL_S = 10  # for 2,000 verifications
TARGET_RSS_MIB = {"api": 60, "api worker": 60, "worker": 80}
TARGET_BYTES_PER_USER = 300
SIMULATOR_TABLES = "sim_"  # the simulator's mailboxes: not part of a real deployment


@dataclass
class Report:
    args: argparse.Namespace
    server: Server | None = None
    sequential: SequentialTimes | None = None
    sizes: dict[str, DatabaseSize] = field(default_factory=dict)
    # name -> (result, the non-2xx expected, whether 2xx are expected)
    runs: dict[str, tuple[WrkResult, tuple[str, ...], bool]] = field(default_factory=dict)
    # server label -> (memory when idle, memory after its load)
    memory: dict[str, tuple[list[ProcessMemory], list[ProcessMemory]]] = field(
        default_factory=dict)
    health: dict[str, str] = field(default_factory=dict)  # server label -> after its load
    idle: dict[str, CpuMeter] = field(default_factory=dict)  # label -> CPU of an idle spell
    busy_machine: list[str] = field(default_factory=list)  # measures other work disturbed
    failures: dict[str, str] = field(default_factory=dict)

    def add_run(self, name: str, result: WrkResult, expected: tuple[str, ...] = (),
                success: bool = True) -> None:
        """Record and print one wrk run; ``expected`` are the status/errno keys expected
        besides 2xx (or instead of them, when ``success`` is False)."""
        self.runs[name] = (result, expected, success)
        non2xx = {k: n for k, n in result.statuses.items() if not k.startswith("2")}
        unexpected = result.unexpected(expected, success)
        print(f"{name}: {result.rate:,.0f} req/s, p50 {result.p50_ms:.2f} ms, "
              f"p90 {result.p90_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
              f"max {result.max_ms:.1f} ms; {result.requests:,} requests in "
              f"{result.duration:.1f} s")
        print(f"  responses: " + ", ".join(f"{k} × {n:,}" for k, n in
                                           sorted(result.statuses.items())))
        print(f"  non-2xx: {sum(non2xx.values()):,}"
              + (f" (expected: only {', '.join(expected)})" if expected else "")
              + (f"; UNEXPECTED: {unexpected}" if unexpected else "")
              + (f"; socket errors: {result.socket_errors}" if result.socket_errors else "")
              + ("; RAN OUT of signed requests: the rate is underestimated"
                 if result.exhausted else ""), flush=True)
        if self.args.verbose:
            print("  " + result.output.replace("\n", "\n  "))

    def add_cpu(self, name: str, cpu: CpuMeter) -> None:
        print(f"  {cpu.summary()}")
        if cpu.busy_elsewhere():
            self.busy_machine.append(f"{name} (other processes {cpu.others:.1f} CPU-s in "
                                     f"{cpu.wall:.0f} s)")
            print("  !! other processes were busy during this measure: it is low")

    def print_sizes(self, count: int) -> None:
        before = self.sizes["before"]
        print(f"database, {count} verified users (bytes per user = growth / {count}):")
        for label, size in self.sizes.items():
            line = (f"  {label:<18} file {size.file:>11,} B  live {size.live:>11,} B")
            if label != "before":
                line += (f"  per user: file {(size.file - before.file) / count:>7,.0f} B, "
                         f"live {(size.live - before.live) / count:>7,.0f} B, without the "
                         f"simulator's tables {self.per_user(label, count):>7,.0f} B")
            print(line + ("  (WAL checkpoint stayed busy)" if size.checkpoint_busy else ""))
        for label in list(self.sizes)[1:]:
            growth = {table: (self.sizes[label].tables.get(table, 0)
                              - before.tables.get(table, 0)) / count
                      for table in self.sizes[label].tables}
            print(f"  per user by table, {label}: " + ", ".join(
                f"{t} {b:,.0f}" for t, b in sorted(growth.items(), key=lambda i: -i[1])
                if abs(b) >= 1))

    def per_user(self, label: str, count: int) -> float:
        """Bytes per user of ``label`` over ``before``, the simulator's tables left out
        (all live pages when SQLite has no dbstat)."""
        before, after = self.sizes["before"], self.sizes[label]
        if not after.tables:
            return (after.live - before.live) / count

        def real(size: DatabaseSize) -> int:
            return sum(b for t, b in size.tables.items() if not t.startswith(SIMULATOR_TABLES))

        return (real(after) - real(before)) / count

    def print_table(self) -> None:
        rows = []
        for name in ("register", "discover", "verify_code"):
            if name in self.runs:
                result, expected, success = self.runs[name]
                unexpected = sum(result.unexpected(expected, success).values())
                ok = result.rate >= TARGET_RATE[name] and not unexpected and not result.exhausted
                measured = f"{result.rate:,.0f} req/s"
                target = f"≥ {TARGET_RATE[name]:,} req/s"
                if name == "register":
                    ok = ok and result.p99_ms <= TARGET_REGISTER_P99_MS
                    target += f", p99 ≤ {TARGET_REGISTER_P99_MS} ms"
                measured += f", p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms"
                measured += f", {unexpected:,} unexpected responses" if unexpected else ""
                measured += ", ran out of signed requests" if result.exhausted else ""
                rows.append((_label(name), measured, target, ok))
            else:
                rows.append((_label(name), "not measured", "", None))
        rows.append(self._sequential_row())
        for label, (idle, after) in self.memory.items():
            rows += self._memory_rows(label, idle, after)
        rows.append(self._storage_row())
        for label, cpu in self.idle.items():
            rows.append((f"CPU, {label}", ", ".join(
                f"{role} {100 * s / cpu.wall:.0f}%" for role, s in sorted(cpu.roles.items())
                if s >= 0.005 * cpu.wall) + " of a core", "", None))
        print("\n== issue 9 targets (2-core machine)")
        width = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows), \
            max(len(r[2]) for r in rows)
        for what, measured, target, ok in rows:
            mark = {True: "met", False: "NOT MET", None: "—"}[ok]
            print(f"{what:<{width[0]}}  {measured:<{width[1]}}  {target:<{width[2]}}  {mark}")
        for label, health in self.health.items():
            print(f"{label}: {health}")
        if self.busy_machine:
            print("measured while other processes used the CPU (figures too low): "
                  + "; ".join(self.busy_machine))
        for name, failure in self.failures.items():
            print(f"phase {name} FAILED: {failure}")

    def _sequential_row(self) -> tuple:
        times = self.sequential
        if not times:
            return ("verifications in sequence", "not measured", "", None)
        target = TARGET_SEQUENTIAL_S * times.count / 2000
        wait = times.steps["wait for the SMS"]
        return (f"{times.count:,} verifications in sequence",
                f"{times.total:.1f} s ({wait:.1f} s waiting for the SMS)",
                f"≤ {target:g} s", times.total <= target)

    @staticmethod
    def _memory_rows(label: str, idle: list[ProcessMemory],
                     after: list[ProcessMemory]) -> list[tuple]:
        """One row per role: RSS of each of its processes after the load (idle), PSS."""
        rows = []
        was = {m.pid: m.rss_kib for m in idle}
        for role in dict.fromkeys(m.role for m in after):
            group = [m for m in after if m.role == role]
            rss = ", ".join(f"{m.rss_kib / 1024:.1f}" for m in group)
            before = ", ".join(f"{was[m.pid] / 1024:.1f}" for m in group if m.pid in was)
            pss = ", ".join(f"{m.pss_kib / 1024:.1f}" for m in group if m.pss_kib is not None)
            limit = TARGET_RSS_MIB.get(role)
            rows.append((f"RSS {role}" + (f" ×{len(group)}" if len(group) > 1 else "")
                         + f", after {label}",
                         f"{rss} MiB (idle {before})" + (f", PSS {pss}" if pss else ""),
                         f"≤ {limit} MiB each" if limit else "",
                         all(m.rss_kib / 1024 <= limit for m in group) if limit else None))
        pss = [m.pss_kib for m in after if m.pss_kib is not None]
        rows.append((f"memory of {len(after)} processes, after {label}",
                     f"RSS {sum(m.rss_kib for m in after) / 1024:.1f} MiB"
                     + (f", PSS {sum(pss) / 1024:.1f} MiB" if pss else ""), "", None))
        return rows

    def _storage_row(self) -> tuple:
        labels = [label for label in self.sizes if label.startswith("cleanup +")]
        if not labels or not self.sequential:
            return ("bytes per verified user", "not measured", "", None)
        count = self.sequential.count
        later = self.per_user(labels[0], count)
        after = (self.sizes["after"].file - self.sizes["before"].file) / count
        return ("bytes per verified user",
                f"{later:,.0f} B after {labels[0]} (live pages, no sim_* tables); "
                f"right after {after:,.0f} B", f"≤ {TARGET_BYTES_PER_USER} B after cleanup",
                later <= TARGET_BYTES_PER_USER)


def _label(name: str) -> str:
    return {"register": "POST register", "discover": "POST discover",
            "verify_code": "POST sms/verify_code (Hawk)"}[name]

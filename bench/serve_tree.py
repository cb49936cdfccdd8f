"""`msisdn-gateway serve --simulate` for the API benchmark (bench/api.py): started in a
state directory on a free 127.0.0.1 port with a TOML config file, stopped with SIGTERM
whatever happens, and the memory of every process of its tree read from /proc.

Memory figures are KiB as /proc reports them (VmRSS in /proc/PID/status, Pss in
/proc/PID/smaps_rollup when readable).
"""
from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import requests

SCRIPT = Path(sys.executable).with_name("msisdn-gateway")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    port: int
    log_path: Path
    stop_report: str = ""  # how it stopped, once stopped

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass(frozen=True)
class ProcessMemory:
    pid: int
    role: str  # "supervisor", "worker", "api" (the API's main process), "api worker"
    rss_kib: int
    pss_kib: int | None  # None when smaps_rollup cannot be read


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_environment() -> dict:
    """Our environment without MSISDN_GATEWAY_* (the config file alone decides)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MSISDN_GATEWAY_")}


@contextmanager
def serving(state_dir: Path, config: Path) -> Iterator[Server]:
    """``serve --simulate`` until the block ends; yields once ``/__heartbeat__`` says 200
    (database up, the worker reported a healthy modem). Its output goes to
    ``state_dir/serve.log``. Stopped by SIGTERM (SIGKILL after STOP_TIMEOUT) even when
    the block raises. Raises RuntimeError if it does not become healthy in time."""
    port = free_port()
    log_path = state_dir / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(SCRIPT), "--config", str(config), "serve", "--simulate",
             "--state-dir", str(state_dir), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=clean_environment())
    server = Server(process, f"http://127.0.0.1:{port}", port, log_path)
    try:
        _wait_healthy(server)
        yield server
    finally:
        stop(server)


def _wait_healthy(server: Server) -> None:
    end = time.monotonic() + START_TIMEOUT
    while time.monotonic() < end:
        if server.process.poll() is not None:
            raise RuntimeError(f"serve exited with {server.process.returncode}:\n"
                               f"{server.log_tail()}")
        try:
            if requests.get(server.url + "/__heartbeat__", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)  # another process is starting; nothing to measure here
    raise RuntimeError(f"serve was not healthy within {START_TIMEOUT:.0f} s:\n"
                       f"{server.log_tail()}")


def stop(server: Server) -> None:
    """SIGTERM, then wait; SIGKILL to the whole tree if it does not stop in time.
    Records what happened in ``server.stop_report``."""
    process = server.process
    started = time.monotonic()
    if process.poll() is None:
        tree = descendants(process.pid)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            for pid in [process.pid, *tree]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            process.wait(10)
            server.stop_report = (f"serve did not stop within {STOP_TIMEOUT:.0f} s of "
                                  "SIGTERM: killed")
            return
        server.stop_report = (f"serve stopped on SIGTERM in {time.monotonic() - started:.1f} s,"
                              f" exit status {process.returncode}")
    else:
        server.stop_report = f"serve had already exited with status {process.returncode}"


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, parents before children."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found += [child, *descendants(child)]
    return found


def _argv(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _role(pid: int, root: int, api_pids: set[int]) -> str:
    if pid == root:
        return "supervisor"
    if pid in api_pids:
        return "api worker"
    argv = _argv(pid)
    # `python -m gateway.cli [--config F] api|worker ...`: the first role word names it.
    for word in argv:
        if word in ("api", "worker"):
            return word
    return "other: " + " ".join(argv)[:60]


def tree_memory(root: int) -> list[ProcessMemory]:
    """RSS and PSS of ``root`` and every process below it, each with its role."""
    pids = [root, *descendants(root)]
    api_pids: set[int] = set()
    for pid in pids:
        if pid != root and "api" in _argv(pid) and pid not in api_pids:
            api_pids.update(descendants(pid))  # what the API's main process started
    memory = []
    for pid in pids:
        rss = _rss_kib(pid)
        if rss is not None:
            memory.append(ProcessMemory(pid, _role(pid, root, api_pids), rss, _pss_kib(pid)))
    return memory


def _proc_kib(pid: int, name: str, key: str) -> int | None:
    """The kB figure of line ``key`` in /proc/<pid>/<name>, None if unreadable."""
    try:
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _rss_kib(pid: int) -> int | None:
    return _proc_kib(pid, "status", "VmRSS:")


def _pss_kib(pid: int) -> int | None:
    return _proc_kib(pid, "smaps_rollup", "Pss:")


TICKS = os.sysconf("SC_CLK_TCK")


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) ``pid`` has used so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)


def _machine_busy() -> float:
    """CPU seconds every core of the machine spent busy since boot."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICKS


class CpuMeter:
    """Who used the CPU during a measure: the serve tree (per role), our own children (wrk),
    this process, and everything else on the machine (other work skews the figures).
    Processes of the tree that start during the measure are not counted."""

    def __init__(self, root: int) -> None:
        self.root = root

    def __enter__(self) -> "CpuMeter":
        self._roles = {m.pid: m.role for m in tree_memory(self.root)}
        self._start = {pid: _process_cpu(pid) for pid in self._roles}
        self._machine = _machine_busy()
        self._children = _children_cpu()
        self._own = time.process_time()
        self._wall = time.monotonic()
        return self

    def __exit__(self, *exc_info) -> None:
        self.wall = time.monotonic() - self._wall
        self.machine = _machine_busy() - self._machine
        self.roles: dict[str, float] = {}
        for pid, role in self._roles.items():
            used = _process_cpu(pid) - self._start[pid]
            self.roles[role] = self.roles.get(role, 0.0) + max(0.0, used)
        self.children = _children_cpu() - self._children
        self.own = time.process_time() - self._own
        self.others = max(0.0, self.machine - sum(self.roles.values()) - self.children
                          - self.own)

    def summary(self) -> str:
        cores = os.cpu_count() or 1
        return (f"CPU over {self.wall:.1f} s on {cores} cores: machine {self.machine:.1f} s; "
                + ", ".join(f"{role} {s:.1f} s" for role, s in sorted(self.roles.items()))
                + f", wrk {self.children:.1f} s, this script {self.own:.1f} s, "
                f"other processes {self.others:.1f} s")

    def busy_elsewhere(self) -> bool:
        """Other processes used more than a tenth of a core on average."""
        return self.others > 0.1 * self.wall


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime

"""wrk runs of the API benchmark (bench/api.py): request files for bench/api_walk.lua,
Hawk-signed requests with a fresh nonce each, and the parsed outcome of one run.

A request file holds raw HTTP/1.1 requests, each written "<byte length>\\n<bytes>".
"""
from __future__ import annotations

import json
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence
from urllib.parse import urlsplit

import mohawk

SCRIPT = Path(__file__).with_name("api_walk.lua")


@dataclass(frozen=True)
class HawkSession:
    """A session whose code is pending, and a code that is not its code."""

    id: str  # Hawk id (hex), from the session token
    key: str  # Hawk key (hex); its ASCII bytes are the MAC key
    wrong_code: str


@dataclass
class WrkResult:
    requests: int = 0
    duration: float = 0.0  # seconds
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    socket_errors: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)  # "200", "400/105", ...
    exhausted: bool = False  # the list of signed requests ran out
    output: str = ""  # wrk's own output

    @property
    def rate(self) -> float:
        return self.requests / self.duration if self.duration else 0.0

    def unexpected(self, expected: Sequence[str], success: bool = True) -> dict[str, int]:
        """Responses whose status (or status/errno) is not in ``expected``, nor 2xx when
        ``success`` (a 2xx is expected)."""
        return {key: n for key, n in self.statuses.items()
                if key not in expected and not (success and key.startswith("2"))}


def raw_request(method: str, url: str, body: bytes = b"", headers: dict | None = None) -> bytes:
    parts = urlsplit(url)
    lines = [f"{method} {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}",
             f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def write_requests(path: Path, requests: Sequence[bytes]) -> Path:
    with path.open("wb") as handle:
        for request in requests:
            handle.write(b"%d\n" % len(request) + request)
    return path


def signed_verify_code_requests(url: str, sessions: Sequence[HawkSession],
                                count: int) -> list[bytes]:
    """``count`` POST /v1/msisdn/sms/verify_code, round robin over ``sessions``, each signed
    now by mohawk with its own nonce and the payload hash of its JSON body."""
    target = url + "/v1/msisdn/sms/verify_code"
    bodies = [json.dumps({"code": s.wrong_code}).encode() for s in sessions]
    run = secrets.token_hex(4)  # nonces unique across runs too
    requests = []
    for index in range(count):
        session, body = sessions[index % len(sessions)], bodies[index % len(sessions)]
        sender = mohawk.Sender({"id": session.id, "key": session.key, "algorithm": "sha256"},
                               target, "POST", content=body, content_type="application/json",
                               nonce=f"{run}{index:x}", always_hash_content=True)
        requests.append(raw_request("POST", target, body, {
            "Content-Type": "application/json", "Authorization": sender.request_header}))
    return requests


def run_wrk(url: str, request_file: Path, seconds: float, connections: int = 16,
            timeout: float = 120.0) -> WrkResult:
    """``wrk -t1 -c<connections> -d<seconds>s --latency`` with bench/api_walk.lua over the
    requests of ``request_file``. Raises RuntimeError if wrk fails."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency",
               "--timeout", "5s", "-s", str(SCRIPT), url, "--", str(request_file)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + timeout)
    if done.returncode != 0 or "BENCH requests" not in done.stdout:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}{done.stderr}")
    return parse(done.stdout)


def parse(output: str) -> WrkResult:
    result = WrkResult(output="\n".join(line for line in output.splitlines()
                                        if not line.startswith("BENCH ")))
    for line in output.splitlines():
        if not line.startswith("BENCH "):
            continue
        _, key, *values = line.split()
        if key == "requests":
            result.requests = int(values[0])
        elif key == "duration_us":
            result.duration = int(values[0]) / 1e6
        elif key == "errors":
            result.socket_errors = {k: int(v) for k, v in (p.split("=") for p in values)
                                    if k != "status" and int(v)}
        elif key == "latency_us":
            latency = {k: int(v) / 1000 for k, v in (p.split("=") for p in values)}
            result.p50_ms, result.p90_ms = latency["p50"], latency["p90"]
            result.p99_ms, result.max_ms = latency["p99"], latency["max"]
        elif key == "status":
            result.statuses[values[0]] = result.statuses.get(values[0], 0) + int(values[1])
        elif key == "exhausted":
            result.exhausted = result.exhausted or values[0] == "1"
    return result


def timed_signing(url: str, sessions: Sequence[HawkSession], count: int,
                  path: Path) -> tuple[Path, float]:
    """Sign ``count`` requests into ``path``; returns the file and the seconds it took."""
    started = time.perf_counter()
    write_requests(path, signed_verify_code_requests(url, sessions, count))
    return path, time.perf_counter() - started

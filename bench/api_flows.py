"""Client flows of the API benchmark (bench/api.py), as a client of the MSISDN Verification
API runs them: one keep-alive connection, one request at a time, each Hawk-signed request
signed with mohawk (a fresh nonce, the payload hash) on credentials derived by
requests-hawk from the session token.

The client is http.client, not requests: with requests and requests-hawk this client
spent about 5 ms of its own CPU per verification on this machine (0.85 ms per request),
which alone is more than the target of 10 s for 2,000 verifications; with http.client it
spends about 1.3 ms (mostly mohawk's signing and json). The benchmark prints the client's
CPU time ("this script") beside the server's.
"""
from __future__ import annotations

import http.client
import json
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import mohawk
from requests_hawk import HawkAuth

from wrk_run import HawkSession

SHORT_CODE = re.compile(r"\b(\d{6})\b")
SMS_TIMEOUT = 30.0
POLL_INTERVAL = 0.002  # seconds between two reads of a virtual phone's messages
BACKOFF_LIMIT = 120.0  # seconds a client waits in all on 503/201 before giving up


class FlowError(RuntimeError):
    """The server answered something a correct client does not expect."""


@dataclass
class SequentialTimes:
    """Seconds spent per step over every verification."""

    count: int = 0
    total: float = 0.0
    steps: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("register", "sms/mt/verify", "wait for the SMS", "sms/verify_code"), 0.0))
    polls: int = 0  # GET /__sim__/phones/<msisdn>/messages
    backoff: float = 0.0  # seconds waited after 503/201 on sms/mt/verify


@dataclass(frozen=True)
class Answer:
    status: int
    data: bytes

    def json(self):
        return json.loads(self.data) if self.data else None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


class Client:
    """One keep-alive HTTP/1.1 connection to the gateway at ``url``."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.url = url
        self._connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self._connection.close()

    def call(self, method: str, path: str, body: dict | None = None,
             credentials: dict | None = None) -> Answer:
        """``body`` is sent as JSON; with ``credentials`` (id, key, algorithm) the request
        is Hawk-signed, its payload hashed."""
        data = b"" if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if credentials is not None:
            headers["Authorization"] = mohawk.Sender(
                credentials, self.url + path, method, content=data,
                content_type=headers.get("Content-Type", "")).request_header
        self._connection.request(method, path, body=data, headers=headers)
        response = self._connection.getresponse()
        return Answer(response.status, response.read())


def hawk_credentials(token: str, url: str) -> dict:
    """The Hawk credentials of a msisdnSessionToken, as requests-hawk derives them."""
    derived = HawkAuth(hawk_session=token, server_url=url).credentials
    return {"id": _text(derived["id"]), "key": _text(derived["key"]), "algorithm": "sha256"}


def _expect(answer: Answer, status: int, what: str) -> Answer:
    if answer.status != status:
        raise FlowError(f"{what}: {answer.status} {answer.text[:300]}")
    return answer


def register(client: Client) -> str:
    answer = _expect(client.call("POST", "/v1/msisdn/register"), 200, "register")
    return answer.json()["msisdnSessionToken"]


def start_mt(client: Client, credentials: dict, msisdn: str,
             network: tuple[str, str]) -> float:
    """sms/mt/verify for ``msisdn``; after a 503/201 (the outbox queue is over its time
    budget) waits ``retryAfter`` and tries again, as a client should, for up to
    BACKOFF_LIMIT seconds in all. Returns the seconds waited."""
    waited = 0.0
    while True:
        answer = client.call("POST", "/v1/msisdn/sms/mt/verify", {
            "msisdn": msisdn, "mcc": network[0], "mnc": network[1],
            "shortVerificationCode": True}, credentials)
        if answer.status != 503 or waited >= BACKOFF_LIMIT:
            _expect(answer, 204, f"sms/mt/verify {msisdn}")
            return waited
        retry_after = float(answer.json().get("retryAfter") or 1)
        time.sleep(retry_after)  # the server asked us to come back later
        waited += retry_after


def received_code(client: Client, msisdn: str) -> str | None:
    """The 6-digit code in the newest SMS the virtual phone got, or None."""
    messages = _expect(client.call("GET", f"/__sim__/phones/{msisdn}/messages"), 200,
                       f"messages of {msisdn}").json()
    if not messages:
        return None
    match = SHORT_CODE.search(messages[-1]["text"])
    if not match:
        raise FlowError(f"no 6-digit code in the SMS to {msisdn}: {messages[-1]['text']!r}")
    return match.group(1)


def wait_for_code(client: Client, msisdn: str) -> tuple[str, int]:
    """Poll the virtual phone until its code arrives; returns it and the number of polls."""
    end = time.monotonic() + SMS_TIMEOUT
    polls = 0
    while True:
        polls += 1
        code = received_code(client, msisdn)
        if code:
            return code, polls
        if time.monotonic() > end:
            raise FlowError(f"no SMS reached {msisdn} within {SMS_TIMEOUT:.0f} s")
        time.sleep(POLL_INTERVAL)  # the worker sends it; we only look


def sequential_verifications(url: str, count: int, network: tuple[str, str],
                             prefix: str = "+3366") -> SequentialTimes:
    """``count`` full verifications one after the other, each on its own number:
    register, sms/mt/verify (short code), the code read from the virtual phone,
    sms/verify_code. Raises FlowError on any unexpected answer."""
    times = SequentialTimes()
    steps = times.steps
    started = time.perf_counter()
    with Client(url) as client:
        for index in range(count):
            msisdn = f"{prefix}{index:07d}"
            t0 = time.perf_counter()
            token = register(client)
            t1 = time.perf_counter()
            credentials = hawk_credentials(token, url)
            times.backoff += start_mt(client, credentials, msisdn, network)
            t2 = time.perf_counter()
            code, polls = wait_for_code(client, msisdn)
            t3 = time.perf_counter()
            verified = _expect(client.call("POST", "/v1/msisdn/sms/verify_code",
                                           {"code": code}, credentials),
                               200, "sms/verify_code")
            t4 = time.perf_counter()
            if verified.json().get("msisdn") != msisdn:
                raise FlowError(f"verify_code answered {verified.text!r} for {msisdn}")
            steps["register"] += t1 - t0
            steps["sms/mt/verify"] += t2 - t1
            steps["wait for the SMS"] += t3 - t2
            steps["sms/verify_code"] += t4 - t3
            times.polls += polls
            times.count = index + 1
    times.total = time.perf_counter() - started
    return times


def pending_sessions(url: str, count: int, network: tuple[str, str],
                     prefix: str = "+3367") -> tuple[list[HawkSession], float]:
    """``count`` sessions with a short code pending (sent and read from the phone), each
    with a wrong code of the same form (the real code plus one); and the seconds waited
    on 503/201."""
    waited = 0.0
    with Client(url) as client:
        started = []
        for index in range(count):
            credentials = hawk_credentials(register(client), url)
            msisdn = f"{prefix}{index:07d}"
            waited += start_mt(client, credentials, msisdn, network)
            started.append((credentials, msisdn))
        sessions = []
        for credentials, msisdn in started:
            code, _ = wait_for_code(client, msisdn)
            sessions.append(HawkSession(
                id=credentials["id"], key=credentials["key"],
                wrong_code=f"{(int(code) + 1) % 1_000_000:06d}"))
    return sessions, waited


def _text(value: str | bytes) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else value

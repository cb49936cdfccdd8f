"""Client flows of the API benchmark (bench/api.py), as a client of the MSISDN Verification
API would run them: requests with requests-hawk, one connection, one request at a time.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import requests
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


def _expect(response: requests.Response, status: int, what: str) -> requests.Response:
    if response.status_code != status:
        raise FlowError(f"{what}: {response.status_code} {response.text[:300]}")
    return response


def register(http: requests.Session, url: str) -> str:
    response = _expect(http.post(url + "/v1/msisdn/register"), 200, "register")
    return response.json()["msisdnSessionToken"]


def start_mt(http: requests.Session, url: str, auth: HawkAuth, msisdn: str,
             network: tuple[str, str]) -> float:
    """sms/mt/verify for ``msisdn``; after a 503/201 (the outbox queue is over its time
    budget) waits ``retryAfter`` and tries again, as a client should, for up to
    BACKOFF_LIMIT seconds in all. Returns the seconds waited."""
    waited = 0.0
    while True:
        response = http.post(url + "/v1/msisdn/sms/mt/verify", auth=auth, json={
            "msisdn": msisdn, "mcc": network[0], "mnc": network[1],
            "shortVerificationCode": True})
        if response.status_code != 503 or waited >= BACKOFF_LIMIT:
            _expect(response, 204, f"sms/mt/verify {msisdn}")
            return waited
        retry_after = float(response.json().get("retryAfter") or 1)
        time.sleep(retry_after)  # the server asked us to come back later
        waited += retry_after


def received_code(http: requests.Session, url: str, msisdn: str) -> str | None:
    """The 6-digit code in the newest SMS the virtual phone got, or None."""
    response = _expect(http.get(f"{url}/__sim__/phones/{msisdn}/messages"), 200,
                       f"messages of {msisdn}")
    messages = response.json()
    if not messages:
        return None
    match = SHORT_CODE.search(messages[-1]["text"])
    if not match:
        raise FlowError(f"no 6-digit code in the SMS to {msisdn}: {messages[-1]['text']!r}")
    return match.group(1)


def wait_for_code(http: requests.Session, url: str, msisdn: str) -> tuple[str, int]:
    """Poll the virtual phone until its code arrives; returns it and the number of polls."""
    end = time.monotonic() + SMS_TIMEOUT
    polls = 0
    while True:
        polls += 1
        code = received_code(http, url, msisdn)
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
    with requests.Session() as http:
        for index in range(count):
            msisdn = f"{prefix}{index:07d}"
            t0 = time.perf_counter()
            token = register(http, url)
            t1 = time.perf_counter()
            auth = HawkAuth(hawk_session=token, server_url=url)
            times.backoff += start_mt(http, url, auth, msisdn, network)
            t2 = time.perf_counter()
            code, polls = wait_for_code(http, url, msisdn)
            t3 = time.perf_counter()
            verified = _expect(http.post(url + "/v1/msisdn/sms/verify_code", auth=auth,
                                         json={"code": code}), 200, "sms/verify_code")
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
    with requests.Session() as http:
        started = []
        for index in range(count):
            token = register(http, url)
            auth = HawkAuth(hawk_session=token, server_url=url)
            msisdn = f"{prefix}{index:07d}"
            waited += start_mt(http, url, auth, msisdn, network)
            started.append((auth, msisdn))
        sessions = []
        for auth, msisdn in started:
            code, _ = wait_for_code(http, url, msisdn)
            credentials = auth.credentials
            sessions.append(HawkSession(
                id=_text(credentials["id"]), key=_text(credentials["key"]),
                wrong_code=f"{(int(code) + 1) % 1_000_000:06d}"))
    return sessions, waited


def _text(value: str | bytes) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else value

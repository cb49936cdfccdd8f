"""The per-client SMS budget measured as an outside attacker would (issue 10): `serve
--simulate` with its default settings (two API processes sharing the SQLite database);
one address floods `sms/mt/verify` from four threads with distinct French mobile numbers,
and gets its budget (`rate_limit_client_sms`, 10 an hour) and not one SMS more, every other
attempt a 429/117 with a retryAfter; then a second address (127.0.0.2: Linux routes all of
127/8 to the loopback) completes a whole verification, its code read from the virtual
phone, because the attacker's refusals consumed nothing of the global SMS budget."""
from __future__ import annotations

import threading
import time

import pytest
import requests
from requests.adapters import HTTPAdapter
from requests_hawk import HawkAuth

from processes import eventually, start_serve, stop

DEFAULT_BUDGET = 10  # rate_limit_client_sms = ["10/1h"]
THREADS, ATTEMPTS = 4, 12  # per thread: 48 SMS asked for, to 48 distinct numbers
HONEST_PHONE = "+33755501234"  # another prefix than the attacker's +336...


class SourceAddress(HTTPAdapter):
    """Connections from a chosen local address (the client's IP as the server sees it)."""

    def __init__(self, address: str) -> None:
        self._address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self._address, 0)
        super().init_poolmanager(*args, **kwargs)


def client_from(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", SourceAddress(address))
    return session


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory):
    process, url = start_serve(tmp_path_factory.mktemp("state"), "--simulate")
    yield url
    stop(process)


def ask_for_sms(http: requests.Session, url: str, number: str) -> requests.Response:
    token = http.post(url + "/v1/msisdn/register", timeout=10).json()["msisdnSessionToken"]
    return http.post(url + "/v1/msisdn/sms/mt/verify", json={"msisdn": number, "mcc": "208"},
                     auth=HawkAuth(hawk_session=token, server_url=url), timeout=10)


def test_one_address_gets_its_sms_budget_and_another_still_verifies(gateway_url):
    started = time.monotonic()
    answers: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def attacker(thread: int) -> None:
        http = client_from("127.0.0.1")
        for attempt in range(ATTEMPTS):
            response = ask_for_sms(http, gateway_url, f"+3361{thread:02d}{attempt:05d}")
            body = response.json() if response.content else {}
            with lock:
                answers.append((response.status_code, body))

    threads = [threading.Thread(target=attacker, args=(index,), name=f"attacker-{index}")
               for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    statuses = [status for status, _body in answers]
    assert len(answers) == THREADS * ATTEMPTS
    assert statuses.count(204) == DEFAULT_BUDGET
    refusals = [body for status, body in answers if status == 429]
    assert len(refusals) == THREADS * ATTEMPTS - DEFAULT_BUDGET
    assert {body["errno"] for body in refusals} == {117}
    assert all(0 < body["retryAfter"] <= 3600 for body in refusals)

    honest = client_from("127.0.0.2")
    token = honest.post(gateway_url + "/v1/msisdn/register", timeout=10).json()[
        "msisdnSessionToken"]
    auth = HawkAuth(hawk_session=token, server_url=gateway_url)
    assert honest.post(gateway_url + "/v1/msisdn/sms/mt/verify",
                       json={"msisdn": HONEST_PHONE, "mcc": "208"}, auth=auth,
                       timeout=10).status_code == 204
    inbox = eventually(lambda: honest.get(
        f"{gateway_url}/__sim__/phones/{HONEST_PHONE}/messages", timeout=10).json())
    code = inbox[0]["text"]
    verified = honest.post(gateway_url + "/v1/msisdn/sms/verify_code", json={"code": code},
                           auth=HawkAuth(hawk_session=token, server_url=gateway_url),
                           timeout=10)
    assert verified.status_code == 200 and verified.json() == {"msisdn": HONEST_PHONE}
    assert time.monotonic() - started < 30

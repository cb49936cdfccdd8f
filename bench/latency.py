"""Latency from the API call to the modem: how long a verification SMS waits in the outbox.

Starts `msisdn-gateway serve --simulate` on 127.0.0.1 (an idle simulated modem), sends N
sms/mt/verify requests one after the other, and reports, per SMS, the time from the
request to the modem's acceptance (+CMGS) as the database recorded it (outbox.created_at
to outbox.sent_at), plus the HTTP round trip of the request. Run by hand: `make bench`.
The target (issue 4) is under 200 ms with an idle modem. A config file (through
MSISDN_GATEWAY_CONFIG) exempts the loopback client from the per-client limits and turns
pumping detection off (30 codes nobody enters look like pumping): this measures speed,
not abuse protection.
"""
from __future__ import annotations

import sqlite3
import statistics
import sys
import tempfile
import time
from contextlib import closing
from datetime import datetime
from pathlib import Path

import requests
from requests_hawk import HawkAuth

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
from processes import start_serve, stop  # noqa: E402

COUNT = 30


def main() -> None:
    with tempfile.TemporaryDirectory() as state:
        config = Path(state) / "bench.toml"
        config.write_text('rate_limit_exempt_networks = ["127.0.0.0/8", "::1/128"]\n'
                          "guard_min_sms = 0\n")
        serve, url = start_serve(Path(state), "--simulate",
                                 env={"MSISDN_GATEWAY_CONFIG": str(config)})
        try:
            round_trips = []
            for index in range(COUNT):
                token = requests.post(url + "/v1/msisdn/register").json()["msisdnSessionToken"]
                auth = HawkAuth(hawk_session=token, server_url=url)
                started = time.perf_counter()
                response = requests.post(url + "/v1/msisdn/sms/mt/verify", auth=auth,
                                         json={"msisdn": f"+336123{index:05d}", "mcc": "208"})
                round_trips.append(time.perf_counter() - started)
                response.raise_for_status()
                time.sleep(0.3)  # an idle modem for the next one
            time.sleep(1)
            with closing(sqlite3.connect(Path(state) / "msisdn-gateway.sqlite3")) as db:
                rows = db.execute("SELECT created_at, sent_at FROM outbox").fetchall()
        finally:
            stop(serve)
    waits = [(datetime.fromisoformat(sent) - datetime.fromisoformat(created)).total_seconds()
             for created, sent in rows if sent]
    report("API call to +CMGS accepted", waits, len(rows))
    report("sms/mt/verify HTTP round trip", round_trips, COUNT)


def report(what: str, seconds: list[float], total: int) -> None:
    ms = sorted(s * 1000 for s in seconds)
    print(f"{what}: {len(ms)}/{total} samples, median {statistics.median(ms):.0f} ms, "
          f"p95 {ms[int(len(ms) * 0.95) - 1]:.0f} ms, max {ms[-1]:.0f} ms")


if __name__ == "__main__":
    main()

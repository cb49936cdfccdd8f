"""The worker's doorbell: an SMS queued by an API process leaves at once, not at the
worker's next poll of the outbox; and when the bell cannot be used, polling still sends it."""
import signal
import socket

import pytest
import requests

from gateway.pipeline.doorbell import bell_address
from processes import eventually, query, start_serve, start_verification, stop

pytestmark = pytest.mark.e2e


def _inbox(url, phone):
    return requests.get(f"{url}/__sim__/phones/{phone}/messages").json()


def test_a_queued_sms_is_sent_at_once_although_the_worker_polls_rarely(tmp_path):
    # One poll at start, the next in 10 minutes: only the doorbell can send it sooner.
    # (Warnings only: nobody reads serve's output while we poll, and access lines would
    # fill the pipe and block it if the SMS never came.)
    process, url = start_serve(tmp_path, "--simulate",
                               env={"MSISDN_GATEWAY_DISPATCH_INTERVAL": "600",
                                    "MSISDN_GATEWAY_LOG_LEVEL": "WARNING"})
    try:
        for phone in ("+33612340001", "+33612340002"):
            start_verification(url, phone)
            assert eventually(lambda: _inbox(url, phone), timeout=20)
        assert sorted(query(tmp_path, "SELECT status FROM outbox")) in (
            [("delivered",), ("delivered",)], [("delivered",), ("sent",)],
            [("sent",), ("sent",)])
    finally:
        stop(process)


def test_without_the_doorbell_the_worker_still_finds_the_sms_by_polling(tmp_path):
    # Someone else holds this database's bell: the worker says so and polls instead,
    # while the API still rings (the squatter hears it).
    squatter = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    squatter.bind(bell_address(f"sqlite:///{tmp_path / 'msisdn-gateway.sqlite3'}"))
    squatter.settimeout(0)
    process, url = start_serve(tmp_path, "--simulate",
                               env={"MSISDN_GATEWAY_DISPATCH_INTERVAL": "0.5"})
    try:
        start_verification(url, "+33612340003")
        assert eventually(lambda: _inbox(url, "+33612340003"), timeout=20)
        assert squatter.recv(16) == b"o"  # a ring for the outbox
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0]
        squatter.close()
    assert "doorbell not bound" in output

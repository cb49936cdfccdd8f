"""Pumping detection (gateway.guard.pumping) over real HTTP and a real SQLite file, with a
fake clock: a prefix sent many codes that are never verified is refused (400/107) for a
cool-down, logged with masked numbers and counted in /metrics; a prefix whose codes are
used is never refused; the block holds for every API process sharing the database, and
covers resend_code."""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from sqlalchemy import func, select

from conftest import assert_error
from gateway.config.settings import SettingsError
from gateway.process.worker import cleanup
from gateway.storage.models import GuardBlock, GuardCount

# Small figures so that a test stays within every other limit: 4 codes to one prefix
# with fewer than half verified block it for an hour.
GUARD = {"guard_min_sms": 4, "guard_min_conversion": 0.5, "guard_window": 3600,
         "guard_settle": 0,
         "guard_cooldown": 3600}
PUMPED = [f"+336123456{n:02d}" for n in range(1, 10)]  # prefix +33612
HONEST = [f"+336987654{n:02d}" for n in range(1, 10)]  # prefix +33698


def mt_verify(gw, number, token=None):
    token = token or gw.register()
    return gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": number, "mcc": "208"}, token), token


def send(gw, number, token=None) -> str:
    response, token = mt_verify(gw, number, token)
    assert response.status_code == 204, response.text
    return token


def verify(gw, token, number) -> None:
    response = gw.post("/v1/msisdn/sms/verify_code", {"code": gw.last_sms_to(number)}, token)
    assert response.status_code == 200, response.text


def pump(gw, numbers=PUMPED[:4]) -> None:
    for number in numbers:
        send(gw, number)


def refused_for_pumping(response) -> str:
    message = assert_error(response, 400, 107)["message"]
    assert "numbers starting +33612 are refused for a while" in message
    return message


def test_a_prefix_pumped_with_unverified_codes_is_blocked_and_the_next_code_refused(
        start_gateway, caplog):
    gw = start_gateway(**GUARD)
    caplog.set_level(logging.INFO, logger="gateway.guard")
    blocks = gw.metric("msisdn_gateway_guard_blocks_total", country="FR")
    refusals = gw.metric("msisdn_gateway_destinations_refused_total", reason="pumping")

    pump(gw)  # the fourth code is still sent, and blocks the prefix
    message = refused_for_pumping(mt_verify(gw, PUMPED[4])[0])

    assert PUMPED[4][-6:] not in message
    assert len(gw.outbox()) == 4
    assert gw.metric("msisdn_gateway_guard_blocks_total", country="FR") == blocks + 1
    assert gw.metric("msisdn_gateway_destinations_refused_total",
                  reason="pumping") == refusals + 1
    assert "guard: prefix +33612 blocked until" in caplog.text
    assert "4 code SMS and 0 verified" in caplog.text
    assert "+33*******05 refused (pumping)" in caplog.text
    assert not any(number in caplog.text for number in PUMPED)


def test_other_prefixes_are_not_blocked_with_a_pumped_one(start_gateway):
    gw = start_gateway(**GUARD)
    pump(gw)

    send(gw, HONEST[0])
    send(gw, "+33761234567")  # +33761: a prefix of its own
    refused_for_pumping(mt_verify(gw, PUMPED[5])[0])


def test_a_prefix_whose_codes_are_mostly_verified_is_never_blocked(start_gateway):
    gw = start_gateway(**GUARD)

    for index, number in enumerate(HONEST[:8]):  # 3 codes in 4 verified
        token = send(gw, number)
        if index % 4 != 3:
            verify(gw, token, number)

    assert len(gw.outbox()) == 8
    send(gw, HONEST[8])


def test_the_block_ends_with_the_cool_down_and_the_prefix_starts_afresh(start_gateway, clock):
    gw = start_gateway(**GUARD)
    pump(gw)

    clock.advance(GUARD["guard_cooldown"] - 1)
    refused_for_pumping(mt_verify(gw, PUMPED[4])[0])
    clock.advance(1)

    send(gw, PUMPED[4])
    send(gw, PUMPED[5])  # the old codes left the window with the cool-down
    send(gw, PUMPED[6])


def test_resend_code_to_a_blocked_prefix_is_refused_and_a_late_verification_still_counts(
        start_gateway):
    gw = start_gateway(**GUARD)
    first = send(gw, PUMPED[0])
    pump(gw, PUMPED[1:4])

    refused_for_pumping(gw.post("/v1/msisdn/sms/resend_code", token=first))

    verify(gw, first, PUMPED[0])  # the code sent before the block still works


def test_a_block_holds_for_every_api_process_sharing_the_database(start_gateway):
    one, other = start_gateway(**GUARD), start_gateway(**GUARD)  # one SQLite file

    pump(one, PUMPED[:2])
    pump(other, PUMPED[2:4])

    refused_for_pumping(mt_verify(one, PUMPED[4])[0])
    refused_for_pumping(mt_verify(other, PUMPED[5])[0])


def test_with_detection_turned_off_nothing_is_counted_or_blocked(start_gateway):
    gw = start_gateway(**{**GUARD, "guard_min_sms": 0})

    pump(gw, PUMPED[:6])

    with gw.deps.uow() as uow:
        assert uow.guard.overview(gw.clock.now().replace(year=2000), gw.clock.now()) == []


def test_the_cleanup_job_forgets_old_figures_then_ended_blocks(start_gateway, clock):
    gw = start_gateway(**GUARD)
    pump(gw)

    def tables():
        with gw.deps.uow() as uow:
            return (uow.db.scalar(select(func.count()).select_from(GuardCount)),
                    uow.db.scalar(select(func.count()).select_from(GuardBlock)))

    clock.advance(GUARD["guard_window"] + 300)  # out of every window, bucket included
    cleanup(gw.deps)
    assert tables() == (0, 1)
    clock.advance(GUARD["guard_cooldown"] + 86400)  # the block ended a day ago
    cleanup(gw.deps)
    assert tables() == (0, 0)


# With the default settle time (guard_settle 300 s): SMS are judged once old enough to
# have been used.
SETTLED = {**GUARD, "guard_settle": 300}


def test_a_burst_of_honest_users_is_not_blocked_before_they_could_type_their_codes(
        start_gateway):
    gw = start_gateway(**SETTLED)
    tokens = [send(gw, number) for number in HONEST[:8]]  # a launch: 8 codes at once
    gw.clock.advance(120)  # two minutes later, most typed theirs
    for token, number in list(zip(tokens, HONEST))[:6]:
        verify(gw, token, number)

    gw.clock.advance(600)  # the burst is judged: 6 of 8 verified
    send(gw, HONEST[8])
    assert len(gw.outbox()) == 9


def test_with_a_settle_time_a_pumped_prefix_is_blocked_once_its_codes_are_old_enough(
        start_gateway):
    gw = start_gateway(**SETTLED)
    pump(gw, PUMPED[:5])  # more than guard_min_sms, all just sent: not judged yet
    send(gw, PUMPED[5])

    gw.clock.advance(SETTLED["guard_settle"] + 60)  # their bucket ended 300 s ago
    send(gw, PUMPED[6])  # judged on the 6 settled codes, none used: this one blocks
    refused_for_pumping(mt_verify(gw, PUMPED[7])[0])
    with gw.deps.uow(read_only=True) as uow:
        [row] = uow.guard.overview(gw.clock.now() - timedelta(hours=1), gw.clock.now())
    assert (row.prefix, row.sms_when_blocked, row.verified_when_blocked) == ("+33612", 6, 0)


def test_the_block_log_says_which_sms_were_judged(start_gateway, caplog):
    gw = start_gateway(**SETTLED)
    caplog.set_level(logging.INFO, logger="gateway.guard")
    pump(gw, PUMPED[:4])
    gw.clock.advance(SETTLED["guard_settle"] + 60)
    send(gw, PUMPED[4])
    assert "4 code SMS at least 300 s old and 0 verified in the last 3600 s" in caplog.text


def test_a_settle_time_must_be_shorter_than_the_window(start_gateway):
    with pytest.raises(SettingsError, match="guard_settle"):
        start_gateway(**{**GUARD, "guard_settle": 3600})

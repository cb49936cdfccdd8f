"""The modem pool over ``modemsim://``: choice by rule, limits, failover, reopening, inbound.

Modems keep their production timeouts; they pass in virtual time (``bench.time``).
"""

import dataclasses
import threading
from datetime import timedelta

import pytest

from modem.driver import DeliveryReport, InboundSms
from modem.exceptions import NoModemAvailable, SendOutcomeUnknown, SendRejected
from fakes import refresh_status, set_registration

try:
    from tests.modem.sim_bench import PHONE, WAIT, PoolBench, bench_fixture, health_of, wait_state
    from tests.modem.scripted_port import Collected
except ImportError:  # tests/ is not a package: pytest put this directory on sys.path
    from sim_bench import PHONE, WAIT, PoolBench, bench_fixture, health_of, wait_state
    from scripted_port import Collected

bench = bench_fixture(PoolBench)


# ---------------------------------------------------------------- choosing a modem
def test_a_modem_on_the_destination_home_network_is_chosen_first(bench):
    pool = bench.pool(bench.config("fr", "plmn=20801&number=%2B33612345678"),
                      bench.config("us", "plmn=310260"))
    assert pool.send(PHONE, "a", mcc="208", mnc="01").modem == "fr"
    assert pool.send(PHONE, "b", mcc="310", mnc="260").modem == "us"
    assert pool.send(PHONE, "c", mcc="208", mnc="99").modem == "fr"  # same country
    assert pool.send(PHONE, "d", region="FR").modem == "fr"  # from the modem's own number


def test_without_a_hint_the_least_used_healthy_modem_is_used(bench):
    pool = bench.pool(bench.config("a"), bench.config("b"))
    used = [pool.send(PHONE, f"m{n}").modem for n in range(4)]
    assert sorted(used) == ["a", "a", "b", "b"]


def test_a_modem_that_is_not_registered_is_not_used(bench):
    pool = bench.pool(bench.config("a"), bench.config("b"))
    set_registration(bench.sim("a"), "searching")
    refresh_status(pool)
    assert not health_of(pool, "a").healthy
    assert {pool.send(PHONE, f"m{n}").modem for n in range(3)} == {"b"}


def test_no_healthy_modem_means_no_modem_available(bench):
    pool = bench.pool(bench.config("a", "registration=denied"))
    with pytest.raises(NoModemAvailable):
        pool.send(PHONE, "hello")


# ---------------------------------------------------------------- failover
def test_a_rejected_send_fails_over_to_another_modem(bench):
    pool = bench.pool(bench.config("a", "plmn=20801&fault=cms_error:500"), bench.config("b"))
    result = pool.send(PHONE, "hello", mcc="208", mnc="01")
    assert result.modem == "b" and len(result.receipts) == 1
    a, b = health_of(pool, "a"), health_of(pool, "b")
    assert (a.rejected, a.sent_today, b.sent_parts) == (1, 0, 1) and "500" in a.last_error


def test_when_every_modem_rejects_the_last_rejection_is_raised(bench):
    pool = bench.pool(bench.config("a", "fault=cms_error:500"), bench.config("b", "fault=smsc_unknown"))
    with pytest.raises(SendRejected):
        pool.send(PHONE, "hello")


def test_an_unknown_outcome_is_never_failed_over(bench):
    pool = bench.pool(bench.config("a", "plmn=20801&fault=slow_submit:150"), bench.config("b"))
    with pytest.raises(SendOutcomeUnknown):
        pool.send(PHONE, "hello", mcc="208", mnc="01")
    assert bench.time.now == 120  # a's send timeout, and no second try after it
    assert health_of(pool, "b").sent_parts == 0 and health_of(pool, "a").unknown == 1
    assert len(bench.net.messages(kind="MT")) == 1


def test_a_mute_modem_is_failed_over_and_reopened_like_a_vanished_one(bench):
    pool = bench.pool(bench.config("a", "plmn=20801"), bench.config("b"), supervise=False)
    bench.sim("a").inject("no_answer")
    assert pool.send(PHONE, "hello", mcc="208", mnc="01").modem == "b"
    assert bench.time.now == 10  # a's prompt timeout, then b at once
    assert health_of(pool, "a").state == "gone" and len(bench.net.messages(kind="MT")) == 1


# ---------------------------------------------------------------- limits
def test_the_rate_limit_holds_messages_back_and_says_when_to_retry(bench):
    pool = bench.pool(bench.config("a", rate_limit_per_minute=2))
    pool.send(PHONE, "1"), pool.send(PHONE, "2")
    with pytest.raises(NoModemAvailable) as caught:
        pool.send(PHONE, "3")
    assert caught.value.retry_after == pytest.approx(30.0)
    bench.clock.advance(30)
    assert pool.send(PHONE, "3").modem == "a"


def test_the_daily_quota_counts_parts_and_resets_the_next_day(bench):
    pool = bench.pool(bench.config("a", daily_quota=3))
    assert len(pool.send(PHONE, "x" * 300).receipts) == 2
    with pytest.raises(NoModemAvailable) as caught:
        pool.send(PHONE, "x" * 300)
    assert caught.value.retry_after == 24 * 3600  # the manual clock starts at midnight UTC
    assert pool.send(PHONE, "short").modem == "a"
    bench.clock.advance(timedelta(days=1).total_seconds())
    assert pool.send(PHONE, "next day").modem == "a"


def test_a_modem_at_its_quota_leaves_the_message_to_another(bench):
    pool = bench.pool(bench.config("a", "plmn=20801", daily_quota=1), bench.config("b"))
    assert pool.send(PHONE, "1", mcc="208").modem == "a"
    assert pool.send(PHONE, "2", mcc="208").modem == "b"


# ---------------------------------------------------------------- gone and back
def test_an_unplugged_modem_is_marked_gone_and_the_message_goes_elsewhere(bench):
    pool = bench.pool(bench.config("a", "plmn=20801"), bench.config("b"))
    bench.sim("a").inject("unplug")
    assert pool.send(PHONE, "hello", mcc="208", mnc="01").modem == "b"
    wait_state(pool, "a", "gone")
    assert health_of(pool, "a").next_reopen_in is not None


def test_a_gone_modem_is_reopened_with_backoff_and_reidentified(bench):
    pool = bench.pool(bench.config("a"), supervise=False)
    imsi = health_of(pool, "a").identity.imsi
    bench.sim("a").inject("unplug")
    wait_state(pool, "a", "gone")
    bench.clock.advance(1)
    assert pool.reopen_due() == 0  # still unplugged: the next wait doubles
    assert health_of(pool, "a").next_reopen_in == pytest.approx(2.0)
    bench.sim("a").clear_faults("unplug")
    bench.clock.advance(1)
    assert pool.reopen_due() == 0  # not due yet
    bench.clock.advance(1)
    assert pool.reopen_due() == 1
    health = health_of(pool, "a")
    assert (health.identity.imsi, health.identity_changed, health.reopen_attempts) == (imsi, False, 0)
    assert pool.send(PHONE, "back").modem == "a"


def test_the_supervisor_reopens_a_modem_once_its_backoff_elapsed(bench):
    pool = bench.pool(bench.config("a"), reopen_backoff=(0.5, 8.0))
    bench.sim("a").inject("unplug")
    wait_state(pool, "a", "gone")
    bench.sim("a").clear_faults("unplug")
    bench.clock.advance(0.5)
    wait_state(pool, "a", "ready")


def test_a_different_sim_after_a_replug_is_flagged(bench):
    pool = bench.pool(bench.config("a"), supervise=False)
    bench.sim("a").inject("unplug")
    wait_state(pool, "a", "gone")
    bench.sim("a").machine.card.imsi = "001019999999999"
    bench.sim("a").clear_faults("unplug")
    bench.clock.advance(1)
    assert pool.reopen_due() == 1
    health = health_of(pool, "a")
    assert health.identity_changed and health.identity.imsi == "001019999999999"


def test_a_pin_problem_fails_the_modem_for_good(bench):
    pool = bench.pool(bench.config("a", "pin=1234"), bench.config("b"), supervise=False)
    health = health_of(pool, "a")
    assert health.state == "failed" and "PIN required" in health.last_error
    bench.clock.advance(3600)
    assert pool.reopen_due() == 0 and health_of(pool, "a").state == "failed"


# ---------------------------------------------------------------- inbound
def test_inbound_sms_is_pulled_and_deleted_from_the_sim_only_on_ack(bench):
    pool = bench.pool(bench.config("a"))
    number = health_of(pool, "a").identity.own_number
    bench.net.phone(PHONE).send(number, "hello gateway")
    bench.net.tick()
    message = pool.receive(timeout=WAIT)
    assert isinstance(message, InboundSms) and message.text == "hello gateway"
    assert dataclasses.asdict(message)["sender"] == PHONE  # plain data for the caller
    assert bench.sim("a").machine.card.used == 1
    message.ack()
    assert bench.sim("a").machine.card.used == 0 and health_of(pool, "a").received == 1


def test_delivery_reports_come_through_the_same_queue(bench):
    pool = bench.pool(bench.config("a"))
    result = pool.send(PHONE, "hello")
    bench.net.tick()
    report = pool.receive(timeout=WAIT)
    assert isinstance(report, DeliveryReport)
    [receipt] = result.receipts
    assert (report.modem, report.reference, report.recipient, report.outcome) == (
        receipt.modem, receipt.reference, receipt.destination, "delivered")


def test_the_inbound_handler_runs_on_the_pool_thread_and_a_failure_keeps_the_sms(bench):
    calls = Collected()

    def handler(message):
        calls.append((threading.current_thread().name, message.text))
        if len(calls) == 1:
            raise RuntimeError("database down")

    pool = bench.pool(bench.config("a"), start=False)
    pool.start(on_sms=handler)
    bench.net.phone(PHONE).send(health_of(pool, "a").identity.own_number, "retry me")
    bench.net.tick()
    calls.wait(1)
    pool.maintain()  # the sweep finds it again
    assert calls.wait(2) == ("modem-pool-inbound", "retry me")
    pool.stop()  # joins the inbound thread: the ack is done
    assert bench.sim("a").machine.card.used == 0


def test_a_full_inbound_queue_leaves_the_sms_on_the_sim_for_later(bench):
    pool = bench.pool(bench.config("a"), inbound_capacity=1)
    number = health_of(pool, "a").identity.own_number
    bench.net.phone(PHONE).send(number, "first")
    bench.net.phone("+15557654321").send(number, "second")
    bench.net.tick()
    first = pool.receive(timeout=WAIT)
    first.ack()
    pool.maintain()
    second = pool.receive(timeout=WAIT)
    assert {first.text, second.text} == {"first", "second"}
    second.ack()
    assert bench.sim("a").machine.card.used == 0


# ---------------------------------------------------------------- health, start and stop
def test_health_is_plain_data_readable_at_any_time(bench):
    pool = bench.pool(bench.config("a", daily_quota=100))
    pool.send(PHONE, "hello")
    health = dataclasses.asdict(health_of(pool, "a"))
    assert health["state"] == "ready" and health["network"]["signal_dbm"] == -73
    assert health["network"]["registration"] == "home" and health["sent_parts"] == 1
    assert health["identity"]["imei"] and health["daily_quota"] == 100


def test_power_notices_show_in_health_and_survive_a_reopen(bench):
    pool = bench.pool(bench.config("a"), supervise=False)
    assert health_of(pool, "a").last_power_warning is None
    bench.sim("a").emit_urc("UNDER-VOLTAGE WARNNING")
    assert pool.wait_for(lambda hs: hs[0].last_power_warning == "UNDER-VOLTAGE WARNNING", WAIT)
    bench.clock.advance(5)
    bench.sim("a").emit_urc("NORMAL POWER DOWN")
    assert pool.wait_for(lambda hs: hs[0].last_power_warning == "NORMAL POWER DOWN", WAIT)
    assert health_of(pool, "a").last_power_warning_at == bench.clock.now()
    bench.sim("a").inject("unplug")
    wait_state(pool, "a", "gone")
    bench.sim("a").clear_faults("unplug")
    bench.clock.advance(1)
    assert pool.reopen_due() == 1
    assert health_of(pool, "a").last_power_warning == "NORMAL POWER DOWN"


def test_start_names_every_thread_and_stop_joins_them(bench):
    pool = bench.pool(bench.config("a"), bench.config("b"), start=False)
    pool.start(on_sms=lambda m: None)
    names = {t.name for t in threading.enumerate()}
    expected = {"modem-reader-a", "modem-events-a", "modem-reader-b", "modem-events-b",
                "modem-pool-supervisor", "modem-pool-inbound"}
    assert expected <= names
    pool.stop()
    assert not expected & {t.name for t in threading.enumerate()}
    assert {h.state for h in pool.health()} == {"stopped"}


def test_parts_sent_before_a_restart_count_against_the_daily_quota():
    from datetime import date, datetime, timezone

    from modem.limits import SendLimits

    limits = SendLimits(per_minute=None, daily_quota=10)
    limits.carry_over(date(2026, 11, 24), 9)
    now = datetime(2026, 11, 24, 12, tzinfo=timezone.utc)
    assert limits.reserve(1, 0.0, now) == 0.0  # the 10th
    assert limits.reserve(1, 0.0, now) == 12 * 3600  # none left until midnight UTC
    assert limits.reserve(1, 0.0, datetime(2026, 11, 25, 0, tzinfo=timezone.utc)) == 0.0

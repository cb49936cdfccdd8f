"""The admin page's pure parts: signal bars, the 24-hour buckets and chart, conversion
rows, the scrypt password file and the `admin password` command."""
from __future__ import annotations

import stat
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from gateway.admin.password import (PasswordError, hash_password, password_file,
                                    read_password_hash, verify_password)
from gateway.api.admin import figures
from gateway.cli.server_commands import main

NOW = datetime(2026, 11, 30, 12, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize("dbm, bars", [(None, 0), (-113, 0), (-103, 1), (-90, 2),
                                       (-83, 3), (-51, 4)])
def test_signal_bars_follow_the_dbm_steps(dbm, bars):
    assert figures.signal_bars(dbm) == bars
    assert f"signal {bars} of 4 bars" in figures.signal_svg(dbm)


def test_hours_count_what_left_was_delivered_and_failed_and_ignore_older_rows():
    rows = [("delivered", NOW - timedelta(minutes=5)), ("sent", NOW - timedelta(minutes=20)),
            ("failed", NOW - timedelta(hours=3)), ("unknown", NOW - timedelta(hours=3)),
            ("delivered", NOW - timedelta(hours=30))]
    buckets = figures.hourly(rows, NOW)
    assert len(buckets) == figures.HOURS and buckets[-1]["hour"].hour == 12
    assert (buckets[-1]["sent"], buckets[-1]["delivered"], buckets[-1]["failed"]) == (2, 1, 0)
    assert buckets[-4]["failed"] == 2
    assert sum(b["delivered"] for b in buckets) == 1
    svg = figures.chart_svg(buckets)
    assert svg.startswith('<svg class="chart"') and "2 sent, 1 delivered, 2 failed" in svg


def test_conversion_rows_add_a_total_per_method():
    rows = figures.conversion_rows([("sms/mt", "FR", 10, 4), ("sms/mt", None, 2, 0),
                                    ("sms/momt", "FR", 0, 0)])
    assert rows[0] == {"method": "sms/mt", "country": "FR", "started": 10, "completed": 4,
                       "conversion": "40%"}
    assert rows[1]["country"] == "?"
    totals = {r["method"]: r for r in rows if r.get("total")}
    assert totals["sms/mt"]["conversion"] == "33%" and totals["sms/momt"]["conversion"] == "-"


def test_a_password_hash_is_scrypt_salted_and_checks_only_its_password():
    stored = hash_password("correct horse battery")
    assert stored.startswith("scrypt$15$8$1$")
    assert stored != hash_password("correct horse battery")  # salted
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "correct horse batterY")
    with pytest.raises(PasswordError):
        hash_password("short")
    with pytest.raises(PasswordError, match="malformed"):
        verify_password("not a hash", "whatever")


def test_admin_password_reads_stdin_and_writes_a_private_file(make_settings, tmp_path):
    result = CliRunner().invoke(main, ["admin", "password", "--state-dir", str(tmp_path)],
                                input="correct horse battery\n")
    assert result.exit_code == 0, result.output
    assert "correct horse battery" not in result.output
    settings = make_settings()
    path = password_file(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert verify_password(read_password_hash(settings), "correct horse battery")


def test_admin_password_refuses_a_short_password_clearly(tmp_path):
    result = CliRunner().invoke(main, ["admin", "password", "--state-dir", str(tmp_path)],
                                input="short\n")
    assert result.exit_code == 1
    assert "8 to 1024 characters" in result.output
    assert not (tmp_path / "admin-password").exists()


def test_a_bad_admin_network_is_refused_at_start(make_settings):
    from gateway.config.settings import SettingsError

    with pytest.raises(SettingsError, match="admin_networks"):
        make_settings(admin_networks=["not-a-network"])
    assert make_settings().admin_networks[0] == "127.0.0.0/8"

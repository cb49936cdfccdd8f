"""How many bytes the gateway's SQLite database holds, for the API benchmark (bench/api.py),
and the worker's cleanup run from outside the worker.

Sizes are read with Python's sqlite3 on the live database (WAL mode: the server may keep
running) after ``PRAGMA wal_checkpoint(TRUNCATE)``: ``file`` is page_count × page_size,
``live`` leaves out the pages on the freelist (deleted rows free pages that later inserts
reuse, but the file does not shrink: auto_vacuum is off), and ``tables`` is the bytes of
pages per table, its indexes included (the ``dbstat`` virtual table, when compiled in).
"""
from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

DATABASE = "msisdn-gateway.sqlite3"


@dataclass(frozen=True)
class DatabaseSize:
    file: int  # page_count × page_size, bytes
    live: int  # (page_count − freelist_count) × page_size, bytes
    tables: dict[str, int] = field(default_factory=dict)  # table (with indexes) -> bytes
    checkpoint_busy: bool = False  # the WAL could not be fully checkpointed


def database_size(state_dir: Path, attempts: int = 50) -> DatabaseSize:
    """Checkpoint the WAL into the database file (retrying while a server connection
    reads), then measure."""
    with closing(sqlite3.connect(state_dir / DATABASE, timeout=10)) as db:
        for _ in range(attempts):
            busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if not busy:
                break
            time.sleep(0.05)  # a reader of another process holds the WAL; try again
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        try:
            rows = db.execute(
                "SELECT coalesce(s.tbl_name, d.name), sum(d.pgsize) FROM dbstat AS d "
                "LEFT JOIN sqlite_schema AS s ON s.name = d.name GROUP BY 1").fetchall()
        except sqlite3.OperationalError:  # SQLite built without SQLITE_ENABLE_DBSTAT_VTAB
            rows = []
    return DatabaseSize(pages * page_size, (pages - free) * page_size, dict(rows), bool(busy))


class ShiftedClock:
    """The real clock, ``seconds`` ahead: cleanup as it will run once every retention
    period of what was just written has passed."""

    manual = False

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + timedelta(seconds=self.seconds)

    def monotonic(self) -> float:
        return time.monotonic() + self.seconds


def load_bench_settings(state_dir: Path, config: Path):
    """The settings `serve --simulate --state-dir STATE` resolves from ``config``."""
    from gateway.config.settings import load_settings

    return load_settings(config, overrides={"simulate": True, "state_dir": state_dir},
                         environ={})


def longest_retention(settings) -> int:
    """Seconds after which every row a verification writes has expired, except the
    verified session itself (``verified_session_ttl``): rate-limit windows, codes,
    nonces, pending sessions, outbox rows (the worker's retention of final rows)."""
    from gateway.process.worker import OUTBOX_RETENTION_SECONDS

    periods = [rule.period for name in ("rate_limit_short_code", "rate_limit_msisdn",
                                        "rate_limit_method", "rate_limit_sms_total",
                                        "rate_limit_client")
               for rule in getattr(settings, name)]
    return max([OUTBOX_RETENTION_SECONDS, settings.short_code_ttl, settings.long_code_ttl,
                settings.hawk_skew_seconds, settings.sms_ttl, settings.pending_session_ttl,
                *periods])


def run_cleanup(state_dir: Path, config: Path, ahead_seconds: float = 0) -> dict:
    """The worker's cleanup job (gateway.process.worker.cleanup), run here against the same
    database, with the clock ``ahead_seconds`` in the future; returns rows per table."""
    from gateway.process.wiring import build_deps
    from gateway.process.worker import cleanup
    from gateway.storage.db import make_engine

    settings = load_bench_settings(state_dir, config)
    engine = make_engine(settings.effective_database_url)
    try:
        return cleanup(build_deps(settings, engine, clock=ShiftedClock(ahead_seconds)))
    finally:
        engine.dispose()

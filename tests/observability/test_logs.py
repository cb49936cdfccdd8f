"""Structured log lines: phone numbers and long hex ids masked whatever the caller did,
text and JSON formats, and no timestamp (but a priority prefix) when stdout is journald's
stream."""
from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

from gateway.logs import StructuredHandler, mask_text, under_journald
from gateway.logs import configure_logging

HAWK_ID = "0123456789abcdef" * 4
ROOT = Path(__file__).resolve().parents[2]
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")


@pytest.fixture
def emit():
    """Log one record through a StructuredHandler on a private logger; returns the output."""
    logger = logging.getLogger("gateway.test-logs")
    logger.setLevel(logging.DEBUG)

    def emit_(*args, fmt="text", stream=None, journal_stream=None, **kwargs) -> str:
        out = stream or io.StringIO()
        handler = StructuredHandler(fmt, out, journal_stream)
        logger.addHandler(handler)
        try:
            logger.info(*args, **kwargs)
        finally:
            logger.removeHandler(handler)
        if stream is not None:
            stream.flush()
            return Path(stream.name).read_text()
        return out.getvalue()

    yield emit_
    logger.setLevel(logging.NOTSET)


def test_a_number_and_a_hawk_id_in_a_message_come_out_masked(emit):
    line = emit("code sent to %s for session %s", "+33612345678", HAWK_ID)
    assert "+33612345678" not in line and HAWK_ID not in line
    assert "+33*******78" in line and "0123****" in line


def test_numbers_without_plus_in_context_and_in_tracebacks_are_masked_too(emit):
    try:
        raise ValueError("bad recipient 33612345678")
    except ValueError:
        line = emit("failed", exc_info=True, extra={"sender": "+447911123456"})
    assert "33612345678" not in line and "447911123456" not in line
    assert "sender=+44********56" in line and "ValueError: bad recipient 336******78" in line


def test_a_bad_format_call_still_comes_out_masked_and_never_raises(emit):
    line = emit("sent %d to %s", "+33612345678")
    assert "bad log arguments" in line and "+33*******78" in line


@pytest.mark.parametrize("uri, shown", [
    ("/v1/accounts/code/123-456", "/v1/accounts/code/****"),  # a TextSecure code
    ("/v1/directory/Wq3bE0NVfQ2ZRw", "/v1/directory/****"),  # a number's token
    ("/auth/v1/sna/sms/NV-7QX2K9", "/auth/v1/sna/sms/****"),
    ("/auth/v1/sna/link/NV-7QX2K9/status", "/auth/v1/sna/link/****/status"),
    ("/oauth2/authorize/status?proof=NV-7QX2K9&lang=fr",
     "/oauth2/authorize/status?proof=****&lang=fr"),
])
def test_the_secrets_urls_carry_come_out_masked_in_access_lines(emit, uri, shown):
    line = emit('%s - - [01/Dec/2026:03:00:00 +0000] "PUT %s HTTP/1.1" 200 2 "-" "-"',
                "127.0.0.1", uri)
    assert f'"PUT {shown} HTTP/1.1" 200' in line


def test_urls_without_secrets_are_left_alone():
    for uri in ("/v1/directory/tokens", "/v1/accounts/sms/code/+33*******78",
                "/auth/v1/status/sna?requestId=Xq3", "/v1/msisdn/sms/verify_code"):
        assert mask_text(f"PUT {uri} 200") == f"PUT {uri} 200"


def test_short_numbers_decimals_and_words_with_digits_are_left_alone():
    text = "outbox 42 modem0 took 0.123456789 s, TP-MR 255, 2026-01-02, id abc12345678"
    assert mask_text(text) == text


def test_text_lines_have_time_level_logger_pid_message_and_context(emit):
    line = emit("worker started", extra={"modems": 2, "state": "ready now"})
    assert TIMESTAMP.match(line), line
    assert line.rstrip("\n").endswith(
        f"INFO gateway.test-logs[{os.getpid()}]: worker started modems=2 state=\"ready now\"")


def test_json_lines_parse_and_carry_the_same_fields(emit):
    line = emit("sent to %s", "+33612345678", fmt="json", extra={"modem": "sim0"})
    entry = json.loads(line)
    assert entry.pop("time").endswith("Z")
    assert entry == {"level": "INFO", "logger": "gateway.test-logs", "pid": os.getpid(),
                     "message": "sent to +33*******78", "modem": "sim0"}


def journal_stream_of(stream) -> str:
    status = os.fstat(stream.fileno())
    return f"{status.st_dev}:{status.st_ino}"


def test_under_journald_there_is_no_timestamp_but_a_syslog_priority(emit, tmp_path):
    with (tmp_path / "journal").open("w") as journal:
        line = emit("worker started", stream=journal, journal_stream=journal_stream_of(journal))
    assert line.startswith(f"<6>INFO gateway.test-logs[{os.getpid()}]: worker started")
    with (tmp_path / "journal.json").open("w") as journal:
        entry = emit("x", fmt="json", stream=journal, journal_stream=journal_stream_of(journal))
    assert entry.startswith("<6>{") and "time" not in json.loads(entry[3:])


def test_a_redirected_stdout_keeps_its_timestamps_even_with_journal_stream_set(tmp_path):
    with (tmp_path / "journal").open("w") as journal, (tmp_path / "file").open("w") as other:
        assert under_journald(journal_stream_of(journal), journal)
        assert not under_journald(journal_stream_of(journal), other)
    assert not under_journald("", sys.stdout) and not under_journald("garbage", sys.stdout)


@contextmanager
def bare_root_logger():
    """The root logger without pytest's capture handlers (configure_logging, like
    basicConfig, leaves a logger configured by someone else alone), restored after.
    Entered in the test body: pytest attaches its handlers after fixtures are set up."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    root.handlers[:] = []
    try:
        yield root
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_configure_logging_installs_one_handler_at_the_configured_level(make_settings):
    out = io.StringIO()
    settings = make_settings(log_level="WARNING")
    with bare_root_logger() as root:
        configure_logging(settings, out)
        configure_logging(settings, out)  # twice in a process (the worker command does)
        logging.getLogger("gateway.somewhere").info("not shown")
        logging.getLogger("gateway.somewhere").warning("to %s", "+33612345678")
        assert [type(h) for h in root.handlers] == [StructuredHandler]
    [line] = out.getvalue().splitlines()
    assert line.endswith("WARNING gateway.somewhere[%d]: to +33*******78" % os.getpid())


def test_configure_logging_leaves_a_logger_configured_by_someone_else_alone(make_settings):
    theirs = logging.StreamHandler(io.StringIO())
    with bare_root_logger() as root:
        root.addHandler(theirs)
        configure_logging(make_settings(log_level="DEBUG"), io.StringIO())
        assert root.handlers == [theirs]


GUNICORN = """
import logging.config
from types import SimpleNamespace
from gunicorn.glogging import CONFIG_DEFAULTS
from gateway.logs import gunicorn_logconfig
config = dict(CONFIG_DEFAULTS)
config.update(gunicorn_logconfig(SimpleNamespace(log_level="INFO", log_format="json")))
logging.config.dictConfig(config)
logging.getLogger("gunicorn.error").info("Booting worker with pid: %s", 4321)
"""


def test_gunicorns_own_lines_go_through_the_same_handler():
    done = subprocess.run([sys.executable, "-c", GUNICORN], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    entry = json.loads(done.stdout)
    assert (entry["logger"], entry["message"]) == ("gunicorn.error",
                                                   "Booting worker with pid: 4321")
    assert done.stderr == ""


def test_settings_without_the_new_fields_give_text_lines():
    from gateway.logs import handler_for

    handler = handler_for(SimpleNamespace(log_level="INFO"), io.StringIO())
    assert handler.formatter.fmt == "text" and handler.formatter.timestamps

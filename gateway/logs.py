"""Logging set-up: one structured line per record on stdout, for journald (or a terminal).

Formats (setting ``log_format``):

- ``text`` (default): ``[TIME ]LEVEL logger[pid]: message key=value ...``
- ``json``: one object per line with ``time`` (omitted under journald), ``level``,
  ``logger``, ``pid``, ``message``, the context keys and ``exception`` when there is one.

Context is what a caller passes as ``extra={...}``; values with blanks are quoted.

Under journald (``JOURNAL_STREAM`` names our stdout, as systemd sets it for a service whose
output goes to the journal) there is no timestamp, since journald stamps every line, and
each line starts with the syslog priority prefix ``<N>`` that journald turns into the
entry's priority (``journalctl -p warning`` works).

Privacy: :class:`MaskingFilter`, on the handler so it sees every record, rewrites the
message (and the context, the traceback) of every record: runs of 32 or more hex digits
(Hawk ids and keys, session tokens, long codes, secrets) keep their first 4 characters,
and E.164-looking digit runs (8 digits or more, with or without ``+``) are masked as
:func:`modem.numbers.mask_number` does. It is a safety net behind the
explicit ``mask_number`` calls; it also masks other long digit runs (IMSIs, epoch
seconds), which is the price of never leaking a number. The secrets some URLs carry (a
TextSecure code or directory token, an SNA link's token, a CAMARA page's ``proof``) come
out as ``****`` wherever they are logged (access lines above all).

Nothing happens at import time; the composition root calls :func:`configure_logging`.
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import datetime, timezone
from typing import TextIO

from modem.numbers import mask_number

LOG_FORMATS = ("text", "json")
HEX_RUN = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{32,}(?![0-9A-Fa-f])")
# 8 digits or more (E.164 numbers, also IMSIs and ICCIDs), not inside a word or a decimal.
PHONE_RUN = re.compile(r"(?<![\w.+])\+?\d{8,}(?!\w)")
# Secrets in URLs: the path segment after these prefixes (not the route ".../tokens"),
# the value of these query parameters.
URL_SECRET = re.compile(
    r"(/v1/accounts/code/|/v1/directory/(?!tokens(?![^/?#\s\"]))|/auth/v1/sna/(?:link|sms)/)"
    r"[^/?#\s\"]+|([?&]proof=)[^&#\s\"]+")
URL_SECRET_MARKERS = ("/code/", "/directory/", "/sna/", "proof=")  # one is in each match
# LogRecord attributes that are not caller context (``extra``).
STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}
# Python level -> syslog priority, for journald's "<N>" line prefix.
SYSLOG_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4,
                   logging.INFO: 6, logging.DEBUG: 7}
NOISY_LOGGERS = ("apscheduler",)


def mask_text(text: str) -> str:
    """``text`` with the secrets of URLs (URL_SECRET) as ``****``, long hex runs cut to 4
    characters and phone-like digit runs masked."""
    if any(marker in text for marker in URL_SECRET_MARKERS):  # a scan per line saved
        text = URL_SECRET.sub(lambda m: (m.group(1) or m.group(2)) + "****", text)
    text = HEX_RUN.sub(lambda m: m.group()[:4] + "****", text)
    return PHONE_RUN.sub(lambda m: mask_number(m.group()), text)


class MaskingFilter(logging.Filter):
    """Masks phone numbers and long hex runs in the record itself (message with its
    arguments merged, string context values, traceback), so every handler after this one
    sees the masked text. Never drops a record."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format call must not raise into the caller
            message = f"{record.msg} (bad log arguments: {record.args!r})"
        record.msg, record.args = mask_text(message), None
        for key, value in list(vars(record).items()):
            if key not in STANDARD_ATTRIBUTES and isinstance(value, str):
                setattr(record, key, mask_text(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


def _context(record: logging.LogRecord) -> dict:
    return {k: v for k, v in vars(record).items()
            if k not in STANDARD_ATTRIBUTES and not k.startswith("_")}


def _text_value(value) -> str:
    text = str(value)
    return json.dumps(text) if not text or any(c.isspace() or c in '"=' for c in text) else text


class StructuredFormatter(logging.Formatter):
    """``fmt``: "text" or "json". ``timestamps``: lead with UTC ISO time (off under
    journald). ``priority_prefix``: start with journald's ``<N>``."""

    def __init__(self, fmt: str = "text", *, timestamps: bool = True,
                 priority_prefix: bool = False) -> None:
        super().__init__()
        if fmt not in LOG_FORMATS:
            raise ValueError(f"log format {fmt!r} is not one of {', '.join(LOG_FORMATS)}")
        self.fmt, self.timestamps, self.priority_prefix = fmt, timestamps, priority_prefix

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        trace = "\n".join(t for t in (record.exc_text, record.stack_info) if t)
        line = self._json(record, message, trace) if self.fmt == "json" else self._text(
            record, message, trace)
        if self.priority_prefix:
            line = f"<{SYSLOG_PRIORITY.get(record.levelno, 6)}>{line}"
        return line

    def _time(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, timezone.utc)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def _text(self, record, message: str, trace: str) -> str:
        parts = [self._time(record)] if self.timestamps else []
        parts += [record.levelname, f"{record.name}[{record.process}]:", message]
        parts += [f"{key}={_text_value(value)}" for key, value in sorted(_context(record).items())]
        return " ".join(parts) + ("\n" + trace if trace else "")

    def _json(self, record, message: str, trace: str) -> str:
        entry = {"time": self._time(record)} if self.timestamps else {}
        entry.update(level=record.levelname, logger=record.name, pid=record.process,
                     message=message)
        for key, value in _context(record).items():
            entry.setdefault(key, value)
        if trace:
            entry["exception"] = trace
        return json.dumps(entry, default=str, ensure_ascii=False)


def under_journald(journal_stream: str | None, stream: TextIO) -> bool:
    """True when ``journal_stream`` (``JOURNAL_STREAM``: "DEVICE:INODE") is ``stream``'s
    file, as systemd's documentation asks to check (a redirected stdout is not)."""
    if not journal_stream:
        return False
    try:
        device, inode = (int(part) for part in journal_stream.split(":"))
        status = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (status.st_dev, status.st_ino) == (device, inode)


class StructuredHandler(logging.StreamHandler):
    """The gateway's handler: masking filter plus structured formatter. ``stream`` None
    means ``sys.stdout`` as it is at each record (so a replaced stdout is followed)."""

    def __init__(self, fmt: str = "text", stream: TextIO | None = None,
                 journal_stream: str | None = None) -> None:
        super().__init__(stream or sys.stdout)
        self._follow_stdout = stream is None
        journald = under_journald(journal_stream, stream or sys.stdout)
        self.setFormatter(StructuredFormatter(fmt, timestamps=not journald,
                                              priority_prefix=journald))
        self.addFilter(MaskingFilter())

    def emit(self, record: logging.LogRecord) -> None:
        if self._follow_stdout:
            self.stream = sys.stdout
        super().emit(record)


def handler_for(settings, stream: TextIO | None = None) -> StructuredHandler:
    """A handler configured from ``settings`` (``log_format``, ``journal_stream``)."""
    return StructuredHandler(getattr(settings, "log_format", "text"), stream,
                             getattr(settings, "journal_stream", None))


def configure_logging(settings, stream: TextIO | None = None) -> StructuredHandler | None:
    """Install the gateway's handler on the root logger at ``settings.log_level``,
    replacing one installed before (safe to call twice in a process). Returns it.

    Like ``logging.basicConfig``, does nothing (returns None) when the root logger has
    handlers that are not ours: someone else (a test runner, a program embedding the
    gateway) configured logging. ``stream`` None means stdout: the servers' output. A
    command whose stdout is its result (``--json``) must pass ``sys.stderr``."""
    root = logging.getLogger()
    if any(not isinstance(h, StructuredHandler) for h in root.handlers):
        return None
    for old in list(root.handlers):
        root.removeHandler(old)
    handler = handler_for(settings, stream)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # One line per job run (every 100 ms for the dispatcher) would drown everything else.
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return handler


def gunicorn_logconfig(settings) -> dict:
    """gunicorn's ``logconfig_dict``: its loggers propagate to a root logger that has our
    handler, so the arbiter's and workers' lines look like the rest."""
    level = settings.log_level.upper()
    return {
        "version": 1, "disable_existing_loggers": False,
        "root": {"level": level, "handlers": ["gateway"]},
        "loggers": {name: {"level": level, "handlers": [], "propagate": True,
                           "qualname": name} for name in ("gunicorn.error", "gunicorn.access")},
        "handlers": {"gateway": {"()": handler_for, "settings": settings}},
        "formatters": {},
    }

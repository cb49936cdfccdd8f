"""The reader thread of one modem (``modem-reader-NAME``): bytes from the port to lines.

:meth:`LineReader.run` reads the port until it fails or the engine stops. Bytes are decoded
leniently: a byte that is not UTF-8 is logged with its hex and replaced, never fatal. Lines
are split (a line keeps its first MAX_LINE bytes; the rest is dropped, logged once), and
the ``> `` prompt of ``AT+CMGS`` is recognised while one is awaited. Each line goes to the
command in flight (:class:`modem.at.inflight.InFlight`) or becomes a :class:`Urc`, even in
the middle of another command's response; ``+CMT``/``+CDS``/``+CBM`` take the PDU line
that follows. URCs are handed to ``on_urc``, which must not block (the engine queues them).

Only reading the port decides that the port failed (as in pyserial's ``ReaderThread``): an
error raised by ``read()`` is passed to ``on_fail(exc)`` and ends the thread. A bug met while
handling one line (PARSE_ERRORS) is logged with its traceback and that line skipped; the
modem stays up. Anything else is a crash of the thread: logged, then ``on_fail(exc)``.
"""
from __future__ import annotations

import dataclasses
import logging
import re
import threading
from typing import Callable

import serial

from modem.at.inflight import ANSWER, InFlight
from modem.at.results import Urc

log = logging.getLogger(__name__)
_HEX_LINE = re.compile(r"[0-9A-Fa-f]+")
_JUNK = re.compile(r"[\x00-\x1f\x7f\ufffd]")
_LINE_END = re.compile(rb"[\r\n]")
_LINE_ENDS, _SPACES = re.compile(rb"[\r\n]*"), re.compile(rb" *")
#: The longest line kept, in bytes (the longest real one, a PDU line, is under 400; an
#: operator list of AT+COPS=? a few hundred more). Beyond it a line is junk.
MAX_LINE = 4096
#: What reading or writing a port raises when it fails: pyserial, the OS, or a port closed
#: under us (pyserial then meets a file descriptor of None or -1: TypeError, ValueError,
#: AttributeError). Caught around ``read()``/``write()`` only, never around our own code.
PORT_ERRORS = (serial.SerialException, OSError, ValueError, TypeError, AttributeError)
#: What a bug in handling one line raises (classifying, parsing, a transcript callback).
PARSE_ERRORS = (ValueError, TypeError, AttributeError, LookupError)


class LineReader:
    """Reads one port on the thread that calls :meth:`run` (never on a caller's thread)."""

    def __init__(self, port: serial.SerialBase, inflight: InFlight, *, name: str,
                 on_urc: Callable[[Urc], object], on_fail: Callable[[BaseException], None],
                 stopping: threading.Event,
                 transcript: Callable[[str, str], None] | None = None):
        self.name = name
        self._port, self._inflight = port, inflight
        self._on_urc, self._on_fail = on_urc, on_fail
        self._stopping, self._transcript = stopping, transcript
        self._urc_waiting_pdu: Urc | None = None
        self._buffer = bytearray()  # the unfinished line
        self._searched = 0  # bytes at its start known to hold no line end
        self._overlong = False  # it passed MAX_LINE: what follows until its end is dropped

    def run(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    data = self._port.read(self._port.in_waiting or 1)
                except PORT_ERRORS as exc:  # the port alone: our own bugs are not its death
                    if not self._stopping.is_set():
                        log.warning("%s: port failed: %s", self.name, exc)
                    self._on_fail(exc)
                    return
                if data:
                    self._feed(data)
        except Exception as exc:  # noqa: BLE001  top of the thread: log, never die silently
            log.exception("%s: reader thread crashed", self.name)
            self._on_fail(exc)

    def _feed(self, data: bytes) -> None:
        """Add ``data`` to the unfinished line; consume whole lines (and a prompt). Only
        bytes not searched before are searched for a line end, and a line keeps at most
        MAX_LINE bytes: a port that never ends its line costs linear time, bounded memory."""
        buffer = self._buffer
        buffer += data
        while True:
            self._skip_line_ends()
            if buffer[:1] == b">" and self._inflight.awaiting_prompt():
                self._on_prompt()
                del buffer[:1]
                self._skip_line_ends(_SPACES)
                continue
            end = _LINE_END.search(buffer, self._searched)
            if end is None:
                self._searched = len(buffer)
                self._cap()
                return
            raw = bytes(buffer[:min(end.start(), MAX_LINE)])
            del buffer[:end.end()]
            self._searched = 0
            if self._overlong or end.start() > MAX_LINE:
                self._drop_excess(raw)
            self._overlong = False
            self._on_line(self._decode(raw))

    def _skip_line_ends(self, leading: re.Pattern = _LINE_ENDS) -> None:
        skip = leading.match(self._buffer).end()  # no copy of the buffer: it may be long
        if skip:
            del self._buffer[:skip]
            self._searched = max(0, self._searched - skip)

    def _cap(self) -> None:
        """Keep the first MAX_LINE bytes of an unfinished line; the rest is junk."""
        if len(self._buffer) > MAX_LINE:
            del self._buffer[MAX_LINE:]
            self._searched = MAX_LINE
            self._drop_excess(bytes(self._buffer))
            self._overlong = True

    def _drop_excess(self, head: bytes) -> None:
        if not self._overlong:  # once per line: the junk may keep coming for a long time
            log.warning("%s: a line longer than %d bytes: the rest of it dropped (it began "
                        "%s)", self.name, MAX_LINE, head[:32].hex(" "))

    def _decode(self, raw: bytes) -> str:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            log.warning("%s: undecodable bytes on the line: %s", self.name, raw.hex(" "))
            text = raw.decode("utf-8", errors="replace")
        return _JUNK.sub("", text).strip()

    def _on_prompt(self) -> None:
        if self._transcript:
            self._transcript("<-", "> ")
        self._inflight.prompted()

    def _on_line(self, text: str) -> None:
        """One line; a bug met while handling it is logged with its traceback and the line
        skipped: one odd line must not take the modem down (and make it flap on reopening)."""
        if not text:
            return
        try:
            self._handle(text)
        except PARSE_ERRORS:
            log.exception("%s: skipped a line that could not be handled: %r", self.name, text)

    def _handle(self, text: str) -> None:
        if self._transcript:
            self._transcript("<-", text)
        log.debug("%s <- %s", self.name, text)
        if self._take_urc_pdu(text):
            return
        kind = self._inflight.offer(text)
        if kind is ANSWER:
            return
        if kind is None:
            log.info("%s: unsolicited line ignored: %r", self.name, text)
        elif kind.has_pdu:
            self._urc_waiting_pdu = kind.urc(text)
        else:
            self._on_urc(kind.urc(text))

    def _take_urc_pdu(self, text: str) -> bool:
        """The line after ``+CMT:``/``+CDS:`` is its PDU; anything else drops that header."""
        urc, self._urc_waiting_pdu = self._urc_waiting_pdu, None
        if urc is None:
            return False
        if _HEX_LINE.fullmatch(text):
            self._on_urc(dataclasses.replace(urc, pdu=text))
            return True
        log.warning("%s: %s without its PDU line (got %r)", self.name, urc.line, text)
        return False

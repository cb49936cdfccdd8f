"""The AT session of one modem: one command in flight, one reader thread, URCs queued.

Threads (both named after the modem and joined by :meth:`AtEngine.stop`):

- ``modem-reader-NAME`` (:mod:`modem.at.reader`) reads the port, decodes bytes leniently,
  splits lines and classifies each one against the command in flight
  (:mod:`modem.at.inflight`): a final result code or an information line of that command, the
  ``> `` prompt of ``AT+CMGS``, or an unsolicited result code (:mod:`modem.at.results`), even in
  the middle of another command's response. It never runs handlers and never blocks on them.
- ``modem-events-NAME`` takes URCs and posted tasks from a queue and runs them, so a
  handler may itself issue AT commands while the reader keeps reading. Message, report,
  restart and power notices are never dropped; chatter (signal, registration) waits
  ``queue_size`` at most, the oldest dropped first (:mod:`modem.at.events`).

Commands are serialised by one lock held for a whole exchange, including ``AT+CMGS``, its
prompt, the PDU and Ctrl-Z, so concurrent callers never interleave on the wire.

A command that timed out stays open and takes its own late lines up to its final result;
the next command is preceded by a resynchronisation (ESC, then a probe whose answer no other
command gives), and is not written at all if the probe gets no answer: the modem is then
out of sync, marked gone and reopened (:meth:`AtEngine._synchronise`). A late ``OK`` to a
send that was given up as unknown reaches the sender's ``on_late`` (:meth:`AtEngine.submit`).
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Callable

import serial

from modem.at import commands as at
from modem.exceptions import (CommandRejected, ModemGone, ModemOutOfSync, ModemTimeout,
                               SendOutcomeUnknown, redact)
from modem.at.events import EventQueue
from modem.at.inflight import Exchange, InFlight, RealWaits, Waits
from modem.at.reader import PORT_ERRORS, LineReader
from modem.at.results import Urc

log = logging.getLogger(__name__)
_STOP = object()
MAX_BACKOFF = 5.0  # seconds: the longest wait between two busy retries
__all__ = ["AtEngine", "Urc", "Waits", "RealWaits", "MAX_BACKOFF"]


class AtEngine:
    """The AT session over an open pyserial port (the engine owns and closes it).

    ``on_urc(urc)`` and posted tasks run on the events thread; ``on_gone(exc)`` runs once,
    on the reader thread when the port fails, or on a caller's thread when the modem falls
    out of sync (ModemOutOfSync, see ``_synchronise``); it must return quickly without AT
    commands.
    ``on_drop(urc)`` runs on the reader thread for each chatter URC dropped from a full
    events queue (``dropped_events`` counts them) and must not block.
    ``transcript(direction, text)`` (direction ``"->"`` or ``"<-"``) sees every command and
    every line, from either thread. Timeouts are seconds.

    ``waits`` (:class:`modem.at.inflight.Waits`, default :class:`RealWaits`) does every wait
    of the engine: command, prompt and result timeouts, the resynchronisation probe and the
    busy back-off, which a stop ends early.
    """

    def __init__(self, port: serial.SerialBase, *, name: str,
                 on_urc: Callable[[Urc], None] | None = None,
                 on_gone: Callable[[BaseException], None] | None = None,
                 transcript: Callable[[str, str], None] | None = None,
                 command_timeout: float = 10.0, busy_retries: int = 5, busy_backoff: float = 0.5,
                 queue_size: int = 256, waits: Waits | None = None,
                 on_drop: Callable[[Urc], None] | None = None):
        self.name = name
        self._port = port
        self._on_urc = on_urc or (lambda urc: log.debug("%s: URC %s", name, urc.line))
        self._on_gone = on_gone
        self._transcript = transcript
        self.command_timeout = command_timeout
        self._busy_retries = busy_retries
        self._busy_backoff = busy_backoff
        self._stopping = threading.Event()
        self._waits = waits or RealWaits()
        self._lock = threading.Lock()  # one exchange on the wire at a time
        self._inflight = InFlight(name, self._waits, on_late=self._late)  # and the reader's
        self._needs_sync = False
        self._sync_timeout = command_timeout  # how long the next probe may wait, seconds
        self._on_drop = on_drop
        self._events = EventQueue(queue_size, on_drop=self._dropped)
        self.dropped_events = 0
        reader = LineReader(port, self._inflight, name=name, on_urc=self._enqueue,
                            on_fail=self._fail, stopping=self._stopping, transcript=transcript)
        self._threads = [
            threading.Thread(target=reader.run, name=f"modem-reader-{name}", daemon=True),
            threading.Thread(target=self._event_loop, name=f"modem-events-{name}", daemon=True),
        ]

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the reader and events threads."""
        for thread in self._threads:
            thread.start()

    @property
    def gone(self) -> bool:
        """True once the port failed or the engine was stopped."""
        return self._inflight.gone

    def stop(self, timeout: float = 2.0) -> None:
        """Stop both threads, close the port, fail a command in flight with ModemGone.

        Idempotent; safe from any thread, including a handler on the events thread.
        """
        self._stopping.set()
        self._fail(ModemGone(f"{self.name}: stopped"), notify=False)
        cancel = getattr(self._port, "cancel_read", None)
        if callable(cancel):
            try:
                cancel()
            except (serial.SerialException, OSError, AttributeError, TypeError):
                pass
        try:
            self._events.put_nowait(_STOP)  # wakes an idle events thread
        except queue.Full:
            pass  # a busy one sees the stop flag after its current item
        for thread in self._threads:
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(timeout)
        try:
            self._port.close()
        except (serial.SerialException, OSError):
            pass

    def post(self, task: Callable[[], object]) -> bool:
        """Run ``task()`` on the events thread (queued, never dropped); True."""
        return self._enqueue(task)

    # ------------------------------------------------------------ commands
    def command(self, command: str, timeout: float | None = None) -> list[str]:
        """Send ``command`` and return its information lines (without the final ``OK``).

        Busy answers (CME 14, CME 515, CMS 314) are retried up to ``busy_retries`` times
        with doubling waits. Raises CommandRejected, ModemTimeout or ModemGone.
        """
        for attempt in range(self._busy_retries + 1):
            with self._lock:
                exchange = self._run(command, timeout)
            final = exchange.final
            if final.ok:
                return exchange.lines
            if not final.busy or attempt == self._busy_retries:
                break
            self._wait_busy(command, attempt)
        raise CommandRejected(command, final.kind, final.code, final.text)

    def submit(self, length: int, pdu_hex: str, *, prompt_timeout: float,
               result_timeout: float,
               on_late: Callable[[list[str]], None] | None = None) -> list[str]:
        """Send one SMS-SUBMIT (``AT+CMGS=<length>``, prompt, PDU, Ctrl-Z) under one lock hold.

        Returns the information lines (``+CMGS: <mr>``). Raises CommandRejected (nothing
        was sent), ModemTimeout (no prompt: nothing was sent), ModemGone (before the PDU was
        written) or SendOutcomeUnknown (the PDU was written and no result came back in time).
        After SendOutcomeUnknown, if the modem's ``OK`` comes late after all, ``on_late(lines)``
        runs on the events thread with the information lines (``+CMGS: <mr>``).
        """
        command = at.SUBMIT.format(length=length)
        for attempt in range(self._busy_retries + 1):
            with self._lock:
                exchange = self._prompted(command, prompt_timeout)
                if exchange.prompt:
                    return self._finish_submit(exchange, pdu_hex, result_timeout, on_late)
            if not exchange.final.busy or attempt == self._busy_retries:
                break
            self._wait_busy(command, attempt)
        final = exchange.final
        raise CommandRejected(command, final.kind, final.code, final.text)

    def pause(self, attempt: int) -> None:
        """Wait before retry number ``attempt + 1``: ``busy_backoff`` doubled per attempt,
        at most MAX_BACKOFF seconds; a stop ends the wait early."""
        self._waits.sleep(min(self._busy_backoff * 2 ** attempt, MAX_BACKOFF), self._stopping)

    def _wait_busy(self, command: str, attempt: int) -> None:
        log.info("%s: %s answered busy, retrying", self.name, redact(command))
        self.pause(attempt)

    def _run(self, command: str, timeout: float | None) -> Exchange:
        """One exchange: write, wait for the final result code. Caller holds the lock."""
        timeout = self.command_timeout if timeout is None else timeout
        self._synchronise()
        exchange = self._inflight.begin(Exchange(command))
        try:
            self._write(command.encode("ascii") + b"\r", command)
            self._await(exchange, timeout, lambda: exchange.final is not None)
        finally:
            self._end()
        return exchange

    def _prompted(self, command: str, timeout: float) -> Exchange:
        """Write ``AT+CMGS``, wait for the prompt (or an error). Leaves it open on a prompt."""
        self._synchronise()
        exchange = self._inflight.begin(Exchange(command, wants_prompt=True))
        try:
            self._write(command.encode("ascii") + b"\r", command)
            self._await(exchange, timeout, lambda: exchange.prompt or exchange.final is not None)
        except ModemTimeout:
            self._end()
            self._write_quietly(at.ESCAPE)  # leave a late prompt: nothing is sent (again
            raise  # at the resynchronisation: this ESC may come before the prompt)
        except ModemGone:
            self._end()
            raise
        if not exchange.prompt:
            self._end()
        return exchange

    def _finish_submit(self, exchange: Exchange, pdu_hex: str, timeout: float,
                       on_late: Callable[[list[str]], None] | None) -> list[str]:
        exchange.on_late = on_late  # a receipt that comes after the timeout is still told
        try:
            self._write(pdu_hex.encode("ascii") + at.CTRL_Z, pdu_hex + "<Ctrl-Z>")
            self._await(exchange, timeout, lambda: exchange.final is not None,
                        patience=timeout)
        except ModemTimeout as exc:
            raise SendOutcomeUnknown(f"no +CMGS result within {timeout:g} s") from exc
        except ModemGone as exc:
            raise SendOutcomeUnknown(f"port failed after the PDU was written: {exc}") from exc
        finally:
            self._end()
        if not exchange.final.ok:
            final = exchange.final
            raise CommandRejected(exchange.command, final.kind, final.code, final.text)
        return exchange.lines

    def _synchronise(self) -> None:
        """After a timeout, before the next command (the caller holds the lock): ESC, to
        leave a ``> `` prompt the modem may still be at (nothing is sent; elsewhere a modem
        ignores it), then the probe ``AT+CMEE?`` (:data:`modem.at.commands.SYNC_PROBE`).

        The exchange that timed out lingers meanwhile and takes its own late lines; the
        probe's answer starts with a line no other command gives, so whatever came before
        it is not the probe's, and once the probe got its final result the line is in sync.
        The probe waits ``command_timeout`` seconds, or a send's result timeout after a send
        (the modem may still be sending). Without its answer nothing can tell later answers
        apart: the command is not written, the engine is marked gone (``on_gone`` runs, on
        this thread) and ModemOutOfSync raised; the pool reopens the modem.
        """
        if not self._needs_sync:
            return
        probe = Exchange(at.SYNC_PROBE, token=at.SYNC_ANSWER)
        timeout = self._sync_timeout
        self._write(at.ESCAPE, "<ESC>")
        self._inflight.begin(probe)
        try:
            self._write(at.SYNC_PROBE.encode("ascii") + b"\r", at.SYNC_PROBE)
            self._inflight.wait(probe, timeout, lambda: probe.final is not None)
        except ModemTimeout as exc:
            lost = ModemOutOfSync(f"{self.name}: out of sync: no answer to {at.SYNC_PROBE} "
                                  f"within {timeout:g} s after a timeout")
            log.error("%s; reopening it", lost)
            self._fail(lost)
            raise lost from exc
        finally:
            self._end()
        self._needs_sync, self._sync_timeout = False, self.command_timeout

    def _end(self) -> None:
        self._inflight.end()

    def _await(self, exchange: Exchange, timeout: float, done: Callable[[], bool],
               patience: float = 0.0) -> None:
        """Wait for ``done()``. After a timeout the exchange lingers (its late lines stay its
        own) and the next command resynchronises first, its probe waiting at least
        ``patience`` seconds."""
        try:
            self._inflight.wait(exchange, timeout, done)
        except ModemTimeout:
            late = self._inflight.end(linger=True)
            self._needs_sync = True
            self._sync_timeout = max(self.command_timeout, patience)
            if late is not None:  # its answer came right after the timeout
                self._late(late)
            raise

    def _late(self, exchange: Exchange) -> None:
        """An exchange that timed out got its final result after all (on the reader thread;
        on the caller's when the answer came between the timeout and the exchange's end)."""
        final = exchange.final
        result = " ".join(str(x) for x in (final.kind, final.code, final.text) if x)
        log.warning("%s: late answer to %s: %s %s", self.name, redact(exchange.command),
                    exchange.lines, result)
        if final.ok and exchange.on_late is not None:
            lines, on_late = list(exchange.lines), exchange.on_late
            self.post(lambda: on_late(lines))

    def _write(self, data: bytes, shown: str) -> None:
        shown = redact(shown)  # never a PIN in a transcript or a log
        if self._transcript:
            self._transcript("->", shown)
        log.debug("%s -> %s", self.name, shown)
        try:
            self._port.write(data)
            self._port.flush()
        except PORT_ERRORS as exc:
            self._fail(exc)
            raise ModemGone(f"{self.name}: write failed: {exc}") from exc

    def _write_quietly(self, data: bytes) -> None:
        try:
            self._write(data, repr(data))
        except ModemGone:
            pass

    def _fail(self, exc: BaseException, notify: bool = True) -> None:
        if not self._inflight.fail(exc):
            return
        if notify and self._on_gone and not self._stopping.is_set():
            self._on_gone(exc)

    # ------------------------------------------------------------ events thread
    def _enqueue(self, item: object) -> bool:
        return self._events.put(item)

    def _dropped(self, urc: Urc) -> None:
        """Chatter pushed out of a full queue (on the putting thread): counted, told."""
        self.dropped_events += 1
        if self.dropped_events == 1 or self.dropped_events % 1000 == 0:
            log.warning("%s: events queue full of chatter; %d dropped so far (latest %r)",
                        self.name, self.dropped_events, urc.line)
        if self._on_drop is not None:
            self._on_drop(urc)

    def _event_loop(self) -> None:
        while not self._stopping.is_set():
            item = self._events.get()
            if item is _STOP:
                return
            try:
                self._on_urc(item) if isinstance(item, Urc) else item()
            except Exception:  # noqa: BLE001  top of the thread: a handler must not kill it
                log.exception("%s: event handler failed on %r", self.name, item)

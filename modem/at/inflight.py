"""The command in flight on one modem: where a caller's thread and the reader thread meet.

:class:`InFlight` is thread-safe (one condition guards everything): the thread that runs a
command opens an :class:`Exchange` with :meth:`InFlight.begin`, waits with
:meth:`InFlight.wait` and closes it with :meth:`InFlight.end`; the reader thread offers each
line with :meth:`InFlight.offer` and the ``> `` prompt with :meth:`InFlight.prompted`. Once
the port failed (:meth:`InFlight.fail`) every wait ends with ModemGone. Timeouts are seconds.

**Late answers are owned.** An exchange that timed out is closed with ``end(linger=True)``:
it stays open as the *lingering* exchange, and every line that is not a URC is its own (an
information line, the prompt, at last its final result code) until its final result came.
Only then do lines go to the command in flight again, so a late answer is never taken for
another command's. When the lingering exchange gets its final result, ``on_late(exchange)``
runs on the reader thread (no lock held). A modem answers in order, so the next exchange
after a timeout is a *probe* (``Exchange.token``): a command whose answer starts with a line
no other command produces. Lines before that token line are not the probe's (they belong to
the lingering exchange, or are stale and dropped); the token line ends the lingering
exchange if it is still waiting (its answer never came: the modem would have written it
first), and the probe's final result follows it.

Every wait goes through a :class:`Waits` object, so tests can let timeouts pass in virtual
time; :class:`RealWaits` (the default) waits on the wall clock.
"""
from __future__ import annotations

import dataclasses
import logging
import re
import threading
from typing import Callable, Protocol

from modem.exceptions import ModemGone, ModemTimeout, redact
from modem.at.results import Final, UrcKind, parse_final, urc_kind

log = logging.getLogger(__name__)

#: What :meth:`InFlight.offer` returns for a line taken as part of an answer.
ANSWER = object()


class Waits(Protocol):
    """How the AT engine waits. Seconds throughout; called on the waiting thread (a caller
    of the engine or its events thread), never on the reader thread."""

    def wait_for(self, cond: threading.Condition, predicate: Callable[[], bool],
                 timeout: float) -> bool:
        """Called with ``cond`` held, like ``cond.wait_for``: wait until ``predicate()`` is
        true or ``timeout`` seconds passed, and return its last value. ``cond`` is released
        while waiting; whoever changes what ``predicate`` reads notifies ``cond``."""

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        """Wait ``seconds``, or return as soon as ``stop`` is set."""


class RealWaits:
    """:class:`Waits` on the wall clock: Condition.wait_for, and Event.wait so that a stop
    ends a sleep at once."""

    def wait_for(self, cond: threading.Condition, predicate: Callable[[], bool],
                 timeout: float) -> bool:
        return cond.wait_for(predicate, timeout)

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        stop.wait(seconds)


@dataclasses.dataclass
class Exchange:
    """One command on the wire: its information lines, prompt and final result code.

    ``token`` makes it a probe: the pattern (matched at the start) of the first line of its
    answer; ``answered`` once that line came. ``on_late(lines)`` is for the engine's owner:
    what to do with the information lines if this exchange times out and its final ``OK``
    comes late (a ``+CMGS: <mr>`` receipt)."""

    command: str
    wants_prompt: bool = False
    prompt: bool = False
    final: Final | None = None
    lines: list[str] = dataclasses.field(default_factory=list)
    token: re.Pattern | None = None
    answered: bool = False
    on_late: Callable[[list[str]], None] | None = None


class InFlight:
    """The exchange in flight (at most one: callers serialise), the lingering exchange (at
    most one: the next exchange after a timeout is a probe) and the port's failure.

    ``waits`` does every wait (default: :class:`RealWaits`); ``on_late(exchange)`` runs on
    the reader thread when a lingering exchange got its final result, and must not block."""

    def __init__(self, name: str, waits: Waits | None = None,
                 on_late: Callable[[Exchange], None] | None = None):
        self.name = name
        self._waits = waits or RealWaits()
        self._on_late = on_late
        self._cond = threading.Condition()
        self._exchange: Exchange | None = None
        self._lingering: Exchange | None = None
        self._gone: BaseException | None = None

    # ------------------------------------------------------------ the caller's side
    @property
    def gone(self) -> bool:
        return self._gone is not None

    @property
    def lingering(self) -> Exchange | None:
        """The exchange that timed out and still waits for its final result, if any."""
        with self._cond:
            return self._lingering

    def begin(self, exchange: Exchange) -> Exchange:
        """Make ``exchange`` the one in flight. Raises ModemGone once the port failed."""
        with self._cond:
            if self._gone is not None:
                raise ModemGone(f"{self.name}: {self._gone}")
            self._exchange = exchange
        return exchange

    def end(self, linger: bool = False) -> Exchange | None:
        """Close the exchange in flight. With ``linger`` (it timed out) and no final result
        yet, it stays open as the lingering exchange: the lines that follow are its own.
        Returns the exchange when ``linger`` finds its final result came since the timeout
        (late already: the caller treats it as ``on_late`` would); else None."""
        with self._cond:
            exchange, self._exchange = self._exchange, None
            if not linger or exchange is None:
                return None
            if exchange.final is not None:
                return exchange
            if self._lingering is not None:
                self._abandon()
            self._lingering = exchange
            return None

    def wait(self, exchange: Exchange, timeout: float, done: Callable[[], bool]) -> None:
        """Wait until ``done()``. Raises ModemGone (the port failed first) or ModemTimeout."""
        with self._cond:
            finished = self._waits.wait_for(
                self._cond, lambda: done() or self._gone is not None, timeout)
            if self._gone is not None and not done():
                raise ModemGone(f"{self.name}: {self._gone}")
            if not finished:
                raise ModemTimeout(exchange.command, timeout)

    def fail(self, exc: BaseException) -> bool:
        """Record that the port failed and wake every waiter; True the first time only.
        A lingering exchange still takes its late lines while the reader runs."""
        with self._cond:
            if self._gone is not None:
                return False
            self._gone = exc
            self._cond.notify_all()
        return True

    # ------------------------------------------------------------ the reader's side
    def awaiting_prompt(self) -> bool:
        with self._cond:
            exchange = self._next_answer()
            return bool(exchange and exchange.wants_prompt and not exchange.prompt)

    def prompted(self) -> None:
        with self._cond:
            exchange = self._next_answer()
            if exchange is not None:
                exchange.prompt = True
                self._cond.notify_all()

    def offer(self, text: str) -> UrcKind | object | None:
        """Classify a line: ANSWER (taken by the lingering exchange or the one in flight),
        its UrcKind, or None (a stray line: no exchange owns it)."""
        with self._cond:
            current = self._current()
            context = self._lingering or current
            kind = urc_kind(text, context.command if context else None)
            if kind is not None:
                return kind
            if current is not None and text == current.command:
                return ANSWER  # an echo (before ATE0) is not an answer
            owner = self._owner(current, text)
            if owner is None:
                return None
            late = self._take(owner, text)
        if late is not None and self._on_late is not None:
            self._on_late(late)
        return ANSWER

    # ------------------------------------------------------------ with the condition held
    def _current(self) -> Exchange | None:
        exchange = self._exchange
        return exchange if exchange is not None and exchange.final is None else None

    def _next_answer(self) -> Exchange | None:
        """The exchange whose answer the modem writes next."""
        return self._lingering or self._current()

    def _owner(self, current: Exchange | None, text: str) -> Exchange | None:
        """Which exchange a line that is no URC belongs to (None: nobody's, stale)."""
        if current is not None and current.token is not None and not current.answered:
            if not current.token.match(text):
                return self._lingering  # before the probe's answer: not the probe's
            current.answered = True
            if self._lingering is not None:
                self._abandon()
            return current
        return self._lingering or current

    def _take(self, exchange: Exchange, text: str) -> Exchange | None:
        """A final result code or an information line of ``exchange``; returns it when it
        was the lingering one and is now complete."""
        final = parse_final(text)
        if final is None:
            if text != exchange.command:
                exchange.lines.append(text)
            return None
        exchange.final = final
        self._cond.notify_all()
        if exchange is not self._lingering:
            return None
        self._lingering = None
        return exchange

    def _abandon(self) -> None:
        """The lingering exchange will never get its answer: the next one's came first."""
        exchange, self._lingering = self._lingering, None
        log.warning("%s: %s never got its final result (lines %s); the modem answered the "
                    "next command first", self.name, redact(exchange.command), exchange.lines)

"""The command in flight on one modem: where a caller's thread and the reader thread meet.

:class:`InFlight` is thread-safe (one condition guards everything): the thread that runs a
command opens an :class:`Exchange` with :meth:`InFlight.begin`, waits with
:meth:`InFlight.wait` and closes it with :meth:`InFlight.end`; the reader thread offers each
line with :meth:`InFlight.offer` and the ``> `` prompt with :meth:`InFlight.prompted`. Once
the port failed (:meth:`InFlight.fail`) every wait ends with ModemGone. Timeouts are seconds.

Every wait goes through a :class:`Waits` object, so tests can let timeouts pass in virtual
time; :class:`RealWaits` (the default) waits on the wall clock.
"""
from __future__ import annotations

import dataclasses
import threading
from typing import Callable, Protocol

from modem.exceptions import ModemGone, ModemTimeout
from modem.at.results import Final, UrcKind, parse_final, urc_kind

#: What :meth:`InFlight.offer` returns for a line taken as part of the answer.
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
    """One command on the wire: its information lines, prompt and final result code."""

    command: str
    wants_prompt: bool = False
    prompt: bool = False
    final: Final | None = None
    lines: list[str] = dataclasses.field(default_factory=list)


class InFlight:
    """The exchange in flight (at most one: callers serialise) and the port's failure.

    ``waits`` does every wait (default: :class:`RealWaits`)."""

    def __init__(self, name: str, waits: Waits | None = None):
        self.name = name
        self._waits = waits or RealWaits()
        self._cond = threading.Condition()
        self._exchange: Exchange | None = None
        self._gone: BaseException | None = None
        self._strays = 0  # lines that came with no command in flight

    # ------------------------------------------------------------ the caller's side
    @property
    def gone(self) -> bool:
        return self._gone is not None

    def begin(self, exchange: Exchange) -> Exchange:
        """Make ``exchange`` the one in flight. Raises ModemGone once the port failed."""
        with self._cond:
            if self._gone is not None:
                raise ModemGone(f"{self.name}: {self._gone}")
            self._exchange = exchange
        return exchange

    def end(self) -> None:
        with self._cond:
            self._exchange = None

    def wait(self, exchange: Exchange, timeout: float, done: Callable[[], bool]) -> None:
        """Wait until ``done()``. Raises ModemGone (the port failed first) or ModemTimeout."""
        with self._cond:
            finished = self._waits.wait_for(
                self._cond, lambda: done() or self._gone is not None, timeout)
            if self._gone is not None and not done():
                raise ModemGone(f"{self.name}: {self._gone}")
            if not finished:
                raise ModemTimeout(exchange.command, timeout)

    @property
    def strays(self) -> int:
        """How many lines came so far with no command in flight."""
        return self._strays

    def quiet_since(self, strays: int, seconds: float) -> bool:
        """Wait up to ``seconds`` for a stray line after the first ``strays``; True if none came."""
        with self._cond:
            self._waits.wait_for(self._cond, lambda: self._strays != strays, seconds)
            return self._strays == strays

    def fail(self, exc: BaseException) -> bool:
        """Record that the port failed and wake every waiter; True the first time only."""
        with self._cond:
            if self._gone is not None:
                return False
            self._gone = exc
            self._cond.notify_all()
        return True

    # ------------------------------------------------------------ the reader's side
    def awaiting_prompt(self) -> bool:
        with self._cond:
            exchange = self._exchange
            return bool(exchange and exchange.wants_prompt and not exchange.prompt)

    def prompted(self) -> None:
        with self._cond:
            if self._exchange is not None:
                self._exchange.prompt = True
                self._cond.notify_all()

    def offer(self, text: str) -> object:
        """Classify a line: ANSWER (taken by the command in flight), its UrcKind, or None
        (a stray line: nothing in flight and no URC; counted)."""
        with self._cond:
            exchange = self._exchange
            command = exchange.command if exchange and exchange.final is None else None
            kind: UrcKind | None = urc_kind(text, command)
            if kind is None and command is not None:
                self._answer(exchange, text)
                return ANSWER
            if kind is None:
                self._strays += 1
                self._cond.notify_all()
            return kind

    def _answer(self, exchange: Exchange, text: str) -> None:
        """Called with the condition held: a final result code or an information line."""
        final = parse_final(text)
        if final is not None:
            exchange.final = final
            self._cond.notify_all()
        elif text != exchange.command:  # an echo (before ATE0) is not an answer
            exchange.lines.append(text)

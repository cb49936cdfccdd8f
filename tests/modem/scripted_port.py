"""A fake pyserial port for engine and driver tests: it expects writes and replies bytes.

Replies come from, in order: the head of the script (``expect``), when the write matches it
exactly; else the most recently added standing rule (``on``) whose regex matches the
write, so a test can override a general rule with a specific one. A write that
matches neither is recorded in ``unexpected`` and gets no answer (the engine times out).
A reply may be bytes, or a callable taking the regex match and returning bytes (or None to
stay silent). ``push`` injects bytes at any time (URCs, garbage); ``unplug`` makes every
read and write raise like a vanished USB device.

The port knows when it is at rest (:attr:`ScriptedPort.at_rest`): no bytes pending and the
reader blocked in ``read()``, so everything delivered so far was read and handled. Listeners
added with ``on_rest`` are called each time the reader comes to rest (virtual time uses it,
see ``virtual_time.py``). ``timeout`` is how long one ``read()`` blocks, in real seconds: the
reader's polling period, never an AT timeout.
"""
from __future__ import annotations

import collections
import re
import threading
from typing import Callable

import serial

Reply = bytes | Callable[[re.Match], bytes | None]


class Collected(list):
    """A list that a test can wait on while another thread appends to it (a handler)."""

    WAIT = 5.0  # seconds: an upper bound for things that happen at once

    def __init__(self):
        super().__init__()
        self._cond = threading.Condition()

    def append(self, item):
        with self._cond:
            super().append(item)
            self._cond.notify_all()

    def wait(self, count: int = 1):
        """Block until at least ``count`` items arrived; fails the test after WAIT seconds."""
        with self._cond:
            assert self._cond.wait_for(lambda: len(self) >= count, self.WAIT), list(self)
        return self[count - 1]

    def wait_until(self, predicate):
        with self._cond:
            assert self._cond.wait_for(lambda: predicate(self), self.WAIT), list(self)


class ScriptedPort:
    def __init__(self, timeout: float = 0.05):
        self.timeout = timeout
        self.writes = Collected()  # every write, in order; tests may wait on it
        self.unexpected: list[bytes] = []
        self.is_open = True
        self._incoming = bytearray()
        self._cond = threading.Condition()
        self._script: collections.deque[tuple[bytes, Reply]] = collections.deque()
        self._rules: list[tuple[re.Pattern, Reply]] = []
        self._broken = False
        self._cancelled = False
        self._reader_waiting = False  # the reader is inside read()
        self._rest_listeners: list[Callable[[], object]] = []

    # ------------------------------------------------------------ test side
    def expect(self, write: bytes | str, reply: Reply = b"\r\nOK\r\n") -> "ScriptedPort":
        """Expect exactly ``write`` next (``str`` gets ``\\r`` appended) and answer ``reply``."""
        if isinstance(write, str):
            write = write.encode() + b"\r"
        self._script.append((write, reply))
        return self

    def on(self, pattern: bytes | str, reply: Reply = b"\r\nOK\r\n") -> "ScriptedPort":
        """Answer any write fully matching ``pattern`` (``str``: an AT command regex + CR)."""
        if isinstance(pattern, str):
            pattern = pattern.encode() + rb"\r"
        self._rules.append((re.compile(pattern, re.DOTALL), reply))
        return self

    def push(self, data: bytes) -> None:
        with self._cond:
            self._incoming += data
            self._cond.notify_all()

    def unplug(self) -> None:
        with self._cond:
            self._broken = True
            self._cond.notify_all()

    def on_rest(self, listener: Callable[[], object]) -> None:
        """Call ``listener()`` on the reader thread, with no lock of the port held, each time
        the reader blocks in ``read()`` with nothing to read."""
        self._rest_listeners.append(listener)

    @property
    def at_rest(self) -> bool:
        """True when the port has nothing more to deliver: no bytes pending, the reader
        blocked in ``read()`` (so it handled every line it read before), the port open."""
        with self._cond:
            return self._reader_waiting and not self._readable()

    @property
    def script_done(self) -> bool:
        return not self._script

    def commands(self) -> list[str]:
        """Every write decoded, without trailing CR (the transcript as the modem saw it)."""
        return [w.decode("latin-1").rstrip("\r") for w in self.writes]

    # ------------------------------------------------------------ pyserial side
    @property
    def in_waiting(self) -> int:
        with self._cond:
            if self._broken:
                raise serial.SerialException("device disconnected")
            return len(self._incoming)

    def read(self, size: int = 1) -> bytes:
        with self._cond:
            self._reader_waiting = True
            resting = not self._readable()
        if resting:
            for listener in self._rest_listeners:
                listener()  # outside the lock: a listener takes the engine's own lock
        with self._cond:
            self._cond.wait_for(self._readable, self.timeout)
            self._reader_waiting = False
            self._cancelled = False
            if self._broken or not self.is_open:
                raise serial.SerialException("device disconnected")
            data = bytes(self._incoming[:size])
            del self._incoming[:size]
            return data

    def _readable(self) -> bool:
        """Called with the lock held: whether ``read()`` has something to return or raise."""
        return bool(self._incoming or self._broken or self._cancelled or not self.is_open)

    def write(self, data: bytes) -> int:
        with self._cond:
            if self._broken or not self.is_open:
                raise serial.SerialException("write failed: device disconnected")
            self.writes.append(bytes(data))
            reply, match = self._reply_for(bytes(data))
        if callable(reply):
            reply = reply(match)  # outside the lock: a reply may block on the test's event
        if reply:
            self.push(reply)
        return len(data)

    def _reply_for(self, data: bytes) -> tuple[Reply | None, re.Match | None]:
        if self._script and self._script[0][0] == data:
            return self._script.popleft()[1], re.match(re.escape(data), data)
        for pattern, reply in reversed(self._rules):
            match = pattern.fullmatch(data)
            if match:
                return reply, match
        self.unexpected.append(data)
        return None, None

    def flush(self) -> None:
        pass

    def cancel_read(self) -> None:
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.is_open = False
            self._cond.notify_all()


"""A queue for SQLite's write lock among the API processes of a box.

SQLite offers no way to wait for its write lock: a writer that finds it taken tries again
(``begin_immediate`` in gateway.storage.db: after 0.1, 0.2, then every 0.5 ms). Between two
API processes whose write transactions last 0.1 to 0.4 ms, those tries leave the lock
free while a writer sleeps, and the processes idle (about a quarter of the time under
load, measured). So each write transaction of an API process first takes an exclusive
``flock`` on ``<database>-writers``: the kernel wakes the next waiter the moment the lock
is let go, and only then does it BEGIN IMMEDIATE, which then mostly succeeds at once.

- Only the API processes queue (``make_engine(url, queue_writers=True)``): the worker and
  the CLI keep trying SQLite's lock directly, so they compete with one API writer at a
  time, as before.
- The wait is bounded: in a process whose main thread is its only thread (an API
  process on SQLite) by a timer signal (``SIGALRM``, whose handler this module installs
  and keeps) after ``timeout`` seconds, elsewhere by tries in the same short steps as
  SQLite's lock. (With other threads the kernel may give the signal to one of them, and
  Python would run the handler only once the main thread's ``flock`` returned:
  gateway.process.signals.) Past it the
  writer gets "database is locked" (503), as it would from SQLite. A process where
  something else handles ``SIGALRM`` (a watchdog, pytest-timeout's signal method) keeps
  its handler and its timer: its main thread waits in steps too.
- A process that dies lets go of its ``flock`` with its descriptors: nothing to clean.
- The lock is let go when the transaction ends (commit, rollback, or the connection's
  close): :class:`QueuedConnection` is the sqlite3 connection class that does it.
- WAL checkpoints run after the lock is let go (every CHECKPOINT_EVERY write commits,
  PASSIVE), not inside a commit as SQLite's automatic ones do, so that no writer waits
  for another's checkpoint (and its fsync).
"""
from __future__ import annotations

import fcntl
import logging
import os
import signal
import sqlite3
import threading
import time

log = logging.getLogger(__name__)

SUFFIX = "-writers"
# A writer that finds the write lock taken (SQLite's in gateway.storage.db.begin_immediate,
# or this queue outside the main thread) tries again after these many seconds, then
# every LOCK_WAIT_AFTER, for up to the busy timeout.
LOCK_WAITS = (0.0001, 0.0002, 0.0005)
LOCK_WAIT_AFTER = 0.0005
#: A queued connection checkpoints the WAL after every this many write commits, once it
#: has let go of the queue; SQLite's automatic checkpoint, which would run inside the
#: commit (so with the queue held: every other API writer waiting, on a Pi's SD card for
#: an fsync of tens of ms), is pushed back to this many pages as a backstop.
CHECKPOINT_EVERY = 100
AUTOCHECKPOINT_BACKSTOP = 10_000


def lock_wait(tries: int) -> float:
    """Seconds to wait after ``tries`` failed tries at a write lock."""
    return LOCK_WAITS[tries] if tries < len(LOCK_WAITS) else LOCK_WAIT_AFTER


class _Expired(BaseException):
    """Raised by the timer signal's handler into a blocked ``flock``."""


class _Timer:
    """The main thread's SIGALRM handler, installed at the first wait and kept (two
    system calls fewer per wait): it raises :class:`_Expired` only into a wait, and
    ignores a SIGALRM that comes at any other time."""

    installed = False
    waiting = False

    @classmethod
    def handle(cls, signum, frame) -> None:
        if cls.waiting:
            cls.waiting = False
            raise _Expired()

    @classmethod
    def usable(cls) -> bool:
        """Whether a wait may use the timer: SIGALRM is ours (installed now if nobody
        else's handler is there). Someone else's handler, and the ITIMER_REAL that goes
        with it, are left alone."""
        current = signal.getsignal(signal.SIGALRM)
        if cls.installed and current == cls.handle:
            return True
        if current not in (signal.SIG_DFL, signal.SIG_IGN, None):
            return False
        signal.signal(signal.SIGALRM, cls.handle)
        cls.installed = True
        return True


class WriterLock:
    """An exclusive ``flock`` on a file of its own (one open file description per
    connection, so two connections of one process exclude each other too)."""

    __slots__ = ("path", "held", "_fd")

    def __init__(self, path: str) -> None:
        self.path, self.held = path, False
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def acquire(self, timeout: float) -> None:
        """Take the lock, waiting at most ``timeout`` seconds; raises TimeoutError."""
        if self.held:
            return
        if not self._try():
            if (threading.current_thread() is threading.main_thread()
                    and threading.active_count() == 1 and _Timer.usable()):
                self._wait_with_timer(timeout)
            else:
                self._wait_in_steps(timeout)
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self.held = False
        if self._fd >= 0:
            os.close(self._fd)  # lets go of the lock too
            self._fd = -1

    def _try(self) -> bool:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _wait_with_timer(self, timeout: float) -> None:
        try:
            _Timer.waiting = True
            signal.setitimer(signal.ITIMER_REAL, max(timeout, 0.001))
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            finally:
                _Timer.waiting = False
                signal.setitimer(signal.ITIMER_REAL, 0)
        except _Expired:
            # The timer may have fired just after the lock was granted: then this
            # descriptor holds it, and taking it again succeeds.
            if not self._try():
                raise TimeoutError(f"{self.path} held for over {timeout:g} s") from None

    def _wait_in_steps(self, timeout: float) -> None:
        """Try again in the steps a wait for SQLite's own lock takes (lock_wait)."""
        deadline, tries = time.monotonic() + timeout, 0
        while not self._try():
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.path} held for over {timeout:g} s")
            time.sleep(lock_wait(tries))
            tries += 1


class QueuedConnection(sqlite3.Connection):
    """A sqlite3 connection with a :class:`WriterLock` beside its database file
    (``writer_lock``, None when that file cannot be opened: the connection then works
    without queueing). ``begin_immediate`` takes the lock; the end of the transaction
    lets it go."""

    def __init__(self, database, *args, **kwargs) -> None:
        super().__init__(database, *args, **kwargs)
        self._commits = 0
        path = os.fsdecode(database) + SUFFIX
        try:
            self.writer_lock: WriterLock | None = WriterLock(path)
        except OSError as exc:
            log.warning("writers do not queue (cannot open %s: %s)", path, exc.strerror)
            self.writer_lock = None
        else:
            # Checkpoints after the queue is let go (see commit), not inside the commit.
            self.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_BACKSTOP}")

    def commit(self) -> None:
        wrote = self.writer_lock is not None and self.writer_lock.held
        try:
            super().commit()
        finally:
            self._let_go()
        if wrote:
            self._commits += 1
            if self._commits % CHECKPOINT_EVERY == 0:
                self.checkpoint()

    def checkpoint(self) -> None:
        """Copy the WAL's frames into the database, now that the queue has moved on
        (PASSIVE: it waits for no reader or writer). A failure is only logged: SQLite's
        own checkpoint, or the next one, does the work."""
        try:
            self.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:
            log.warning("WAL checkpoint failed: %s", exc)

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._let_go()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.writer_lock is not None:
                self.writer_lock.close()

    def _let_go(self) -> None:
        if self.writer_lock is not None and not self.in_transaction:
            self.writer_lock.release()

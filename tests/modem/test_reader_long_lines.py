"""A port that sends bytes without a line end: the reader keeps a bounded line, and the
lines after it still arrive. The real LineReader on the test's
thread over a port that plays bytes, then fails (which ends the reader)."""
import logging
import threading

from modem.at.inflight import InFlight
from modem.at.reader import MAX_LINE, LineReader


class PlayedPort:
    """Plays ``chunks`` to whoever reads, one chunk a read, then fails as an unplugged port."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._next = next(self._chunks, None)

    @property
    def in_waiting(self):
        return len(self._next) if self._next is not None else 0

    def read(self, size):
        if self._next is None:
            raise OSError("unplugged")
        chunk, self._next = self._next, next(self._chunks, None)
        return chunk


def read_all(chunks, held=None):
    """(lines seen, URCs) after the reader consumed every chunk; ``held`` (a list), when
    given, gets the size of the unfinished line the reader holds after each read."""
    lines, urcs, failures = [], [], []
    reader = LineReader(PlayedPort(chunks), InFlight("m"), name="m", on_urc=urcs.append,
                        on_fail=failures.append, stopping=threading.Event(),
                        transcript=lambda direction, text: lines.append(text))
    if held is not None:
        feed = reader._feed

        def watched(data):
            feed(data)
            held.append(len(reader._buffer))

        reader._feed = watched
    reader.run()
    assert [type(f) for f in failures] == [OSError]  # the end of the port, nothing else
    return lines, urcs


def junk(size, chunk=64):
    return (b"x" * chunk for _ in range(size // chunk))


def test_a_line_that_never_ends_keeps_its_first_bytes_and_the_next_line_still_arrives(caplog):
    caplog.set_level(logging.WARNING, "modem.at.reader")
    lines, urcs = read_all([*junk(256 * 1024), b'\r\n+CMTI: "SM",3\r\n'])
    assert lines == ["x" * MAX_LINE, '+CMTI: "SM",3']
    assert [(u.name, u.args) for u in urcs] == [("+CMTI", '"SM",3')]
    assert sum("longer than" in r.message for r in caplog.records) == 1  # logged once


def test_a_long_line_in_one_read_is_cut_too():
    lines, _ = read_all([b"y" * (3 * MAX_LINE) + b"\r\nOK\r\n"])
    assert lines == ["y" * MAX_LINE, "OK"]


def test_a_megabyte_without_a_line_end_is_never_held_whole():
    # Each read used to copy and rescan the whole unfinished line: a megabyte of noise
    # without CR/LF held a megabyte and cost 40 s of the reader's CPU.
    held = []
    lines, _ = read_all([*junk(1024 * 1024), b"\r\n"], held)
    assert max(held) <= MAX_LINE + 64 and len(held) == 1024 * 1024 // 64 + 1
    assert lines == ["x" * MAX_LINE]

"""Concatenated SMS (3GPP TS 23.040 9.2.3.24.1/.8): splitting, the header, reassembly.

Splitting never cuts a character: a GSM-7 escape pair or a UTF-16 surrogate pair stays in
one part. Sizes are in the units of the alphabet (septets for GSM-7, octets for UCS-2).
Functions are pure; a :class:`Reassembler` is not thread-safe (its owner serialises calls)
and reads no clock: ``now`` is the caller's monotonic seconds. :func:`parse_concat_udh`
raises PduError for a truncated header.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from modem.pdu.types import DeliveredSms, PduError

GAP_MARKER = "…"
IEI_CONCAT_8BIT, IEI_CONCAT_16BIT = 0x00, 0x08

#: Identifies one message being reassembled: (sender, reference, part_count).
ConcatKey = tuple[str, int, int]


def split_parts(chunks: list[bytes], single: int, per_part: int) -> list[bytes]:
    """Join chunks into one part of at most ``single`` units, or parts of at most
    ``per_part`` units (room left for the header), never splitting a chunk."""
    if sum(len(c) for c in chunks) <= single:
        return [b"".join(chunks)]
    parts, current = [], b""
    for chunk in chunks:
        if len(current) + len(chunk) > per_part:
            parts.append(current)
            current = b""
        current += chunk
    parts.append(current)
    return parts


def concat_udh(reference: int, count: int, number: int) -> bytes:
    """The 8-bit-reference concatenation information element (without the UDHL octet)."""
    return bytes([IEI_CONCAT_8BIT, 0x03, reference & 0xFF, count, number])


def parse_concat_udh(udh: bytes) -> tuple[int, int, int] | None:
    """(reference, part_count, part_number) from a user data header (8- or 16-bit
    reference), or None when it has none. Raises PduError when the header is truncated."""
    pos, concat = 0, None
    while pos + 2 <= len(udh):
        iei, length = udh[pos], udh[pos + 1]
        data = udh[pos + 2:pos + 2 + length]
        if len(data) != length:
            raise PduError("user data header is truncated")
        if iei == IEI_CONCAT_8BIT and length == 3:
            concat = (data[0], data[1], data[2])
        elif iei == IEI_CONCAT_16BIT and length == 4:
            concat = (data[0] << 8 | data[1], data[2], data[3])
        pos += 2 + length
    return concat


def applicable(concat: tuple[int, int, int] | None) -> tuple[int, int, int] | None:
    """``concat`` (reference, count, number), or None when the message stands alone: no
    header, or one that TS 23.040 9.2.3.24.1 says to ignore (a count of 0, a part number
    of 0 or above the count; a count of 1 is one part). Its text is then the whole
    message."""
    if concat is None:
        return None
    _, count, number = concat
    return concat if count > 1 and 1 <= number <= count else None


@dataclass(frozen=True)
class Reassembled:
    """A message out of a :class:`Reassembler`: ``sms`` (its parts joined, a gap marker for
    each missing one; ``concat`` None), ``partial`` when parts were missing, ``key`` its
    :data:`ConcatKey` (None for a single-part message) and ``held`` what the caller
    attached to each part it holds, duplicates included, in arrival order."""

    key: ConcatKey | None
    sms: DeliveredSms
    partial: bool
    held: tuple = ()


@dataclass
class _Set:
    first_seen: float
    parts: dict[int, DeliveredSms] = field(default_factory=dict)
    held: list = field(default_factory=list)


class Reassembler:
    """Joins concatenated parts keyed by (sender, reference, part_count).

    A key names one set of parts at a time. A part whose number the set already holds with
    the same text is a redelivery: dropped, but what the caller attached to it joins the
    set (so that it goes, say deleted from the SIM, with the copy that is kept). With other
    text it belongs to another message that reuses the reference: the set is let go as
    partial and a new one starts with that part, so that no part's text is lost.

    ``now`` is the caller's monotonic seconds; nothing here reads a clock.
    """

    def __init__(self, timeout: float = 300.0) -> None:
        self.timeout = timeout
        self._pending: dict[ConcatKey, _Set] = {}  # in the order the sets began
        self._pushed_out: list[Reassembled] = []  # for :meth:`expire`, from :meth:`add`

    @staticmethod
    def key_of(part: DeliveredSms) -> ConcatKey | None:
        """The key ``part`` is reassembled under; None for a single-part message (also
        when its header is one TS 23.040 9.2.3.24.1 says to ignore: count 0 or 1, part
        number 0 or above the count: :func:`applicable`)."""
        concat = applicable(part.concat)
        return None if concat is None else (part.sender, concat[0], concat[1])

    def feed(self, part: DeliveredSms, now: float, held: tuple = ()) -> list[Reassembled]:
        """What ``part`` lets go, oldest first: a set it pushed out (partial), then the whole
        message when it completes one (or is a single-part message). ``held`` is the
        caller's (e.g. where the part is stored), given back with the set it ends up in."""
        key = self.key_of(part)
        if key is None:
            return [Reassembled(None, replace(part, concat=None), False, tuple(held))]
        number, out = part.concat[2], []
        pending = self._pending.get(key)
        if pending is not None and number in pending.parts:
            if pending.parts[number].text == part.text:  # a redelivery: kept once
                pending.held.extend(held)
                return []
            out.append(self._let_go(key))  # another message reusing the reference
        pending = self._pending.setdefault(key, _Set(now))
        pending.parts[number] = part
        pending.held.extend(held)
        if len(pending.parts) == key[2]:
            out.append(self._let_go(key))
        return out

    def expire_due(self, now: float) -> list[Reassembled]:
        """The incomplete sets whose first part came at least ``timeout`` seconds before
        ``now``, let go as partial, oldest first."""
        due = [k for k, s in self._pending.items() if now - s.first_seen >= self.timeout]
        return [self._let_go(key) for key in due]

    def let_go_oldest(self) -> Reassembled | None:
        """The oldest incomplete set that holds something of the caller's, let go early
        (partial); None when no set holds anything."""
        key = next((k for k, s in self._pending.items() if s.held), None)
        return None if key is None else self._let_go(key)

    @property
    def held(self) -> int:
        """How many things of the caller's the incomplete sets hold."""
        return sum(len(s.held) for s in self._pending.values())

    @property
    def pending(self) -> int:
        return len(self._pending)

    # ------------------------------------------------------------ the simple interface
    def add(self, part: DeliveredSms, now: float) -> DeliveredSms | None:
        """The whole message once its last part arrives; single-part messages pass
        straight through. A set pushed out by a part of another message (see the class
        docstring) waits for the next :meth:`expire`."""
        if self.key_of(part) is None:
            return part
        whole = None
        for done in self.feed(part, now):
            if done.partial:
                self._pushed_out.append(done)
            else:
                whole = done.sms
        return whole

    def expire(self, now: float) -> list[tuple[ConcatKey, DeliveredSms]]:
        """Incomplete messages whose first part came at least ``timeout`` seconds before
        ``now``, and those pushed out since the last call: each with its key (as
        :meth:`key_of` gave it for its parts), its parts joined with a gap marker for
        each missing one. They are forgotten."""
        done, self._pushed_out = self._pushed_out + self.expire_due(now), []
        return [(d.key, d.sms) for d in done]

    def _let_go(self, key: ConcatKey) -> Reassembled:
        pending, count = self._pending.pop(key), key[2]
        parts = pending.parts
        text = "".join(parts[n].text if n in parts else GAP_MARKER for n in range(1, count + 1))
        whole = replace(parts[min(parts)], text=text, concat=None)
        return Reassembled(key, whole, len(parts) < count, tuple(pending.held))

"""Concatenated SMS (3GPP TS 23.040 9.2.3.24.1/.8): splitting, the header, reassembly.

Splitting never cuts a character: a GSM-7 escape pair or a UTF-16 surrogate pair stays in
one part. Sizes are in the units of the alphabet (septets for GSM-7, octets for UCS-2).
Functions are pure; a :class:`Reassembler` is not thread-safe (its owner serialises calls)
and reads no clock: ``now`` is the caller's monotonic seconds. :func:`parse_concat_udh`
raises PduError for a truncated header.
"""
from __future__ import annotations

from dataclasses import replace

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


class Reassembler:
    """Joins concatenated parts keyed by (sender, reference, part_count).

    ``now`` is the caller's monotonic seconds; nothing here reads a clock.
    """

    def __init__(self, timeout: float = 300.0) -> None:
        self.timeout = timeout
        self._pending: dict[ConcatKey, tuple[float, dict[int, DeliveredSms]]] = {}

    @staticmethod
    def key_of(part: DeliveredSms) -> ConcatKey | None:
        """The key ``part`` is reassembled under; None for a single-part message."""
        if part.concat is None or part.concat[1] <= 1:
            return None
        reference, count, _ = part.concat
        return (part.sender, reference, count)

    def add(self, part: DeliveredSms, now: float) -> DeliveredSms | None:
        """The whole message once its last part arrives; single-part messages pass straight through."""
        key = self.key_of(part)
        if key is None:
            return part
        count, number = key[2], part.concat[2]
        first_seen, parts = self._pending.setdefault(key, (now, {}))
        parts.setdefault(number, part)  # a duplicate part keeps the first copy
        if len(parts) < count or any(n not in parts for n in range(1, count + 1)):
            return None
        del self._pending[key]
        return self._join(parts, count)

    def expire(self, now: float) -> list[tuple[ConcatKey, DeliveredSms]]:
        """Incomplete messages whose first part came at least ``timeout`` seconds before
        ``now``: each with its key (as :meth:`key_of` gave it for its parts), its parts
        joined with a gap marker for each missing one. They are forgotten."""
        due = [k for k, (seen, _) in self._pending.items() if now - seen >= self.timeout]
        return [(key, self._join(self._pending.pop(key)[1], key[2])) for key in due]

    @property
    def pending(self) -> int:
        return len(self._pending)

    @staticmethod
    def _join(parts: dict[int, DeliveredSms], count: int) -> DeliveredSms:
        numbers = range(1, max(count, max(parts)) + 1)
        text = "".join(parts[n].text if n in parts else GAP_MARKER for n in numbers)
        head = parts[min(parts)]
        return replace(head, text=text, concat=None)

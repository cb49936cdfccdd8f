"""TP-User-Data (3GPP TS 23.038 / 23.040): text in GSM-7 or UCS-2, septets, the header.

GSM-7 uses the standard's tables (:mod:`modem.pdu.charset`; an escaped character takes two
septets); text outside GSM-7 goes as UCS-2, where a character outside the BMP (emoji) is a
UTF-16 surrogate pair of 4 octets. Long text is split by :mod:`modem.pdu.concat`.
Pure functions, no state: safe from any thread. Decoding raises PduError for user data
that contradicts its own lengths, or that is compressed (TS 23.042, not implemented).
"""
from __future__ import annotations

from modem.pdu.concat import parse_concat_udh, split_parts
from modem.pdu.charset import decode_gsm7, encode_gsm7_char, gsm_pdu
from modem.pdu.types import PduError

GSM7_SINGLE_SEPTETS = 160
GSM7_PART_SEPTETS = 153  # 160 minus the 7 septets of an 8-bit concatenation UDH
UCS2_SINGLE_OCTETS = 140
UCS2_PART_OCTETS = 134  # 140 minus the 6-octet UDH
MAX_USER_DATA_OCTETS = 140  # TP-UD: 140 octets, so at most 160 septets
DCS_GSM7, DCS_8BIT, DCS_UCS2 = 0x00, 0x04, 0x08

Concat = tuple[int, int, int]


def _gsm7_chunks(text: str) -> list[bytes] | None:
    """Per-character GSM-7 septet codes (1 or 2 with the escape), or None if not GSM-7."""
    chunks = [encode_gsm7_char(ch) for ch in text]
    return None if None in chunks else chunks


def _ucs2_chunks(text: str) -> list[bytes]:
    """Per-character UTF-16-BE code units: 4 octets (a surrogate pair) outside the BMP."""
    return [ch.encode("utf-16-be") for ch in text]


def encode_text(text: str) -> tuple[int, list[bytes]]:
    """(DCS, payload of each part): GSM-7 septet codes when it can, else UTF-16-BE."""
    chunks = _gsm7_chunks(text)
    if chunks is not None:
        return DCS_GSM7, split_parts(chunks, GSM7_SINGLE_SEPTETS, GSM7_PART_SEPTETS)
    return DCS_UCS2, split_parts(_ucs2_chunks(text), UCS2_SINGLE_OCTETS, UCS2_PART_OCTETS)


def pack_user_data(payload: bytes, dcs: int, udh: bytes) -> bytes:
    """TP-UDL followed by TP-UD (with UDH and GSM-7 fill bits when a header is present)."""
    header = bytes([len(udh)]) + udh if udh else b""
    if dcs == DCS_UCS2:
        return bytes([len(header) + len(payload)]) + header + payload
    header_septets = (len(header) * 8 + 6) // 7
    fill = header_septets * 7 - len(header) * 8
    # gsmmodem's padBits counts the other way round: padBits=7-fill (0 means no fill).
    packed = gsm_pdu.packSeptets(bytearray(payload), padBits=(7 - fill) % 7 if header else 0)
    return bytes([header_septets + len(payload)]) + header + bytes(packed)


def unpack_septets(data: bytes, count: int) -> bytes:
    """The first ``count`` 7-bit values packed in ``data``."""
    # Our own: gsmmodem's unpackSeptets drops a trailing '@' (septet 0).
    value = int.from_bytes(data, "little")
    return bytes((value >> (7 * i)) & 0x7F for i in range(count))


def alphabet(dcs: int) -> int:
    """DCS_GSM7, DCS_8BIT or DCS_UCS2 for a TP-DCS octet (TS 23.038 section 4).

    Raises PduError for compressed user data. Reserved codings are GSM-7, as the standard
    tells a receiving entity to assume."""
    if dcs & 0x80 == 0x00:  # general data coding, maybe marked for automatic deletion
        if dcs & 0x20:
            raise PduError(f"compressed user data (TP-DCS {dcs:#04x}) is not supported")
        kind = dcs & 0x0C
        return DCS_GSM7 if kind == 0x0C else kind  # 0x0C: reserved alphabet
    if dcs & 0xF0 == 0xE0:  # message waiting indication, UCS-2
        return DCS_UCS2
    if dcs & 0xF0 == 0xF0:  # data coding / message class
        return dcs & 0x04
    return DCS_GSM7  # other message-waiting groups, and the reserved groups 0x80-0xBF


def user_data_octets(udl: int, dcs: int) -> int:
    """How many octets of TP-UD follow a TP-UDL of ``udl`` (septets for GSM-7).

    Raises PduError when ``udl`` is more than TP-UD can hold, or the data is compressed."""
    gsm7 = alphabet(dcs) == DCS_GSM7
    octets = (udl * 7 + 7) // 8 if gsm7 else udl
    if octets > MAX_USER_DATA_OCTETS:
        unit = "septets" if gsm7 else "octets"
        raise PduError(f"user data length {udl} {unit} is more than an SMS holds")
    return octets


def decode_user_data(data: bytes, udl: int, dcs: int, has_udh: bool) -> tuple[str, Concat | None]:
    """(text, concatenation) of TP-UD ``data`` (``udl`` in the alphabet's units, ``data``
    as long as :func:`user_data_octets` says). Raises PduError for a broken header."""
    concat, skip = None, 0
    if has_udh:
        if not data or data[0] + 1 > len(data):
            raise PduError("user data header is longer than the user data")
        concat = parse_concat_udh(data[1:1 + data[0]])
        skip = data[0] + 1
    kind = alphabet(dcs)
    if kind == DCS_GSM7:
        header_septets = (skip * 8 + 6) // 7
        if udl < header_septets:
            raise PduError("user data header is longer than the user data")
        return decode_gsm7(unpack_septets(data, udl)[header_septets:]), concat
    payload = data[skip:]
    if kind == DCS_UCS2:
        return payload.decode("utf-16-be", errors="replace"), concat  # pairs -> real character
    return payload.decode("latin-1"), concat

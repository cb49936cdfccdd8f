"""The GSM 7-bit default alphabet and its extension table (3GPP TS 23.038 6.2.1), and the
one import of python-gsmmodem's PDU helpers (``gsm_pdu``).

The alphabet is ours, written out from the standard: python-gsmmodem-new 0.13.0's tables
have '`' instead of '§' at 0x5F (so a '§' was received as '`', and a '`' was sent as a
'§'), map no form feed in the extension table (an escaped 0x0A was dropped, and a form
feed could not be sent in GSM-7), encode U+001B as a bare escape, and raise on an escape
at the end of the text. Decoding here follows the standard's rules for what the tables do
not hold: an escape followed by a code the extension table lacks shows the main table's
character, a lone trailing escape or an escaped escape (reserved for another extension
table) shows a space. Septets are the ints 0-127 of a ``bytes``; no packing here.

python-gsmmodem's modules have invalid escape sequences, so ``gsm_pdu`` is imported once,
with its compile-time warnings filtered (pytest runs with warnings as errors). Its version
is pinned in setup.py (0.13.0): :mod:`modem.pdu.codec` and :mod:`modem.pdu.user_data` rely
on its septet packing, address and timestamp encoders. Pure functions, no state.
"""
from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from gsmmodem import pdu as gsm_pdu

__all__ = ["BASIC", "ESCAPE", "EXTENSION", "decode_gsm7", "encode_gsm7_char", "gsm_pdu"]

ESCAPE = 0x1B
#: The main table: the character of each septet 0x00-0x7F (0x1B, the escape, as a space).
BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"  # 0x00-0x0F
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"  # 0x10-0x1F (0x1B: escape to the extension table)
    " !\"#¤%&'()*+,-./"  # 0x20-0x2F
    "0123456789:;<=>?"  # 0x30-0x3F
    "¡ABCDEFGHIJKLMNO"  # 0x40-0x4F
    "PQRSTUVWXYZÄÖÑÜ§"  # 0x50-0x5F
    "¿abcdefghijklmno"  # 0x60-0x6F
    "pqrstuvwxyzäöñüà"  # 0x70-0x7F
)
#: The extension table: septet after the escape -> character.
EXTENSION = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~",
             0x3E: "]", 0x40: "|", 0x65: "€"}

_ENCODE = {char: bytes([code]) for code, char in enumerate(BASIC) if code != ESCAPE}
_ENCODE.update({char: bytes([ESCAPE, code]) for code, char in EXTENSION.items()})
assert len(BASIC) == 128 and len(_ENCODE) == 127 + 10


def encode_gsm7_char(char: str) -> bytes | None:
    """The septet (or escape and septet) of ``char``; None when GSM-7 cannot carry it."""
    return _ENCODE.get(char)


def decode_gsm7(septets: bytes) -> str:
    """Text of GSM-7 septet codes (values above 0x7F are taken modulo 128)."""
    out, escaped = [], False
    for septet in septets:
        septet &= 0x7F
        if escaped:
            escaped = False
            # TS 23.038: 0x1B1B is reserved for another extension table (shown as a space);
            # a code the extension table lacks is shown as the main table's character.
            out.append(" " if septet == ESCAPE else EXTENSION.get(septet, BASIC[septet]))
        elif septet == ESCAPE:
            escaped = True
        else:
            out.append(BASIC[septet])
    if escaped:
        out.append(" ")  # an escape with nothing after it: shown as a space
    return "".join(out)

"""The one import of python-gsmmodem's PDU helpers (``gsmmodem.pdu``).

The version is pinned in setup.py (0.13.0): :mod:`modem.pdu.codec` and :mod:`modem.pdu.user_data` rely
on the exact behaviour of its GSM-7 tables, septet packing, address and timestamp codecs.
Its modules have invalid escape sequences, so they are imported here once with their
compile-time warnings filtered (pytest runs with warnings as errors). No I/O, no state.
"""
from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from gsmmodem import pdu as gsm_pdu

__all__ = ["gsm_pdu"]

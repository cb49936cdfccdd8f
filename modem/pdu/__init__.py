"""SMS PDUs: ``codec`` (SMS-SUBMIT, SMS-DELIVER and status reports over gsmmodem.pdu),
``decoding`` (received PDUs, and what counts as undecodable), ``types``, ``user_data``
(splitting text that never cuts a surrogate pair or a GSM-7 escape), ``concat``
(reassembly of concatenated parts) and ``charset`` (the GSM 7-bit alphabet, TS 23.038).

May import ``modem.exceptions`` and gsmmodem; nothing else of ``modem``.
"""

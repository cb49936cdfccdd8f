"""SMS PDUs: ``codec`` (SMS-SUBMIT, SMS-DELIVER and status reports over gsmmodem.pdu),
``types``, ``user_data`` (splitting text that never cuts a surrogate pair or a GSM-7
escape), ``concat`` (reassembly of concatenated parts) and ``charset`` (GSM 03.38).

May import ``modem.exceptions`` and gsmmodem; nothing else of ``modem``.
"""

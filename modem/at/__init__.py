"""The AT session of one modem: ``engine`` (one command in flight, the lock held across
``AT+CMGS`` and its PDU), ``reader`` (the reader thread), ``inflight`` (where the caller's
thread and the reader meet), ``results`` (final result codes and URCs) and ``commands``
(AT command strings as named constants).

May import ``modem.exceptions`` and the standard library and pyserial; nothing else.
"""

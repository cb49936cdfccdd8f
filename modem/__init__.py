"""The modem side: modems driven by AT commands, pooled, and the simulated modem.

- ``at/``: the AT session (engine, reader, the exchange in flight, result codes, commands).
- ``pdu/``: SMS PDUs (codec over gsmmodem.pdu, types, user data, concatenation, charset).
- ``sim/``: the simulated modem and network, a pyserial URL handler ``modemsim://``.
- Here: ``driver`` (one modem), ``pool`` (several, with failover), ``inbox`` (stored and
  direct SMS), ``message_store`` (memories and claims), ``routing`` (AT+CSMS, AT+CNMI and
  what is acknowledged when), ``inbound_queue``, ``delivery`` (receipts and reports), ``choice`` (which
  modem sends), ``limits``, ``identity``, ``slot``, ``transport`` (config and port),
  ``clock``, ``numbers``, ``exceptions``, ``probe``.

This package never imports ``gateway``, Flask or SQLAlchemy (tests/test_layering.py).
"""

"""Abuse controls on destinations (issue 10): the destination policy (which numbers a
code SMS may go to: countries, number types, allow and deny prefixes, the device's
network) and pumping detection (code SMS and verifications per destination prefix, and a
cool-down for prefixes whose codes are never used), with what ``msisdn-gateway guard``
lists and clears.

``admission`` is what the use cases call (every code SMS passes through
gateway.verification.mt.issue_code); ``policy`` holds the rules, ``pumping`` the counting,
``networks`` the MCC table, ``listing`` the command's rows.

May import the kernel, config, storage and ``modem`` (numbers); never verification (which
imports it), the faces, Flask or pyserial (held by tests/test_import_graph.py).
"""

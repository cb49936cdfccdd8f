"""The use cases every face shares: register, discover, start an MT or SMS-MO
verification, resend, verify a code, sign a certificate; TextSecure accounts, prekeys and
directory (``accounts``, ``account_keys``, ``account_passwords``); codes, sessions, rate
limits and capacity. Plain functions over a unit of work and a clock; they raise gateway.errors.

May import the kernel, config, crypto, i18n, storage and ``modem``; never Flask,
Werkzeug or pyserial (held by tests/test_layering.py).
"""

"""Configuration: the typed, frozen Settings (defaults < TOML < environment < CLI flags;
``settings``, the only module that reads the environment), value types and their
conversion (``values``), modem entries (``modems``) and the server keys (``keys``).

May import the kernel, gateway.crypto and ``modem`` (for ModemConfig).
"""

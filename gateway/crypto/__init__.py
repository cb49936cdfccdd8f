"""Cryptographic building blocks: Hawk credentials and sealing (``tokens``), BrowserID
certificates (``browserid``) and client public keys (``public_keys``).

May import only the kernel (and the ``cryptography`` library).
"""

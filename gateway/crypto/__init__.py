"""Cryptographic building blocks of the gateway."""

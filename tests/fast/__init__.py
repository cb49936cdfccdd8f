"""The fast tier: the use cases against the in-memory unit of work (tests/fake_storage.py).

A package, so that its conftest is imported as ``fast.conftest`` and does not take the
name ``conftest`` from tests/conftest.py (which other tests import ``assert_error`` from).
"""

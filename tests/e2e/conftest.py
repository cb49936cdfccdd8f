"""What the end-to-end tests leave behind for people: the terminal summary names the
directories of artefacts (screenshots of the admin page) the run wrote."""
from __future__ import annotations

import pytest

#: Directories of artefacts written during the run (test_admin_browser adds its own).
ARTEFACTS = pytest.StashKey[list]()


def pytest_configure(config):
    config.stash[ARTEFACTS] = []


def pytest_terminal_summary(terminalreporter, config):
    for directory in config.stash.get(ARTEFACTS, []):
        terminalreporter.write_line(f"test artefacts: {directory}")

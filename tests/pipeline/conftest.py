"""The ``pipeline`` fixture of this directory (see pipeline_harness.pipeline_on)."""
import pytest

from pipeline_harness import pipeline_on


@pytest.fixture
def pipeline(start_gateway):
    yield from pipeline_on(start_gateway)

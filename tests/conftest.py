"""Shared test setup: Hypothesis profiles, a fixture for tests that run the CLI, and one that
runs a test on each backend (durable only where durable-rules imports).

Choose one with the ``HYPOTHESIS_PROFILE`` environment variable (default ``dev``):

- ``dev``: random, a moderate number of examples, fast enough to run on every change;
- ``ci``: derandomized (the same examples on every run), no deadline, and prints the blob
  that reproduces a failure;
- ``thorough``: many examples, for a slow hunt before a release.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import settings

from cocm_rules.rules import _durable

settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile("ci", max_examples=100, derandomize=True, deadline=None, print_blob=True)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
def restore_structlog() -> Iterator[None]:
    """The CLI configures structlog (it is a host); put the process-wide configuration back."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture(
    params=[
        "compiled",
        pytest.param(
            "durable",
            marks=pytest.mark.skipif(not _durable.available(), reason="durable-rules does not import here (3.13+?)"),
        ),
    ]
)
def each_backend(request: pytest.FixtureRequest) -> str:
    """The name of each rule backend in turn."""
    return str(request.param)

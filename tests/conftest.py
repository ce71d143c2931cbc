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
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

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


# -- the alert-state store on both databases ----------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server's URL: COCM_TEST_POSTGRES_URL (``.ci/run`` starts one), else a
    throwaway cluster started here with the distribution's binaries (never skipped: without
    PostgreSQL the tests that need it fail, saying how to install it)."""
    url = os.environ.get("COCM_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    import sys
    import tempfile

    sys.path.insert(0, str(Path(__file__).parent.parent / "tools"))
    import postgres_cluster

    directory = tempfile.mkdtemp(prefix="cocm-pg-")  # under /tmp: the server user can reach it
    try:
        yield postgres_cluster.start(directory)
    finally:
        postgres_cluster.stop(directory)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store on each database in turn: a SQLite file path, or a new database on
    the PostgreSQL server (dropped afterwards)."""
    if request.param == "sqlite":
        yield str(tmp_path / "alerts.db")
        return
    import sqlalchemy as sa

    from cocm_rules.store import store_url

    server = sa.engine.make_url(store_url(request.getfixturevalue("postgres_server")))
    name = f"cocm_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

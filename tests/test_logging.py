"""The library is silent unless its host turns logging on (stdlib logging or structlog)."""

from __future__ import annotations

import datetime as dt
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from cocm_rules import Engine

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 11, 2)
EPISODE = {
    "patient_id": "p1",
    "program": "cocm",
    "enrollment_date": "2026-10-01",
    "status": "active_treatment",
    "assessments": [{"measure": "phq9", "date": "2026-11-02", "answers": [0, 0, 0, 0, 0, 0, 0, 0, 1]}],
}
# Loads (info, debug), evaluates one patient and a batch with an invalid record (a warning),
# and loads without the safety floor (a warning): everything the library logs on a normal run.
SCRIPT = f"""
import datetime as dt
SETUP
from cocm_rules import Engine
engine = Engine.load()
engine.evaluate({EPISODE!r}, dt.date(2026, 11, 2))
list(engine.evaluate_many([{EPISODE!r}, {{"patient_id": "p2"}}], dt.date(2026, 11, 2)))
Engine.load(safety_floor=False)
"""


def _run(setup: str = "") -> subprocess.CompletedProcess[str]:
    code = SCRIPT.replace("SETUP", setup)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True, timeout=120
    )


def test_a_host_that_configures_nothing_sees_nothing() -> None:
    """``import cocm_rules``, load, evaluate, a batch with an invalid record and a load without
    the safety floor print nothing at all, on stdout or stderr (no structlog default output,
    no "No handlers could be found" fallback for the warnings)."""
    result = _run()
    assert ("", "") == (result.stdout, result.stderr)


def test_a_host_turns_it_on_with_stdlib_logging() -> None:
    """``logging.basicConfig(level=logging.INFO)`` shows the library's info and warning events
    on stderr, under the ``cocm_rules.*`` logger names; stdout stays clean."""
    result = _run("import logging, sys; logging.basicConfig(level=logging.INFO, stream=sys.stderr)")
    assert "" == result.stdout
    for expected in (
        "INFO:cocm_rules.rules.loader:ruleset.loaded",
        "INFO:cocm_rules.engine:engine.loaded",
        "WARNING:cocm_rules.engine:batch.record_invalid record=1",
        "INFO:cocm_rules.engine:batch.finished records=2 results=1 errors=1",
        "WARNING:cocm_rules.engine:engine.safety_floor_skipped",
    ):
        assert expected in result.stderr
    assert "measure.loaded" not in result.stderr  # a debug event, below the INFO the host chose


@pytest.mark.usefixtures("restore_structlog")
def test_stdlib_records_carry_the_event_and_its_fields(caplog: pytest.LogCaptureFixture) -> None:
    """Without a structlog configuration the events are stdlib records of the module's logger;
    the record holds the event and its fields (``record.cocm_rules``) for structured handlers,
    and names the library function that logged."""
    structlog.reset_defaults()
    with caplog.at_level(logging.INFO, logger="cocm_rules"):
        list(Engine.load().evaluate_many([EPISODE], AS_OF))
    finished = [r for r in caplog.records if r.getMessage().startswith("batch.finished ")]
    assert 1 == len(finished)
    record = finished[0]
    fields = record.cocm_rules  # type: ignore[attr-defined]
    assert ("cocm_rules.engine", "evaluate_many") == (record.name, record.funcName)
    assert ("batch.finished", 1, 1, 0) == (fields["event"], fields["records"], fields["results"], fields["errors"])


@pytest.mark.usefixtures("restore_structlog")
def test_a_structlog_host_and_capture_logs_still_get_the_events() -> None:
    """When structlog is configured (here by ``capture_logs``) the events go through it, as
    event dicts with their fields."""
    structlog.reset_defaults()
    with capture_logs() as logs:
        list(Engine.load().evaluate_many([EPISODE], AS_OF))
    finished = [e for e in logs if e["event"] == "batch.finished"]
    assert [("info", 1)] == [(e["log_level"], e["records"]) for e in finished]


def test_the_package_logger_has_a_null_handler() -> None:
    """``cocm_rules`` carries a NullHandler, as libraries do, so warnings never reach
    logging's last-resort handler when the host configured nothing."""
    handlers = logging.getLogger("cocm_rules").handlers
    assert [True] == [isinstance(h, logging.NullHandler) for h in handlers]


def test_the_service_run_as_a_program_logs_to_stderr() -> None:
    """``python -m cocm_rules.cdshooks`` is its own host: with nothing configured it logs its
    events (at ``--log-level``) on stderr, as it did when structlog printed by default."""
    code = (
        "import uvicorn\n"
        "def run(self, *a, **k): self.started = True\n"
        "uvicorn.Server.run = run\n"
        "from cocm_rules.cdshooks import main_serve\n"
        "raise SystemExit(main_serve(['--insecure-dev', '--port', '8099']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert (0, "") == (result.returncode, result.stdout)
    assert "INFO cdshooks.serving host='127.0.0.1' port=8099 insecure_dev=True" in result.stderr

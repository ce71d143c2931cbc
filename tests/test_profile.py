"""Per-rule evaluation time over a batch (``profile_rules``, ``cocm-rules evaluate --profile-rules``)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cocm_rules import Engine
from cocm_rules.batch import read_records
from cocm_rules.cli import app
from cocm_rules.profile import profile_rules

CASELOAD = Path(__file__).resolve().parent.parent / "examples" / "caseload.jsonl"
AS_OF = dt.date(2026, 11, 20)

pytestmark = pytest.mark.usefixtures("restore_structlog")


def test_profile_covers_every_rule_and_counts_what_fired() -> None:
    """Each rule is timed once, and its count of patients fired equals what the engine alerts
    on the same batch (the profile evaluates the same conditions, apart from the hot path)."""
    engine = Engine.load()
    result = profile_rules(engine, read_records(CASELOAD), AS_OF)
    fired = Counter(a.rule_id for r in engine.evaluate_many(read_records(CASELOAD), AS_OF) for a in r.alerts)
    assert sorted(r.rule_id for r in engine.program.rules) == sorted(t.rule_id for t in result.rules)
    assert dict(fired) == {t.rule_id: t.fired for t in result.rules if t.fired}
    assert (60, 0) == (result.patients, result.records_with_errors)
    assert set(engine.needed) == set(result.facts_seconds)
    assert [t.seconds for t in result.rules] == sorted((t.seconds for t in result.rules), reverse=True)


def test_profile_counts_records_that_cannot_be_evaluated() -> None:
    """A record that is not an episode is counted, not dropped silently."""
    result = profile_rules(Engine.load(), [{"patient_id": "x"}], AS_OF)
    assert (0, 1) == (result.patients, result.records_with_errors)


def test_cli_evaluate_profile_rules() -> None:
    """``cocm-rules evaluate --profile-rules`` prints the per-rule table instead of the alerts."""
    result = CliRunner().invoke(
        app,
        ["evaluate", str(CASELOAD), "--as-of", "2026-11-20", "--profile-rules"],
        env={"COLUMNS": "220", "NO_COLOR": "1"},
    )
    assert 0 == result.exit_code, result.output
    assert "Rule costs over 60 patients as of 2026-11-20" in result.output
    assert "t2t-phq9-not-improving" in result.output
    assert '"kind"' not in result.output

"""Coverage of the embedded test cases (``cocm-rules test --coverage``, ``ruleset_coverage``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cocm_rules import ruleset_coverage
from cocm_rules.cli import app
from cocm_rules.rules import load_rulesets

FIXTURE = Path(__file__).parent / "fixtures" / "rulesets_ok" / "treat_to_target.yaml"

pytestmark = pytest.mark.usefixtures("restore_structlog")

RULESET = """\
ruleset: coverage-check
version: "1"
effective: 2026-01-01
owner: test
description: Rules whose cases show what counts as a firing case and a near miss.
rules:
  - id: cv-threshold
    title: threshold
    source: test
    when: status == active_treatment and phq9.latest >= 10
    then: {category: treatment_to_target, severity: low, priority: 10, action: review_treatment, message: m}
  - id: cv-set-aside
    title: set aside
    source: test
    when: set_aside_count >= 1 and set_aside_reasons is present
    then: {category: data_quality, severity: low, priority: 10, action: correct_record, message: m}
tests:
  - name: fires
    facts: {status: active_treatment, phq9.latest: 12}
    expect: [cv-threshold]
  - name: one point below the threshold
    facts: {status: active_treatment, phq9.latest: 9}
    expect: []
  - name: no PHQ-9 at all
    facts: {status: active_treatment}
    expect: []
  - name: nothing set aside
    facts: {set_aside_count: 0}
    expect: []
"""


def by_rule(text: str) -> dict[str, Any]:
    """Coverage of a ruleset given as text, by rule id."""
    return {r.rule_id: r for r in ruleset_coverage(load_rulesets(text=text)).rules}


def test_bundled_rulesets_are_fully_covered() -> None:
    """Every bundled rule has a firing case and a near miss, and the cases drive every part of
    every condition both true and false (100% means both: a threshold seen only on one side is
    half tested)."""
    cov = ruleset_coverage(load_rulesets())
    assert [] == [(r.rule_id, r.gaps) for r in cov.incomplete]
    assert [] == [
        (r.rule_id, b.path, b.text) for r in cov.rules for b in r.branches if not (b.seen_true and b.seen_false)
    ]
    assert (True, 1.0, ()) == (cov.complete, cov.branch_share, cov.errors)


def test_firing_case_and_near_miss() -> None:
    """A case one threshold away is a near miss; a case silent only because the fact is
    missing is not; the case that fires is the firing case."""
    rule = by_rule(RULESET)["cv-threshold"]
    assert (("fires",), ("one point below the threshold",)) == (rule.firing, rule.near_misses)
    assert rule.complete


def test_presence_test_on_a_missing_fact_may_go_either_way() -> None:
    """``set_aside_count >= 1 and set_aside_reasons is present``: a count of 0 (no reasons, as
    they come together) is the near miss; no case fires it, which is a gap."""
    rule = by_rule(RULESET)["cv-set-aside"]
    assert (("nothing set aside",), ()) == (rule.near_misses, rule.firing)
    assert ("no firing case",) == rule.gaps


def test_branches_record_each_outcome() -> None:
    """Each part of a condition is tallied true and false over the cases (a case without the
    fact makes a comparison false); the whole is part ''."""
    rule = by_rule(RULESET)["cv-threshold"]
    seen = {b.path: (b.text, b.seen_true, b.seen_false) for b in rule.branches}
    assert ('status == "active_treatment"', True, True) == seen["0"]
    assert ("phq9.latest >= 10", True, True) == seen["1"]
    assert (6, 6) == (rule.branches_covered, rule.branches_total)
    set_aside = {b.path: (b.seen_true, b.seen_false) for b in by_rule(RULESET)["cv-set-aside"].branches}
    assert {"": (False, True), "0": (False, True), "1": (False, True)} == set_aside


def invoke(*args: str) -> Any:
    """Run the app in-process with a wide terminal."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "220", "NO_COLOR": "1"})


def test_cli_coverage_of_the_bundled_rulesets_passes() -> None:
    """``cocm-rules test --coverage`` on the bundled rulesets: every rule covered, exit 0."""
    result = invoke("test", "--coverage")
    assert 0 == result.exit_code, result.output
    n = len(load_rulesets().program.rules)
    assert f"coverage: {n} of {n} rules have a firing case and a near miss; branches 100.0%" in result.output


def test_cli_coverage_reports_gaps_and_exits_1() -> None:
    """A ruleset whose cases never fire a rule: the gap is named with its file:line:column and
    the command exits 1 although every case passes."""
    result = invoke("test", str(FIXTURE), "--coverage", "--no-safety-floor")
    assert 1 == result.exit_code, result.output
    assert "3 passed, 0 failed" in result.output
    line = FIXTURE.read_text(encoding="utf-8").splitlines().index("  - id: fx-tie-b") + 1
    assert f"GAP {FIXTURE}:{line}:5: rule fx-tie-b: no firing case" in result.output
    assert "no case makes part 0 false: phq9.baseline >= 10" in result.output
    without = invoke("test", str(FIXTURE), "--no-safety-floor")
    assert 0 == without.exit_code

"""Embedded test cases (``cocm-rules test``): run_tests and what a failing case reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from cocm_rules import InvalidInput, run_tests
from cocm_rules.rules import CaseResult, bundled_rulesets_path, load_rulesets

OK = Path(__file__).parent / "fixtures" / "rulesets_ok"
T2T = OK / "treat_to_target.yaml"
WRONG = OK / "wrong_expectation.yaml"
SUICIDE = bundled_rulesets_path() / "suicide_risk.yaml"


def line_of(path: Path, text: str) -> int:
    """1-based line number of the line equal to ``text``."""
    return path.read_text(encoding="utf-8").splitlines().index(text) + 1


def results_by_name(path: Path, backend: str = "compiled") -> dict[str, CaseResult]:
    """Embedded test results of one file, by case name."""
    return {r.name: r for r in run_tests(load_rulesets(path), backend=backend)}


def test_bundled_suicide_ruleset_tests_pass(each_backend: str) -> None:
    """Every embedded case of the bundled suicide-risk ruleset passes on each backend."""
    results = run_tests(load_rulesets(SUICIDE), backend=each_backend)
    assert results
    assert [] == [(r.name, r.missing, r.unexpected, r.error) for r in results if not r.passed]


def test_valid_fixture_tests_pass(each_backend: str) -> None:
    """The treat-to-target fixture's cases, an episode case included, pass on each backend."""
    results = run_tests(load_rulesets(T2T), backend=each_backend)
    assert 3 == len(results)
    assert all(r.passed for r in results)


def test_a_passing_case() -> None:
    """A passing case reports what was expected and fired, and no facts."""
    result = results_by_name(WRONG)["right - severe PHQ-9"]
    assert (True, ("we-severe-phq9",), ("we-severe-phq9",), (), ()) == (
        result.passed,
        result.expected,
        result.fired,
        result.missing,
        result.unexpected,
    )
    assert {} == result.facts
    assert result.error is None


def test_expected_rule_that_did_not_fire_is_missing(each_backend: str) -> None:
    """A rule expected but not fired is ``missing``, with the facts it read."""
    result = results_by_name(WRONG, each_backend)["wrong - expects a rule that does not fire"]
    assert not result.passed
    assert (("we-severe-phq9",), ()) == (result.missing, result.unexpected)
    assert {"phq9.latest": 12} == result.facts


def test_rule_that_fired_unexpectedly(each_backend: str) -> None:
    """A rule fired but not expected is ``unexpected``; the expected rule that fired is not reported."""
    result = results_by_name(WRONG, each_backend)["wrong - a rule fires that was not expected"]
    assert ((), ("we-no-contact",)) == (result.missing, result.unexpected)
    assert ("we-no-contact", "we-severe-phq9") == result.fired
    assert {"days_since_last_contact": 45} == result.facts


def test_missing_and_unexpected_at_once() -> None:
    """Both kinds of difference in one case, with the facts of both rules."""
    result = results_by_name(WRONG)["wrong - both ways at once"]
    assert (("we-severe-phq9",), ("we-no-contact",)) == (result.missing, result.unexpected)
    assert {"phq9.latest": 4, "days_since_last_contact": 45} == result.facts


def test_location_is_the_test_case_in_the_file() -> None:
    """``location`` is ``file:line:column`` of the case (its ``name`` line)."""
    result = results_by_name(WRONG)["wrong - both ways at once"]
    line = line_of(WRONG, "  - name: wrong - both ways at once")
    assert f"{WRONG}:{line}:5" == result.location


def test_every_case_is_run_in_file_order() -> None:
    """One result per case, in file order, named after the ruleset."""
    results = run_tests(load_rulesets(WRONG))
    expected = [
        ("right - severe PHQ-9", True),
        ("wrong - expects a rule that does not fire", False),
        ("wrong - a rule fires that was not expected", False),
        ("wrong - both ways at once", False),
        ("right - episode, severe PHQ-9, seen two weeks ago", True),
        ("wrong - episode, no contact for 45 days", False),
    ]
    assert expected == [(r.name, r.passed) for r in results]
    assert {"fixture-wrong-expectation"} == {r.ruleset for r in results}


def test_episode_case_passes(each_backend: str) -> None:
    """An episode case is evaluated through the fact builder at its ``as_of`` (PHQ-9 21: severe)."""
    result = results_by_name(WRONG, each_backend)["right - episode, severe PHQ-9, seen two weeks ago"]
    assert (True, ("we-severe-phq9",)) == (result.passed, result.fired)


def test_episode_case_reports_computed_facts() -> None:
    """A failing episode case shows the facts computed from the episode (45 days since contact)."""
    result = results_by_name(WRONG)["wrong - episode, no contact for 45 days"]
    assert ((), ("we-no-contact",)) == (result.missing, result.unexpected)
    assert {"days_since_last_contact": 45} == result.facts
    line = line_of(WRONG, "  - name: wrong - episode, no contact for 45 days")
    assert f"{WRONG}:{line}:5" == result.location


def test_rules_of_other_rulesets_do_not_count() -> None:
    """Loaded together, a case only checks its own ruleset's rules (others may fire freely)."""
    together = run_tests(load_rulesets([T2T, WRONG]))
    alone = run_tests(load_rulesets(T2T)) + run_tests(load_rulesets(WRONG))
    assert [(r.ruleset, r.name, r.fired, r.passed) for r in alone] == [
        (r.ruleset, r.name, r.fired, r.passed) for r in together
    ]


def test_unknown_backend_is_refused() -> None:
    """``run_tests`` refuses an unknown backend like the Engine does."""
    with pytest.raises(InvalidInput):
        run_tests(load_rulesets(T2T), backend="drools")

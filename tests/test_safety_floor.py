"""The safety floor: a set of rulesets that does not escalate suicide risk is refused.

The variants of ``rulesets/suicide_risk.yaml`` are made in a temporary directory from the
bundled file, so they follow it as it evolves.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from structlog.testing import capture_logs

from cocm_rules import Engine, InvalidInput, RulesetError, SafetyFloorError, score
from cocm_rules.episode import PROGRAMS, STATUSES
from cocm_rules.rules import SAFETY_CASES, bundled_rulesets_path
from cocm_rules.rules.safety import AS_OF, NEGATIVE_CASES, SafetyCase, safety_episode

SUICIDE = bundled_rulesets_path() / "suicide_risk.yaml"
PHQ9_ITEM9_CASES = [
    "PHQ-9 item 9 = 1 with a total of 1",
    "PHQ-9 item 9 = 2 with a total of 10",
    "PHQ-9 item 9 = 3 with a total of 27",
]
MISSING_DATA_CASES = [
    "PHQ-A with item 9 unanswered",
    "PHQ-9 with item 9 unanswered",
    "PHQ-9 with an invalid item 9 answer (7)",
    "PHQ-9 reported as a total only (item 9 unknown)",
    "C-SSRS screener with questions 3-5 unanswered after a yes to question 2",
    "C-SSRS screener with question 6b unanswered after a yes to question 6",
]
ALL_WHERE = [f"{p}/{s}" for p in PROGRAMS for s in STATUSES]


def variant(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the bundled suicide ruleset with ``change`` applied (its embedded tests dropped)."""
    data = yaml.safe_load(SUICIDE.read_text(encoding="utf-8"))
    data.pop("tests", None)
    change(data)
    path = tmp_path / "suicide_risk.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def drop_rule(rule_id: str) -> Callable[[dict[str, Any]], None]:
    """A change that removes one rule."""

    def change(data: dict[str, Any]) -> None:
        before = len(data["rules"])
        data["rules"] = [r for r in data["rules"] if r["id"] != rule_id]
        assert before - 1 == len(data["rules"]), f"the bundled ruleset has no rule {rule_id!r}"

    return change


def restrict(condition: str) -> Callable[[dict[str, Any]], None]:
    """A change that adds ``condition`` to every rule's ``when``."""

    def change(data: dict[str, Any]) -> None:
        for rule in data["rules"]:
            rule["when"] = {"all": [condition, copy.deepcopy(rule["when"])]}

    return change


def refusal(path: Path, backend: str) -> dict[str, str]:
    """Case name -> message, for the cases the safety floor reports as not escalated."""
    with pytest.raises(SafetyFloorError) as info:
        Engine.load(path, backend=backend)
    out = {}
    for p in info.value.problems:
        assert p.message.startswith("no suicide_risk alert for: "), p.message
        name = p.message.removeprefix("no suicide_risk alert for: ").rsplit(" (program/status: ", 1)[0]
        out[name] = p.message
    return out


def where(message: str) -> list[str]:
    """The program/status combinations a problem message lists."""
    return message.rsplit(" (program/status: ", 1)[1].removesuffix(")").split(", ")


# -- the bundled rulesets pass -----------------------------------------------------------------


def test_bundled_suicide_ruleset_passes(each_backend: str) -> None:
    """The bundled suicide-risk ruleset alone passes the floor on each backend."""
    with capture_logs() as logs:
        engine = Engine.load(SUICIDE, backend=each_backend)
    assert engine.safety_floor_checked
    passed = [e for e in logs if e["event"] == "engine.safety_floor_passed"]
    assert [len(SAFETY_CASES) * len(PROGRAMS) * len(STATUSES)] == [e["cases"] for e in passed]


def test_bundled_rulesets_pass(each_backend: str) -> None:
    """All bundled default rulesets together pass the floor on each backend."""
    assert Engine.load(backend=each_backend).safety_floor_checked


# -- edited copies are refused ----------------------------------------------------------------


def test_without_the_item9_rule_is_refused(tmp_path: Path, each_backend: str) -> None:
    """Removing the PHQ-9 item-9 rule leaves the three item-9 cases unescalated everywhere."""
    failed = refusal(variant(tmp_path, drop_rule("suicide-phq9-item9")), each_backend)
    assert PHQ9_ITEM9_CASES == list(failed)
    assert all(ALL_WHERE == where(m) for m in failed.values())


def test_suicide_rules_for_cocm_only_are_refused(tmp_path: Path, each_backend: str) -> None:
    """Suicide rules restricted to ``program == cocm`` fail every case for smi/... patients."""
    failed = refusal(variant(tmp_path, restrict("program == cocm")), each_backend)
    assert [c.name for c in SAFETY_CASES] == list(failed)
    smi_only = [f"smi/{s}" for s in STATUSES]
    assert all(smi_only == where(m) for m in failed.values())


def test_suicide_rules_for_active_treatment_only_are_refused(tmp_path: Path, each_backend: str) -> None:
    """Alerting only in active treatment fails every case for the other statuses."""
    failed = refusal(variant(tmp_path, restrict("status == active_treatment")), each_backend)
    assert [c.name for c in SAFETY_CASES] == list(failed)
    others = [f"{p}/{s}" for p in PROGRAMS for s in STATUSES if s != "active_treatment"]
    assert all(others == where(m) for m in failed.values())


def test_without_the_missing_safety_item_rule_is_refused(tmp_path: Path, each_backend: str) -> None:
    """Without the fail-closed rule, missing, invalid and total-only safety data go unescalated."""
    failed = refusal(variant(tmp_path, drop_rule("suicide-risk-unknown")), each_backend)
    assert MISSING_DATA_CASES == list(failed)
    assert all(ALL_WHERE == where(m) for m in failed.values())


def narrow(rule_id: str, condition: str) -> Callable[[dict[str, Any]], None]:
    """A change that adds ``condition`` to one rule's ``when``."""

    def change(data: dict[str, Any]) -> None:
        (rule,) = [r for r in data["rules"] if r["id"] == rule_id]
        rule["when"] = {"all": [condition, copy.deepcopy(rule["when"])]}

    return change


def test_a_suicide_rule_narrowed_by_another_fact_is_refused(tmp_path: Path, each_backend: str) -> None:
    """The cases hold one PHQ-9, eight weeks in; a rule switched off from the third PHQ-9 on
    passes them, but not the variations of the facts it reads: it is refused, naming the value."""
    path = variant(tmp_path, narrow("suicide-phq9-item9", "phq9.count is missing or phq9.count < 3"))
    failed = refusal(path, each_backend)
    assert [f"{name}, with phq9.count = {n}" for name in PHQ9_ITEM9_CASES for n in (3, 4)] == list(failed)
    assert all(ALL_WHERE == where(m) for m in failed.values())


def test_a_suicide_rule_narrowed_by_an_episode_fact_is_refused(tmp_path: Path) -> None:
    """The same for an episode fact: C-SSRS high risk escalated only in the first 90 days."""
    path = variant(
        tmp_path,
        narrow("suicide-cssrs-high", "days_since_enrollment is missing or days_since_enrollment < 90"),
    )
    failed = refusal(path, "compiled")
    high = ["(intent)", "(plan)", "(behaviour in the past 3 months)"]
    expected = [f"C-SSRS screener at high risk {c}, with days_since_enrollment = {n}" for c in high for n in (90, 91)]
    assert expected == list(failed)


def test_a_demoted_suicide_rule_is_refused(tmp_path: Path) -> None:
    """A suicide alert that files itself as information, at priority 0, still fires, but it
    must come first in review order at severity high or critical: the set is refused."""

    def demote(data: dict[str, Any]) -> None:
        (rule,) = [r for r in data["rules"] if r["id"] == "suicide-cssrs-high"]
        rule["then"].update(severity="info", priority=0)

    other = tmp_path / "other.yaml"
    other.write_text((bundled_rulesets_path() / "engagement.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(SafetyFloorError) as info:
        Engine.load([variant(tmp_path, demote), other])
    messages = [p.message for p in info.value.problems]
    assert 3 == len(messages)
    assert messages[0].startswith(
        "the suicide_risk alert is not first in review order at severity high or critical for: "
        "C-SSRS screener at high risk (intent) (cocm/active_treatment: first is suicide-cssrs-high "
        "(suicide_risk, info, priority 0)"
    ), messages[0]
    assert "first in review order at severity high or critical" in str(info.value)


def test_refusal_is_a_ruleset_error_with_a_summary(tmp_path: Path) -> None:
    """SafetyFloorError is a RulesetError; it names the file and says why the set was refused."""
    path = variant(tmp_path, drop_rule("suicide-phq9-item9"))
    with capture_logs() as logs, pytest.raises(SafetyFloorError) as info:
        Engine.load(path)
    error = info.value
    assert isinstance(error, RulesetError)
    assert {str(path)} == {p.file for p in error.problems}
    assert error.summary is not None
    assert error.summary.startswith("3 built-in safety cases not escalated; the rulesets were refused.")
    assert error.summary == str(error).splitlines()[-1]
    failed = [e for e in logs if e["event"] == "engine.safety_floor_failed"]
    assert [{"event": "engine.safety_floor_failed", "log_level": "error", "cases": 3}] == failed


def test_alerts_in_another_category_do_not_count(tmp_path: Path) -> None:
    """Rules that fire on every case but file their alerts under another category fail the floor:
    only a ``suicide_risk`` alert escalates."""

    def recategorise(data: dict[str, Any]) -> None:
        for rule in data["rules"]:
            rule["then"]["category"] = "data_quality"

    failed = refusal(variant(tmp_path, recategorise), "compiled")
    assert [c.name for c in SAFETY_CASES] == list(failed)
    assert all(ALL_WHERE == where(m) for m in failed.values())


def test_skipping_the_floor_loads_but_logs(tmp_path: Path) -> None:
    """``safety_floor=False`` loads a set that would be refused, and logs a warning."""
    path = variant(tmp_path, drop_rule("suicide-phq9-item9"))
    with capture_logs() as logs:
        engine = Engine.load(path, safety_floor=False)
    assert not engine.safety_floor_checked
    skipped = [e for e in logs if e["event"] == "engine.safety_floor_skipped"]
    assert [{"event": "engine.safety_floor_skipped", "log_level": "warning", "rulesets": ["suicide-risk"]}] == skipped


def test_other_rules_cannot_suppress_a_suicide_alert(tmp_path: Path) -> None:
    """Adding another ruleset never removes the suicide alerts (rules only add alerts)."""
    other = tmp_path / "other.yaml"
    other.write_text(
        (Path(__file__).parent / "fixtures" / "rulesets_ok" / "treat_to_target.yaml").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    assert Engine.load([SUICIDE, other]).safety_floor_checked


# -- a rule filed as suicide_risk must be about suicide risk ---------------------------------------


def add_rule(when: str, rule_id: str = "wrongly-filed") -> Callable[[dict[str, Any]], None]:
    """A change that adds a rule filed as ``suicide_risk`` (critical, priority 100) with ``when``."""

    def change(data: dict[str, Any]) -> None:
        data["rules"].append(
            {
                "id": rule_id,
                "title": "Filed as suicide risk",
                "source": "Test suite",
                "when": when,
                "then": {
                    "category": "suicide_risk",
                    "severity": "critical",
                    "priority": 100,
                    "action": "review",
                    "message": "Review.",
                },
            }
        )

    return change


def wrongly_filed(path: Path | list[Path], backend: str = "compiled") -> list[Any]:
    """The problems the safety floor reports about rules filed as suicide_risk (it must refuse)."""
    with pytest.raises(SafetyFloorError) as info:
        Engine.load(path, backend=backend)
    return [p for p in info.value.problems if "filed as suicide_risk" in p.message]


def test_a_catch_all_rule_filed_as_suicide_risk_cannot_stand_in_for_the_suicide_rules(
    tmp_path: Path, each_backend: str
) -> None:
    """A single ``status is present`` rule filed as suicide_risk fires on every safety case, so
    it used to pass the floor alone, with every real suicide rule deleted. It fires on negative
    screens too: refused, located at its category, saying why and what to do."""

    def only_catch_all(data: dict[str, Any]) -> None:
        data["rules"] = []
        add_rule("status is present", "everyone")(data)

    path = variant(tmp_path, only_catch_all)
    with pytest.raises(SafetyFloorError) as info:
        Engine.load(path, backend=each_backend)
    (problem,) = info.value.problems
    assert (str(path), "rule 'everyone'") == (problem.file, problem.context)
    line = path.read_text(encoding="utf-8").splitlines()[(problem.line or 0) - 1]
    assert "category: suicide_risk" == line[(problem.column or 0) - 1 - len("category: ") :]
    assert problem.message.startswith(
        "this rule is filed as suicide_risk but fires for a patient whose safety screens are negative: "
        "PHQ-9 item 9 = 0 with a total of 24 (severe) (every program and status); PHQ-9 all answers 0 "
        "(every program and status); PHQ-A item 9 = 0 with a total of 24, no to both suicide questions "
        "(every program and status); and 2 more. A suicide_risk alert comes before every other alert"
    ), problem.message
    assert "file this rule under another category (treatment_to_target, review_priority, " in problem.message
    assert str(info.value.summary).startswith(
        "1 rule filed as suicide_risk fires on negative safety screens; the rulesets were refused."
    )


def test_a_severity_rule_filed_as_suicide_risk_is_refused(tmp_path: Path) -> None:
    """``phq9.latest >= 20`` filed as suicide_risk beside the real rules: the severe PHQ-9 with
    item 9 at 0 shows it is not about suicide risk."""
    (problem,) = wrongly_filed(variant(tmp_path, add_rule("phq9.latest >= 20")))
    assert "rule 'wrongly-filed'" == problem.context
    assert problem.message.startswith(
        "this rule is filed as suicide_risk but fires for a patient whose safety screens are negative: "
        "PHQ-9 item 9 = 0 with a total of 24 (severe) (every program and status). "
    ), problem.message


def test_a_suicide_rule_widened_by_another_fact_is_refused(tmp_path: Path) -> None:
    """``item 9 >= 1 or weeks_in_treatment > 52``: the negative cases are eight weeks in, but the
    fact is varied like any other the suicide rules read, so the widening is found, with the value."""
    path = variant(tmp_path, add_rule("phq9.item9_latest >= 1 or weeks_in_treatment > 52"))
    (problem,) = wrongly_filed(path)
    assert problem.message.startswith(
        "this rule is filed as suicide_risk but fires for a patient whose safety screens are negative: "
        "PHQ-9 item 9 = 0 with a total of 24 (severe), with weeks_in_treatment = 53 (every program and status); "
    ), problem.message


def test_the_negative_cases_are_negative() -> None:
    """Each negative case scores complete, with no suicide-risk flag and nothing missing, and the
    bundled rulesets raise no suicide_risk alert for it in any program or status."""
    engine = Engine.load()
    for case in NEGATIVE_CASES:
        if case.measure is not None:
            result = score(case.measure, case.answers)
            assert (True, [], []) == (result.valid, result.flags, result.missing_items), case.name
        for program in PROGRAMS:
            for status in STATUSES:
                alerts = engine.evaluate(safety_episode(case, program, status), AS_OF)
                assert [] == [a.rule_id for a in alerts if a.category == "suicide_risk"], (case.name, program, status)


def test_floor_logs_the_negative_cases() -> None:
    """The passed event counts the negative cases tried too."""
    with capture_logs() as logs:
        Engine.load(SUICIDE)
    (passed,) = [e for e in logs if e["event"] == "engine.safety_floor_passed"]
    assert len(NEGATIVE_CASES) * len(PROGRAMS) * len(STATUSES) == passed["negative_cases"]


# -- each built-in case is what its name says -----------------------------------------------------

# name -> (measure, what scoring the case must show, the bundled rule that escalates it)
CASE_FACTS: dict[str, tuple[str, dict[str, Any], str]] = {
    "PHQ-9 item 9 = 1 with a total of 1": ("phq9", {"item9": 1, "total": 1}, "suicide-phq9-item9"),
    "PHQ-9 item 9 = 2 with a total of 10": ("phq9", {"item9": 2, "total": 10}, "suicide-phq9-item9"),
    "PHQ-9 item 9 = 3 with a total of 27": ("phq9", {"item9": 3, "total": 27}, "suicide-phq9-item9"),
    "C-SSRS screener at moderate risk (method)": (
        "cssrs_screener",
        {"band": "moderate", "q3": 1},
        "suicide-cssrs-moderate",
    ),
    "C-SSRS screener at moderate risk (behaviour more than 3 months ago)": (
        "cssrs_screener",
        {"band": "moderate", "q6": 1, "q6b": 0},
        "suicide-cssrs-moderate",
    ),
    "C-SSRS screener at high risk (intent)": ("cssrs_screener", {"band": "high", "q4": 1}, "suicide-cssrs-high"),
    "C-SSRS screener at high risk (plan)": ("cssrs_screener", {"band": "high", "q5": 1}, "suicide-cssrs-high"),
    "C-SSRS screener at high risk (behaviour in the past 3 months)": (
        "cssrs_screener",
        {"band": "high", "q6": 1, "q6b": 1},
        "suicide-cssrs-high",
    ),
    "PHQ-A item 9 = 1 with a total of 1": ("phqa", {"item9": 1, "total": 1}, "suicide-phqa-risk"),
    "PHQ-A serious thoughts of ending one's life in the past month, item 9 = 0": (
        "phqa",
        {"item9": 0, "serious_thoughts_past_month": 1, "suicide_risk": True},
        "suicide-phqa-risk",
    ),
    "PHQ-A lifetime suicide attempt, item 9 = 0": (
        "phqa",
        {"item9": 0, "attempt_ever": 1, "suicide_risk": True},
        "suicide-phqa-risk",
    ),
    "PHQ-A with item 9 unanswered": (
        "phqa",
        {"item9": None, "missing_items": ["item9"], "safety_item_missing": True},
        "suicide-risk-unknown",
    ),
    "PHQ-9 with item 9 unanswered": (
        "phq9",
        {"item9": None, "missing_items": ["item9"], "safety_item_missing": True},
        "suicide-risk-unknown",
    ),
    "PHQ-9 with an invalid item 9 answer (7)": (
        "phq9",
        {"invalid_item": "item9", "invalid_value": 7},
        "suicide-risk-unknown",
    ),
    "PHQ-9 reported as a total only (item 9 unknown)": (
        "phq9",
        {"item9": None, "total_source": "reported", "safety_item_missing": True},
        "suicide-risk-unknown",
    ),
    "C-SSRS screener with questions 3-5 unanswered after a yes to question 2": (
        "cssrs_screener",
        {"band": None, "q2": 1, "missing_items": ["q3", "q4", "q5"], "safety_item_missing": True},
        "suicide-risk-unknown",
    ),
    "C-SSRS screener with question 6b unanswered after a yes to question 6": (
        "cssrs_screener",
        {"band": None, "q6": 1, "missing_items": ["q6b"], "safety_item_missing": True},
        "suicide-risk-unknown",
    ),
}


def test_every_safety_case_is_described_here() -> None:
    """The table below covers exactly the built-in cases."""
    assert list(CASE_FACTS) == [c.name for c in SAFETY_CASES]


@pytest.mark.parametrize("case", SAFETY_CASES, ids=[c.name for c in SAFETY_CASES])
def test_safety_case_is_what_its_name_says(case: SafetyCase) -> None:
    """Scoring the case's answers shows what its name claims (item 9, total, C-SSRS level, gaps)."""
    measure, expect, _ = CASE_FACTS[case.name]
    assert measure == case.measure
    if "invalid_item" in expect:
        with pytest.raises(InvalidInput) as info:
            score(case.measure, case.answers, reported_total=case.total)
        assert (expect["invalid_item"], expect["invalid_value"]) == (info.value.item, info.value.value)
        return
    result = score(case.measure, case.answers, reported_total=case.total)
    actual: dict[str, Any] = {}
    for key in expect:
        if key in ("total", "band", "missing_items", "total_source"):
            actual[key] = getattr(result, key)
        elif key in ("safety_item_missing", "suicide_risk"):
            actual[key] = key in result.flags
        else:
            actual[key] = result.answers[key]
    assert expect == actual
    if "band" in expect and expect["band"] in ("moderate", "high"):
        assert "suicide_risk" in result.flags
    if case.measure in ("phq9", "phqa") and expect.get("item9"):
        assert "suicide_risk" in result.flags


@pytest.fixture(scope="module")
def suicide_engine() -> Engine:
    """The bundled suicide-risk ruleset on the compiled backend."""
    return Engine.load(SUICIDE)


@pytest.mark.parametrize("case", SAFETY_CASES, ids=[c.name for c in SAFETY_CASES])
def test_safety_case_is_escalated_by_the_expected_rule(case: SafetyCase, suicide_engine: Engine) -> None:
    """In every program and status, each case raises the bundled rule meant for it."""
    expected = CASE_FACTS[case.name][2]
    for program in PROGRAMS:
        for status in STATUSES:
            alerts = suicide_engine.evaluate(safety_episode(case, program, status), AS_OF)
            assert expected in [a.rule_id for a in alerts], (program, status)
            assert all(a.category == "suicide_risk" for a in alerts)

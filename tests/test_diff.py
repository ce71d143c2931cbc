"""The ruleset diff (``cocm-rules diff``, ``cocm_rules.diff.diff_rulesets``): what replacing one
set of rules with another would do to a caseload, checked against hand-computed answers."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cocm_rules import Engine, derive_facts
from cocm_rules.cli import app
from cocm_rules.diff import diff_rulesets
from cocm_rules.review import REVIEW_CATEGORIES
from cocm_rules.rules import bundled_rulesets_path

ROOT = Path(__file__).resolve().parent.parent
CASELOAD = ROOT / "examples" / "caseload.jsonl"
AS_OF = dt.date(2026, 11, 20)
ALL = 10_000  # examples: every patient id

pytestmark = pytest.mark.usefixtures("restore_structlog")


def records() -> list[dict[str, Any]]:
    """The example caseload, one dict per patient."""
    return [json.loads(line) for line in CASELOAD.read_text(encoding="utf-8").splitlines() if line.strip()]


def copy_rules(tmp_path: Path, edits: dict[str, list[tuple[str, str]]], drop: tuple[str, ...] = ()) -> Path:
    """A copy of the bundled rulesets with text replaced (each edit must apply exactly once)."""
    target = tmp_path / "new_rules"
    shutil.copytree(bundled_rulesets_path(), target)
    for name in drop:
        (target / name).unlink()
    for name, replacements in edits.items():
        path = target / name
        text = path.read_text(encoding="utf-8")
        for old, new in replacements:
            assert 1 == text.count(old), (name, old)
            text = text.replace(old, new)
        path.write_text(text, encoding="utf-8")
    return target


WEEKS_10_TO_8 = [("  review_after_weeks:\n    value: 10\n", "  review_after_weeks:\n    value: 8\n")]


def not_improving(f: dict[str, Any], m: str, weeks: int) -> bool:
    """The not-improving rule written out by hand (bundled thresholds, review point ``weeks``):
    active, baseline 10+, ``weeks`` in treatment, under 50% lower, measured in the last 30
    days, and not reviewed by the consultant in the last 28 days unless 5+ points worse since.
    A comparison with a missing fact is false."""

    def at_least(name: str, v: float) -> bool:
        return f[name] is not None and f[name] >= v

    def below(name: str, v: float) -> bool:
        return f[name] is not None and f[name] < v

    review = f["days_since_consultant_review"]
    return (
        f["status"] == "active_treatment"
        and at_least(f"{m}.baseline", 10)
        and at_least("weeks_in_treatment", weeks)
        and below(f"{m}.pct_reduction", 0.5)
        and below(f"{m}.days_since_latest", 31)
        and (review is None or review > 28 or at_least(f"{m}.change_since_consultant_review", 5))
    )


def test_diff_of_a_review_point_change_matches_the_hand_computed_answer(tmp_path: Path, each_backend: str) -> None:
    """review_after_weeks 10 -> 8 (in both rulesets that share it): the patients who would newly
    get a not-improving alert are exactly those the hand-written rule finds between week 8 and
    10; nobody stops alerting; every other rule is unchanged and alerts the same patients."""
    new_rules = copy_rules(tmp_path, {"depression.yaml": WEEKS_10_TO_8, "adolescent_depression.yaml": WEEKS_10_TO_8})
    old, new = Engine.load(backend=each_backend), Engine.load(new_rules, backend=each_backend)
    result = diff_rulesets(old, new, records(), AS_OF, examples=ALL)

    expected: dict[str, list[str]] = {"t2t-phq9-not-improving": [], "t2t-phqa-not-improving": []}
    old_counts = dict.fromkeys(expected, 0)
    for record in records():
        facts = derive_facts(record, AS_OF)
        for rule, measure in (("t2t-phq9-not-improving", "phq9"), ("t2t-phqa-not-improving", "phqa")):
            old_counts[rule] += not_improving(facts, measure, 10)
            if not_improving(facts, measure, 8) and not not_improving(facts, measure, 10):
                expected[rule].append(record["patient_id"])
    assert any(expected.values())  # the caseload exercises the change

    by_id = {r.rule_id: r for r in result.rules}
    for rule, gained in expected.items():
        change = by_id[rule]
        assert ("changed", gained, [], 0) == (change.status, change.gained_examples, change.lost_examples, change.lost)
        assert (old_counts[rule], old_counts[rule] + len(gained)) == (change.old_alerts, change.new_alerts)
        assert "parameter review_after_weeks: 10 -> 8" in change.changes
    others = [r for r in result.rules if r.rule_id not in expected]
    assert [] == [r.rule_id for r in others if r.status != "unchanged" or r.has_effect]
    assert (len(records()), 0) == (result.patients_evaluated, result.records_with_errors)


def is_review_reason(alert: Any) -> bool:
    """A review-list reason, by hand: a review category at moderate severity or above."""
    return alert.category in REVIEW_CATEGORIES and alert.severity in ("moderate", "high", "critical")


def test_a_lower_severity_changes_alerts_and_the_review_list(tmp_path: Path) -> None:
    """t2t-phq9-not-improving from high to low: the same patients alert, each alert changes,
    and the patients whose only review reason it was leave the review list."""
    rule_text = "      severity: high\n      priority: 70\n      action: psychiatric_case_review\n"
    path = bundled_rulesets_path() / "depression.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("  - id: t2t-phq9-not-improving")
    end = text.index("  - id: ", start + 10)
    assert rule_text in text[start:end]
    new_rules = tmp_path / "rules"
    shutil.copytree(bundled_rulesets_path(), new_rules)
    block = text[start:end].replace(rule_text, rule_text.replace("severity: high", "severity: low"))
    (new_rules / "depression.yaml").write_text(text[:start] + block + text[end:], encoding="utf-8")
    old = Engine.load()
    result = diff_rulesets(old, Engine.load(new_rules), records(), AS_OF, examples=ALL)

    firing, leaving, listed = [], [], 0
    for record in records():
        alerts = old.evaluate(record, AS_OF)
        reasons = [a.rule_id for a in alerts if is_review_reason(a)]
        listed += bool(reasons)
        if "t2t-phq9-not-improving" in {a.rule_id for a in alerts}:
            firing.append(record["patient_id"])
        if reasons == ["t2t-phq9-not-improving"]:
            leaving.append(record["patient_id"])
    change = {r.rule_id: r for r in result.rules}["t2t-phq9-not-improving"]
    assert (firing, 0, 0, ["severity: high -> low"]) == (
        change.altered_examples,
        change.gained,
        change.lost,
        change.changes,
    )
    assert firing
    assert (listed, listed - len(leaving)) == (result.old_review, result.new_review)
    assert leaving  # the caseload exercises it
    assert sorted(leaving) == sorted(c.patient_id for c in result.left_examples)
    assert all(c.new_rank is None and c.old_rank for c in result.left_examples)


def test_removed_ruleset_stops_its_alerts(tmp_path: Path) -> None:
    """Rules only in the old set are 'removed': every patient they alerted would stop alerting."""
    new_rules = copy_rules(tmp_path, {}, drop=("comorbidity.yaml",))
    result = diff_rulesets(Engine.load(), Engine.load(new_rules), records(), AS_OF, examples=2)
    removed = [r for r in result.rules if r.status == "removed"]
    assert removed
    assert all(r.rule_id.startswith("comorbid-") for r in removed)
    assert all((r.old_alerts, 0, 0) == (r.lost, r.new_alerts, r.gained) for r in removed)
    assert all(len(r.lost_examples) == min(2, r.lost) for r in removed)


def test_same_rules_change_nothing() -> None:
    """The bundled rules against themselves: no rule changed, nobody alerted differently."""
    engine = Engine.load()
    result = diff_rulesets(engine, engine, records(), AS_OF)
    assert ([], 0, 0, 0) == (result.changed_rules, result.joined_review, result.left_review, result.moved_up)


def test_html_is_escaped_self_contained_and_plain(tmp_path: Path) -> None:
    """The HTML page escapes what the rules say, loads nothing from outside, runs no script,
    and says what happens in plain words."""
    new_rules = copy_rules(
        tmp_path,
        {
            "depression.yaml": [
                *WEEKS_10_TO_8,
                ("title: PHQ-9 not improving after", "title: <script>alert(1)</script> & PHQ-9 not improving after"),
            ],
            "adolescent_depression.yaml": WEEKS_10_TO_8,
        },
    )
    page = diff_rulesets(Engine.load(), Engine.load(new_rules), records(), AS_OF).html()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; PHQ-9 not improving" in page
    assert "would newly alert" in page
    assert "would stop alerting" in page
    assert not any(s in page for s in ("http://", "https://", " src=", "<link"))


def invoke(*args: str) -> Any:
    """Run the app in-process with a wide terminal."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "220", "NO_COLOR": "1"})


def test_cli_diff_table_json_and_html(tmp_path: Path) -> None:
    """``cocm-rules diff``: a table naming the changed rule and the patient, ``--json`` equal to
    the Python result, ``--html`` written to the file."""
    new_rules = copy_rules(tmp_path, {"depression.yaml": WEEKS_10_TO_8, "adolescent_depression.yaml": WEEKS_10_TO_8})
    common = (str(bundled_rulesets_path()), str(new_rules), "--caseload", str(CASELOAD), "--as-of", "2026-11-20")
    page = tmp_path / "diff.html"
    table = invoke("diff", *common, "--html", str(page))
    assert 0 == table.exit_code, table.output
    assert "t2t-phq9-not-improving" in table.output
    assert "would newly alert" in table.output
    assert "would newly alert" in page.read_text(encoding="utf-8")
    as_json = invoke("diff", *common, "--json")
    assert 0 == as_json.exit_code, as_json.output
    python = diff_rulesets(Engine.load(), Engine.load(new_rules), records(), AS_OF)
    assert python.model_dump(mode="json") == json.loads(as_json.output)

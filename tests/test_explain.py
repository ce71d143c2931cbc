"""Explain: the tracing evaluation of one rule's IR over one patient's facts (Python and CLI)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cocm_rules import Engine, InvalidInput
from cocm_rules.cli import app
from cocm_rules.rules import load_rulesets
from cocm_rules.rules.ir import And, Cmp, Missing, Not, Or
from cocm_rules.rules.trace import explain_rule, trace

ROOT = Path(__file__).resolve().parent.parent
CASELOAD = ROOT / "examples" / "caseload.jsonl"
EPISODE = ROOT / "examples" / "episode_phq9_not_improving.json"
AS_OF = dt.date(2026, 11, 20)

pytestmark = pytest.mark.usefixtures("restore_structlog")


@pytest.fixture(scope="module")
def engine() -> Engine:
    """The bundled rulesets on the compiled backend."""
    return Engine.load()


def records() -> list[dict[str, Any]]:
    """The example caseload, one dict per patient."""
    return [json.loads(line) for line in CASELOAD.read_text(encoding="utf-8").splitlines() if line.strip()]


def leaf(explanation: Any, fact: str) -> Any:
    """The first comparison in an explanation that reads ``fact``."""

    def walk(step: Any) -> Any:
        if step.fact == fact:
            return step
        for item in step.items:
            found = walk(item)
            if found is not None:
                return found
        return None

    return walk(explanation.condition)


def test_explain_agrees_with_the_backend_on_every_rule_and_patient(each_backend: str) -> None:
    """For every patient of the example caseload and every bundled rule, the trace's verdict is
    the backend's: a rule fired exactly when its explanation says it fires."""
    engine = Engine.load(backend=each_backend)
    disagreements = []
    fired_somewhere = 0
    for record in records():
        facts = engine.facts(record, AS_OF)
        alerts = {a.rule_id for a in engine.evaluate(record, AS_OF)}
        traced = {r.rule_id for r in engine.program.rules if explain_rule(r, facts, AS_OF).fired}
        fired_somewhere += len(alerts)
        if alerts != traced:
            disagreements.append((record["patient_id"], sorted(alerts ^ traced)))
    assert [] == disagreements
    assert fired_somewhere > 0


def test_explain_a_rule_that_fires(engine: Engine) -> None:
    """The example episode is not improving: each comparison shows the fact's value, the
    threshold, the parameter it came from and the result."""
    episode = json.loads(EPISODE.read_text(encoding="utf-8"))
    result = engine.explain(episode, AS_OF, "t2t-phq9-not-improving")
    assert (True, "P900001", AS_OF) == (result.fired, result.patient_id, result.as_of)
    weeks = leaf(result, "weeks_in_treatment")
    assert ("compare", ">=", 10, "review_after_weeks", True) == (
        weeks.kind,
        weeks.op,
        weeks.threshold,
        weeks.parameter,
        weeks.result,
    )
    assert 10 == result.parameters["review_after_weeks"]
    assert weeks.value == result.facts["weeks_in_treatment"]
    assert "weeks_in_treatment >= 10 (parameter review_after_weeks)" in weeks.text


def test_explain_a_rule_that_did_not_fire_names_missing_facts(engine: Engine) -> None:
    """A rule reading GAD-7 facts, for a patient with no GAD-7: it does not fire, each
    comparison on a missing fact is false and says why, and the missing facts are listed."""
    episode = json.loads(EPISODE.read_text(encoding="utf-8"))
    result = engine.explain(episode, AS_OF, "t2t-gad7-not-improving")
    baseline = leaf(result, "gad7.baseline")
    assert (False, True, None, False) == (result.fired, baseline.fact_missing, baseline.value, baseline.result)
    assert "gad7.baseline" in result.missing_facts
    assert "missing (a comparison with a missing fact is false)" in baseline.text
    assert all(result.facts[name] is None for name in result.missing_facts)
    assert any("missing facts: gad7.baseline" in line for line in result.lines())


def test_explain_an_unknown_rule_suggests_the_closest(engine: Engine) -> None:
    """A misspelt rule id is refused with "did you mean"."""
    with pytest.raises(InvalidInput) as info:
        engine.explain(records()[0], AS_OF, "t2t-phq9-not-improvin")
    assert "t2t-phq9-not-improving" == info.value.suggestion


def test_trace_of_any_and_not_and_missing() -> None:
    """``any``, ``not`` and ``is missing`` each report their own result; a literal threshold
    names no parameter; every part is evaluated, even after the result is known."""
    node = Or((Not(Cmp("phq9.latest", ">", 5)), Missing("gad7.latest"), Cmp("gad7.latest", ">=", 10)))
    step = trace(node, {"phq9.latest": 9, "gad7.latest": 8})
    assert (False, "any") == (step.result, step.kind)
    assert [False, False, False] == [s.result for s in step.items]
    negated = step.items[0]
    assert ("not", "0", True, None) == (negated.kind, negated.path, negated.items[0].result, negated.items[0].parameter)
    assert "0.0" == negated.items[0].path
    missing = trace(node, {"phq9.latest": 9, "gad7.latest": None})
    assert (True, [False, True, False]) == (missing.result, [s.result for s in missing.items])
    assert (True, False) == (missing.items[2].fact_missing, missing.items[2].result)


def test_lowering_records_the_parameter_of_a_threshold() -> None:
    """A threshold written as a parameter (also in 'between') keeps the parameter's name in the
    IR; a literal keeps none; the name takes no part in equality (one meaning)."""
    text = """\
ruleset: param-trace
version: "1"
effective: 2026-01-01
owner: test
description: A rule with parameters.
parameters:
  high: {value: 20, source: test}
  low: {value: 10, source: test}
rules:
  - id: pt-one
    title: one
    source: test
    when:
      all:
        - phq9.latest between low and high
        - weeks_in_treatment >= 4
    then: {category: treatment_to_target, severity: low, priority: 10, action: review_treatment, message: m}
"""
    rule = load_rulesets(text=text).rulesets[0].rules[0]
    assert isinstance(rule.condition, And)
    between, weeks = rule.condition.items
    assert ["low", "high"] == [c.param for c in between.items]  # type: ignore[union-attr]
    assert weeks.param is None  # type: ignore[union-attr]
    assert Cmp("phq9.latest", ">=", 10) == between.items[0]  # type: ignore[union-attr]


def invoke(*args: str) -> Any:
    """Run the app in-process with a wide terminal."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "220", "NO_COLOR": "1"})


def test_cli_explain_text_and_json() -> None:
    """``cocm-rules explain`` prints each part with values and parameters; ``--json`` prints the model."""
    result = invoke(
        "explain", str(CASELOAD), "--patient", "P000001", "--rule", "t2t-phq9-not-improving", "--as-of", "2026-11-20"
    )
    assert 0 == result.exit_code, result.output
    assert "does not fire for patient P000001 as of 2026-11-20" in result.output
    assert "weeks_in_treatment >= 10 (parameter review_after_weeks)" in result.output
    as_json = invoke("explain", str(EPISODE), "--rule", "t2t-phq9-not-improving", "--as-of", "2026-11-20", "--json")
    assert 0 == as_json.exit_code, as_json.output
    data = json.loads(as_json.output)
    assert (True, "t2t-phq9-not-improving", "all") == (data["fired"], data["rule_id"], data["condition"]["kind"])


def test_cli_explain_needs_a_patient_in_a_caseload() -> None:
    """A caseload without --patient is refused (exit 2) with a reason naming the option."""
    result = invoke("explain", str(CASELOAD), "--rule", "t2t-phq9-not-improving", "--as-of", "2026-11-20")
    assert 2 == result.exit_code
    assert "--patient" in result.output

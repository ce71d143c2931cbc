"""Who an alert is for: ``then: recipients:`` in a ruleset, the defaults of vocabulary.py, and
``Alert.recipients`` from both backends (issue 12, item 5: alerting the PCP)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from cocm_rules import Engine, RulesetError, load_rulesets
from cocm_rules.alerts import Alert
from cocm_rules.vocabulary import DEFAULT_ROUTES, RECIPIENT_LABELS, RECIPIENTS, default_recipients

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 11, 20)

RULESET = """\
ruleset: routing
version: "1"
effective: 2026-12-01
owner: Test
description: Rules that say who they are for.
rules:
  - id: routed-not-improving
    title: Not improving
    source: Test
    when: phq9.pct_reduction < 50%
    then:
      category: treatment_to_target
      severity: high
      priority: 60
      action: psychiatric_case_review
      message: Not improving.
  - id: routed-to-pcp
    title: For the PCP
    source: Test
    when: phq9.latest >= 20
    then:
      category: engagement
      severity: moderate
      priority: 40
      action: contact_patient
      recipients: [pcp, care_manager]
      message: Severe.
"""


def _problem_text(text: str) -> str:
    with pytest.raises(RulesetError) as info:
        load_rulesets(text=text)
    return str(info.value)


def test_the_vocabulary_of_recipients() -> None:
    """Three members of the team, each with a label; every default route names only them."""
    assert ("care_manager", "psychiatric_consultant", "pcp") == RECIPIENTS
    assert set(RECIPIENTS) == set(RECIPIENT_LABELS)
    assert all(set(recipients) <= set(RECIPIENTS) for _, _, recipients in DEFAULT_ROUTES)


@pytest.mark.parametrize(
    ("category", "action", "expected"),
    [
        ("treatment_to_target", "psychiatric_case_review", ("psychiatric_consultant", "care_manager", "pcp")),
        ("review_priority", "psychiatric_case_review", ("psychiatric_consultant", "care_manager")),
        ("review_priority", "relay_recommendation", ("care_manager", "pcp")),
        ("suicide_risk", "suicide_risk_screen", ("care_manager", "pcp")),
        ("engagement", "outreach", ("care_manager",)),
        ("treatment_to_target", "repeat_measure", ("care_manager",)),
    ],
)
def test_default_recipients(category: str, action: str, expected: tuple[str, ...]) -> None:
    """A case review goes to the consultant (and, when treatment is not reaching its target,
    to the PCP too); a pending recommendation to the care manager and PCP; suicide risk to the
    care manager and PCP; anything else to the care manager."""
    assert expected == default_recipients(category, action)


def test_rules_route_their_alerts_on_both_backends(each_backend: str) -> None:
    """A rule without recipients gets its default; a rule with them keeps its order; the
    alerts of both backends carry the same recipients."""
    rulesets = load_rulesets(text=RULESET)
    engine = Engine(rulesets, backend=each_backend, safety_floor=False, skip_reason="test")
    alerts = engine.evaluate_facts({"phq9.pct_reduction": 0.1, "phq9.latest": 22}, AS_OF)
    assert {
        "routed-not-improving": ["psychiatric_consultant", "care_manager", "pcp"],
        "routed-to-pcp": ["pcp", "care_manager"],
    } == {a.rule_id: a.recipients for a in alerts}


def test_recipients_are_part_of_the_program_digest() -> None:
    """Changing who a rule is for changes the IR (its digest): they are part of its meaning."""
    program = load_rulesets(text=RULESET).program
    changed = dataclasses.replace(program.rules[1], recipients=("care_manager",))
    assert program.digest != type(program)((program.rules[0], changed)).digest


def test_an_unknown_recipient_is_located_with_a_suggestion() -> None:
    """A misspelt recipient names the line, the value, what is allowed and the closest one."""
    text = _problem_text(RULESET.replace("[pcp, care_manager]", "[pcp, care_manger]"))
    assert "<string>:26:" in text
    assert "'care_manger' (text) is not allowed" in text
    assert "did you mean 'care_manager'?" in text
    assert "allowed here: care_manager, psychiatric_consultant, pcp" in text


def test_a_recipient_listed_twice_is_refused() -> None:
    """The same recipient twice is a mistake (which was meant to come first?), located."""
    text = _problem_text(RULESET.replace("[pcp, care_manager]", "[pcp, care_manager, pcp]"))
    assert "<string>:26:39: rule 'routed-to-pcp': recipient 'pcp' is listed twice" in text


def test_an_empty_list_of_recipients_is_refused() -> None:
    """An alert for nobody could not be routed: an empty list is an error, not the default."""
    text = _problem_text(RULESET.replace("[pcp, care_manager]", "[]"))
    assert "<string>:26:19: rule 'routed-to-pcp': recipients is empty: list who the alert is for" in text
    assert "allowed here: care_manager, psychiatric_consultant, pcp" in text
    assert "1 error in 1 file" in text


def test_an_alert_built_without_recipients_gets_the_default() -> None:
    """A host building an Alert itself gets the same default as the engine gives; a value
    outside the vocabulary is refused."""
    fields: dict[str, Any] = {
        "rule_id": "x",
        "ruleset": "t",
        "ruleset_version": "1",
        "title": "t",
        "category": "review_priority",
        "severity": "moderate",
        "priority": 50,
        "message": "m",
        "action": "relay_recommendation",
        "source": "s",
        "evidence": {},
        "as_of": AS_OF,
    }
    assert ["care_manager", "pcp"] == Alert(**fields).recipients
    with pytest.raises(ValueError, match="recipients"):
        Alert(**fields, recipients=["nurse"])


def test_the_alert_json_schema_lists_the_recipients() -> None:
    """``cocm-rules schema alert`` tells a host the closed list it can route on."""
    schema = Alert.model_json_schema()
    prop = schema["properties"]["recipients"]
    assert ["care_manager", "psychiatric_consultant", "pcp"] == prop["items"]["enum"]
    assert "recipients" in schema["required"]


def test_bundled_non_improvers_and_pending_recommendations_address_the_pcp() -> None:
    """Issue 12: the PCP is alerted when a patient is not improving (adults and adolescents,
    and non-responders never reviewed) and when a consultant recommendation is pending."""
    rules = {r.rule_id: r for r in Engine.load().program.rules}
    for rule_id in (
        "t2t-phq9-not-improving",
        "t2t-phqa-not-improving",
        "t2t-gad7-not-improving",
        "t2t-pcl5-not-improving",
        "consult-non-responder-never-reviewed",
        "consult-recommendation-pending",
        "comorbid-mdq-positive-bipolar-evaluation",
        "comorbid-auditc-positive-alcohol-intervention",
    ):
        assert "pcp" in rules[rule_id].recipients, rule_id
    assert ("care_manager",) == rules["engage-lost-to-follow-up"].recipients


def test_the_example_patient_alerts_name_their_recipients_in_json() -> None:
    """The JSON an alert is written as carries its recipients (``cocm-rules evaluate``)."""
    episode = json.loads((ROOT / "examples" / "episode_phq9_not_improving.json").read_text(encoding="utf-8"))
    alerts = {a.rule_id: a for a in Engine.load().evaluate(episode, AS_OF)}
    dumped = json.loads(alerts["t2t-phq9-not-improving"].model_dump_json())
    assert ["psychiatric_consultant", "care_manager", "pcp"] == dumped["recipients"]

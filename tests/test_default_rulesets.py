"""The bundled default rulesets: every rule tested both ways, every number sourced, every
embedded test passing on both backends."""

from __future__ import annotations

import pytest

from cocm_rules import load_rulesets, run_tests
from cocm_rules.rules.language import CATEGORIES

RULESETS = load_rulesets()
RULES = [(rs, rule) for rs in RULESETS.rulesets for rule in rs.rules]


def test_the_default_set() -> None:
    """Thirteen rulesets (with the adolescent, co-morbidity and SMI medical ones), each rule a
    different id, using every alert category."""
    assert 13 == len(RULESETS.rulesets)
    ids = [rule.rule_id for _, rule in RULES]
    assert len(ids) == len(set(ids))
    assert set(CATEGORIES) == {rule.category for _, rule in RULES}


@pytest.mark.parametrize(("rs", "rule"), RULES, ids=[rule.rule_id for _, rule in RULES])
def test_every_rule_fires_on_a_case_and_misses_a_near_miss(rs: object, rule: object) -> None:
    """Each rule has an embedded case where it fires, and a case that sets at least one of its
    facts (or is an episode) where it does not."""
    fires = [t for t in rs.tests if rule.rule_id in t.expect]
    near = [
        t
        for t in rs.tests
        if rule.rule_id not in t.expect and (t.episode is not None or set(rule.facts) & set(t.facts or {}))
    ]
    assert fires, f"no test where {rule.rule_id} fires"
    assert near, f"no near-miss test for {rule.rule_id}"


def test_every_embedded_case_passes(each_backend: str) -> None:
    """All embedded cases of the bundled rulesets pass on both backends."""
    results = run_tests(RULESETS, backend=each_backend)
    assert len(results) >= 100
    assert [] == [(r.ruleset, r.name, r.missing, r.unexpected, r.error) for r in results if not r.passed]


def test_every_parameter_and_rule_is_sourced() -> None:
    """Every parameter has a source and a status; every rule has a source."""
    for rs in RULESETS.rulesets:
        for name, p in rs.parameters.items():
            assert p.source.strip(), (rs.name, name)
            assert p.status in ("confirmed", "secondary", "unconfirmed", "team_choice"), (rs.name, name)
    assert all(rule.source.strip() for _, rule in RULES)


def test_unconfirmed_numbers_say_so_in_the_message() -> None:
    """Rules that use a secondary or unconfirmed parameter say so in their message, so nothing
    unconfirmed reads as validated (GAD-7 response/remission, CoCM minimum minutes)."""
    for rs, rule in RULES:
        weak = [n for n in rule.parameters if rs.parameters[n].status in ("secondary", "unconfirmed")]
        if weak:
            text = "".join(p.text for p in rule.message).lower()
            assert "unconfirmed" in text or "secondary" in text, (rule.rule_id, weak)


def test_suicide_rules_are_the_most_urgent() -> None:
    """Every suicide_risk rule outranks every other rule, so the review list starts with them."""
    suicide = [rule.priority for _, rule in RULES if rule.category == "suicide_risk"]
    others = [rule.priority for _, rule in RULES if rule.category != "suicide_risk"]
    assert min(suicide) > max(others)

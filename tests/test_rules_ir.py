"""The IR: negation normal form under the IR's meaning, facts_of, and the program digest."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from cocm_rules.rules import load_rulesets
from cocm_rules.rules.compiled import compile_node
from cocm_rules.rules.ir import (
    And,
    Cmp,
    In,
    MessagePart,
    Missing,
    Node,
    Not,
    Or,
    Present,
    ProgramIR,
    RuleIR,
    facts_of,
    nnf,
)

T2T = Path(__file__).parent / "fixtures" / "rulesets_ok" / "treat_to_target.yaml"


# -- nnf by hand ----------------------------------------------------------------------------------


def test_nnf_leaves_a_positive_condition_alone() -> None:
    """Without a Not, nnf returns the same tree."""
    node = And((Cmp("x", ">", 3), Or((Missing("y"), In("z", ("a", "b"))))))
    assert node == nnf(node)


def test_nnf_not_greater_than() -> None:
    """``not (x > 3)`` is ``x is missing or x <= 3`` (a missing x makes ``x > 3`` false)."""
    assert Or((Missing("x"), Cmp("x", "<=", 3))) == nnf(Not(Cmp("x", ">", 3)))


@pytest.mark.parametrize(
    ("op", "negated"), [("<", ">="), ("<=", ">"), (">", "<="), (">=", "<"), ("==", "!="), ("!=", "==")]
)
def test_nnf_negates_each_operator(op: str, negated: str) -> None:
    """Each comparison operator flips to its complement, with "or missing"."""
    assert Or((Missing("x"), Cmp("x", negated, 1))) == nnf(Not(Cmp("x", op, 1)))


def test_nnf_missing_and_present_swap() -> None:
    """``not missing`` is present and ``not present`` is missing."""
    assert (Present("x"), Missing("x")) == (nnf(Not(Missing("x"))), nnf(Not(Present("x"))))


def test_nnf_double_negation() -> None:
    """``not not c`` is ``c``."""
    assert Cmp("x", ">", 3) == nnf(Not(Not(Cmp("x", ">", 3))))


def test_nnf_de_morgan_and() -> None:
    """``not (a and b)`` is ``(not a) or (not b)``, each pushed to the leaves."""
    expected = Or((Or((Missing("a"), Cmp("a", "<", 1))), Missing("b")))
    assert expected == nnf(Not(And((Cmp("a", ">=", 1), Present("b")))))


def test_nnf_de_morgan_or() -> None:
    """``not (a or b)`` is ``(not a) and (not b)``."""
    expected = And((Or((Missing("a"), Cmp("a", "!=", True))), Present("b")))
    assert expected == nnf(Not(Or((Cmp("a", "==", True), Missing("b")))))


def test_nnf_not_in() -> None:
    """``not (s in [a, b])`` is ``s is missing or (s != a and s != b)``."""
    expected = Or((Missing("s"), And((Cmp("s", "!=", "a"), Cmp("s", "!=", "b")))))
    assert expected == nnf(Not(In("s", ("a", "b"))))


def test_nnf_nested_negations() -> None:
    """A Not inside a negated And is flipped back: ``not (a and not b)`` is ``not a or b``."""
    expected = Or((Missing("a"), Cmp("b", ">", 2)))
    assert expected == nnf(Not(And((Present("a"), Not(Cmp("b", ">", 2))))))


def _has_not(node: Node) -> bool:
    if isinstance(node, Not):
        return True
    if isinstance(node, And | Or):
        return any(_has_not(x) for x in node.items)
    return False


def test_nnf_keeps_the_meaning() -> None:
    """On every combination of missing and present values, nnf(c) decides like c (and has no Not)."""
    cond = Not(
        And(
            (
                Or((Cmp("x", ">", 3), Not(In("s", ("a", "b"))))),
                Not(Missing("y")),
                Not(Or((Cmp("y", "==", True), Present("x")))),
            )
        )
    )
    flat = nnf(cond)
    assert not _has_not(flat)
    original, pushed = compile_node(cond), compile_node(flat)
    for x in (None, 2, 3, 4):
        for s in (None, "a", "c"):
            for y in (None, True, False):
                facts = {"x": x, "s": s, "y": y}
                assert original(facts) == pushed(facts), facts


# -- facts_of ---------------------------------------------------------------------------------


def test_facts_of_first_use_order_without_duplicates() -> None:
    """Facts are listed once each, in the order the condition first reads them."""
    node = Or(
        (
            And((Cmp("b", ">", 1), Missing("a"))),
            Not(In("c", ("x",))),
            Present("b"),
            Cmp("a", "<", 2),
            Cmp("d", "==", True),
        )
    )
    assert ["b", "a", "c", "d"] == facts_of(node)


def test_facts_of_a_leaf() -> None:
    """A single comparison reads one fact."""
    assert ["phq9.latest"] == facts_of(Cmp("phq9.latest", ">=", 10))


# -- ProgramIR --------------------------------------------------------------------------------


def _rule(rule_id: str, condition: Node, **kw: Any) -> RuleIR:
    fields: dict[str, Any] = {
        "rule_id": rule_id,
        "ruleset": "ir-test",
        "ruleset_version": "1",
        "title": rule_id,
        "category": "engagement",
        "severity": "low",
        "priority": 10,
        "action": "review",
        "action_text": None,
        "source": "test",
        "message": (),
        "condition": condition,
        "facts": tuple(facts_of(condition)),
    }
    fields.update(kw)
    return RuleIR(**fields)


def test_digest_is_stable_across_two_loads() -> None:
    """Loading the same files twice gives the same digest."""
    assert load_rulesets(T2T).program.digest == load_rulesets(T2T).program.digest


def test_digest_is_a_sha256_hex() -> None:
    """The digest is 64 hex digits."""
    digest = load_rulesets(T2T).program.digest
    assert 64 == len(digest)
    assert set(digest) <= set("0123456789abcdef")


def test_digest_changes_when_a_threshold_changes() -> None:
    """Changing one threshold in the file changes the digest."""
    text = T2T.read_text(encoding="utf-8")
    changed = text.replace("when: phq9.latest between 10 and 14", "when: phq9.latest between 10 and 15")
    assert changed != text
    assert load_rulesets(text=text).program.digest != load_rulesets(text=changed).program.digest


def test_digest_changes_when_a_parameter_changes() -> None:
    """Changing a parameter's value changes the digest (the IR holds the substituted value)."""
    text = T2T.read_text(encoding="utf-8")
    changed = text.replace("    value: 10\n    unit: weeks", "    value: 12\n    unit: weeks")
    assert changed != text
    assert load_rulesets(text=text).program.digest != load_rulesets(text=changed).program.digest


def test_digest_ignores_where_the_ruleset_came_from() -> None:
    """The same rules read from a file or from text have the same digest."""
    assert load_rulesets(T2T).program.digest == load_rulesets(text=T2T.read_text(encoding="utf-8")).program.digest


def test_digest_handles_dates_and_differs_by_value() -> None:
    """Programs with date literals hash, and a different date gives a different digest."""
    a = ProgramIR((_rule("r", Cmp("phq9.latest_date", ">=", dt.date(2026, 1, 1))),))
    b = ProgramIR((_rule("r", Cmp("phq9.latest_date", ">=", dt.date(2026, 1, 2))),))
    assert a.digest != b.digest
    assert a.digest == ProgramIR((_rule("r", Cmp("phq9.latest_date", ">=", dt.date(2026, 1, 1))),)).digest


def test_digest_distinguishes_int_from_bool_and_text() -> None:
    """``== 1``, ``== true`` and ``== "1"`` are different programs."""
    digests = {ProgramIR((_rule("r", Cmp("x", "==", v)),)).digest for v in (1, True, "1")}
    assert 3 == len(digests)


def test_program_facts_needed_is_sorted_and_excludes_parameters() -> None:
    """facts_needed unions condition and message facts, sorted; parameter placeholders are left out."""
    rule = _rule(
        "r",
        Cmp("weeks_in_treatment", ">=", 10),
        message=(MessagePart(name="phq9.latest"), MessagePart(text=" "), MessagePart(name="limit", is_param=True)),
    )
    assert ("phq9.latest", "weeks_in_treatment") == ProgramIR((rule,)).facts_needed

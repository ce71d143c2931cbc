"""Both backends give one meaning: compiled closures, durable-rules and a reference evaluator
written here from the IR's documented semantics agree on generated rules and facts."""

from __future__ import annotations

import datetime as dt
import operator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cocm_rules.rules import _durable
from cocm_rules.rules.compiled import CompiledBackend
from cocm_rules.rules.ir import And, Cmp, In, Missing, Not, Or, Present, ProgramIR, RuleIR, nnf

pytestmark = pytest.mark.skipif(not _durable.available(), reason="durable-rules does not import here")


# A small fact vocabulary covering every type, with the values the catalog can produce.
# Values are drawn mostly from small shared pools, so facts often equal the literals they are
# compared with: that is where < and <=, or == and !=, differ.
def _pooled(pool: list[Any], wide: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(pool), st.sampled_from(pool), wide)


NUMBER_FACTS = {
    "phq9.latest": _pooled([0, 4, 5, 9, 10, 27], st.integers(0, 27)),
    "phq9.pct_reduction": _pooled(
        [-0.5, 0.0, 0.25, 0.4999, 0.5, 0.5001, 1.0], st.integers(-20000, 10000).map(lambda n: n / 10000)
    ),
    "weeks_in_treatment": _pooled([0, 10, 12], st.integers(0, 80)),
    "phq9.change": _pooled([-5, 0, 5], st.integers(-27, 27)),
}
BOOL_FACTS = ("phq9.response", "has_relapse_prevention_plan", "safety_item_missing")
TEXT_FACTS = {
    "status": ("active_treatment", "relapse_prevention_plan", "discharged", "inactive"),
    "cssrs_screener.level": ("none", "low", "moderate", "high"),
}
DATE_FACTS = ("phq9.latest_date", "initial_assessment_date")
ALL_FACTS = (*NUMBER_FACTS, *BOOL_FACTS, *TEXT_FACTS, *DATE_FACTS)
DATES = _pooled(
    [dt.date(2025, 12, 31), dt.date(2026, 1, 1), dt.date(2026, 1, 2)],
    st.dates(dt.date(2025, 1, 1), dt.date(2027, 12, 31)),
)
OPS = ("<", "<=", ">", ">=", "==", "!=")


def _value_for(fact: str) -> st.SearchStrategy[Any]:
    if fact in NUMBER_FACTS:
        return NUMBER_FACTS[fact]
    if fact in BOOL_FACTS:
        return st.booleans()
    if fact in TEXT_FACTS:
        return st.sampled_from(TEXT_FACTS[fact])
    return DATES


@st.composite
def leaves(draw: st.DrawFn) -> Any:
    fact = draw(st.sampled_from(ALL_FACTS))
    kind = draw(st.sampled_from(("cmp", "cmp", "cmp", "in", "missing", "present")))
    if kind == "missing":
        return Missing(fact)
    if kind == "present":
        return Present(fact)
    if kind == "in" and fact not in BOOL_FACTS:
        return In(fact, tuple(draw(st.lists(_value_for(fact), min_size=1, max_size=3, unique=True))))
    ops = ("==", "!=") if fact in BOOL_FACTS or fact in TEXT_FACTS else OPS
    return Cmp(fact, draw(st.sampled_from(ops)), draw(_value_for(fact)))


conditions = st.recursive(
    leaves(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: And(tuple(xs))),
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: Or(tuple(xs))),
        inner.map(Not),
    ),
    max_leaves=6,
)


@st.composite
def fact_sets(draw: st.DrawFn) -> dict[str, Any]:
    return {f: draw(st.one_of(st.none(), _value_for(f))) for f in ALL_FACTS}


def _rule(i: int, cond: Any) -> RuleIR:
    return RuleIR(
        rule_id=f"r{i}",
        ruleset="generated",
        ruleset_version="1",
        title="generated",
        category="treatment_to_target",
        severity="info",
        priority=i,
        action="none",
        action_text=None,
        source="property test",
        message=(),
        condition=cond,
        facts=(),
    )


_PY_OPS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def reference(node: Any, facts: dict[str, Any]) -> bool:
    """The IR's meaning, written independently of both backends."""
    if isinstance(node, And):
        return all(reference(x, facts) for x in node.items)
    if isinstance(node, Or):
        return any(reference(x, facts) for x in node.items)
    if isinstance(node, Not):
        return not reference(node.item, facts)
    value = facts.get(node.fact)
    if isinstance(node, Missing):
        return value is None
    if isinstance(node, Present):
        return value is not None
    if value is None:
        return False  # a comparison with a missing fact is false, != included
    if isinstance(node, In):
        return value in node.values
    return _PY_OPS[node.op](value, node.value)


def _program(conds: list[Any]) -> ProgramIR:
    rules = [_rule(i, c) for i, c in enumerate(conds)]
    # facts_needed is read from the rules' declared facts; declare every fact so both backends see them.
    return ProgramIR(tuple(r.__class__(**{**r.__dict__, "facts": ALL_FACTS}) for r in rules))


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(conds=st.lists(conditions, min_size=1, max_size=6), cases=st.lists(fact_sets(), min_size=1, max_size=8))
@example(  # a comparison with a missing fact is false, even !=, and `not` makes it true
    conds=[Cmp("phq9.latest", "!=", 3), Not(Cmp("phq9.latest", ">", 3)), In("status", ("inactive",))],
    cases=[dict.fromkeys(ALL_FACTS)],
)
@example(  # equality separates <= from < and >= from >
    conds=[Cmp("phq9.latest", "<=", 10), Cmp("phq9.latest", ">=", 10), Cmp("phq9.latest", "<", 10)],
    cases=[{**dict.fromkeys(ALL_FACTS), "phq9.latest": 10}],
)
@example(  # fractions at four decimals and dates compare exactly in both engines
    conds=[Cmp("phq9.pct_reduction", ">=", 0.5), Cmp("phq9.latest_date", "<", dt.date(2026, 1, 1))],
    cases=[{**dict.fromkeys(ALL_FACTS), "phq9.pct_reduction": 0.4999, "phq9.latest_date": dt.date(2025, 12, 31)}],
)
def test_compiled_durable_and_reference_agree(conds: list[Any], cases: list[dict[str, Any]]) -> None:
    """Every generated program fires the same rules on every generated fact set, in all three."""
    program = _program(conds)
    compiled = CompiledBackend(program)
    durable = _durable.DurableBackend(program)
    for facts in cases:
        expected = [r.rule_id for r in program.rules if reference(r.condition, facts)]
        assert expected == [r.rule_id for r in compiled.matches(facts)]
        assert expected == [r.rule_id for r in durable.matches(facts)]


@settings(max_examples=150, deadline=None)
@given(cond=conditions, facts=fact_sets())
def test_nnf_keeps_the_meaning(cond: Any, facts: dict[str, Any]) -> None:
    """Negation normal form (what durable-rules receives) means the same as the original."""
    assert reference(cond, facts) == reference(nnf(cond), facts)


def _no_not(node: Any) -> bool:
    if isinstance(node, Not):
        return False
    if isinstance(node, And | Or):
        return all(_no_not(x) for x in node.items)
    return True


@settings(max_examples=100, deadline=None)
@given(cond=conditions)
def test_nnf_removes_every_not(cond: Any) -> None:
    """No negation is left for an engine without one."""
    assert _no_not(nnf(cond))

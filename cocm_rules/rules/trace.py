"""A tracing evaluation of a rule's condition: every comparison with the fact's value, the
threshold (and the parameter it came from) and its result, and every all/any/not with its own.

The trace gives the IR's one meaning (see :mod:`cocm_rules.rules.ir`), step by step and without
short-cuts: every part of the condition is evaluated, so a rule that did not fire shows each
reason it did not (a comparison with a missing fact is false, ``!=`` included). The backends
never call this; :meth:`cocm_rules.Engine.explain` and the embedded tests' coverage do.

>>> from cocm_rules.rules.ir import And, Cmp, Missing
>>> step = trace(And((Cmp("phq9.latest", ">=", 10, "t"), Missing("phq9.item9_latest"))),
...              {"phq9.latest": 12, "phq9.item9_latest": 0})
>>> step.result, [s.result for s in step.items]
(False, [True, False])
>>> print(step.items[0].text)
phq9.latest >= 10 (parameter t): phq9.latest is 12, so true
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .ir import And, Cmp, In, Missing, Node, Not, Or, Present, RuleIR

__all__ = ["Explanation", "Step", "condition_text", "explain_rule", "node_text", "steps", "trace"]

Kind = Literal["compare", "in", "missing", "present", "all", "any", "not"]

_OPS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


class Step(BaseModel):
    """One part of a condition as evaluated on one patient's facts.

    A comparison (``compare``, ``in``) or presence test (``missing``, ``present``) names its
    ``fact``, the fact's ``value`` (None when the fact is missing: ``fact_missing``), the
    operator, the ``threshold`` (a list for ``in``) and, when the threshold is a ruleset
    parameter, the ``parameter``'s name. ``all``, ``any`` and ``not`` hold their parts in
    ``items``. ``path`` locates the part in the condition (``0.2`` is the third part of the
    first part); ``text`` says it all in one line.
    """

    model_config = ConfigDict(frozen=True)

    kind: Kind
    path: str = Field(description="position in the condition: '' for the whole, '0.2' for the third part of the first")
    result: bool
    text: str
    fact: str | None = None
    value: Any = None
    fact_missing: bool = False
    op: str | None = None
    threshold: Any = None
    parameter: str | None = None
    items: tuple[Step, ...] = ()

    def lines(self, indent: int = 0) -> Iterator[str]:
        """The trace as indented lines, one per part (the parts of all/any/not below it)."""
        yield "  " * indent + self.text
        for item in self.items:
            yield from item.lines(indent + 1)


def _shown(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


def node_text(node: Node, *, names: bool = False) -> str:
    """One part of a condition as the ruleset language writes it (``all of 3 parts`` for a
    group); with ``names``, a threshold taken from a parameter is written as its name."""
    if isinstance(node, Cmp):
        return f"{node.fact} {node.op} {node.param if names and node.param else _shown(node.value)}"
    if isinstance(node, In):
        return f"{node.fact} in [{', '.join(_shown(v) for v in node.values)}]"
    if isinstance(node, Missing):
        return f"{node.fact} is missing"
    if isinstance(node, Present):
        return f"{node.fact} is present"
    if isinstance(node, Not):
        return "not"
    word = "all" if isinstance(node, And) else "any"
    return f"{word} of {len(node.items)} parts"


def condition_text(node: Node, *, names: bool = False) -> str:
    """A whole condition in one line (``all``/``any`` written out with ``and``/``or``); with
    ``names``, thresholds taken from parameters are written as the parameters' names."""
    if isinstance(node, Not):
        return f"not ({condition_text(node.item, names=names)})"
    if isinstance(node, And | Or):
        joiner = " and " if isinstance(node, And) else " or "
        return joiner.join(
            f"({condition_text(x, names=names)})"
            if isinstance(x, And | Or) and len(x.items) > 1
            else condition_text(x, names=names)
            for x in node.items
        )
    return node_text(node, names=names)


def steps(node: Node, path: str = "") -> Iterator[tuple[str, Node]]:
    """Every part of a condition with its path, the whole first (the paths :class:`Step` uses)."""
    yield path, node
    children = node.items if isinstance(node, And | Or) else (node.item,) if isinstance(node, Not) else ()
    for i, child in enumerate(children):
        yield from steps(child, f"{path}.{i}" if path else str(i))


def trace(node: Node, facts: Mapping[str, Any], path: str = "") -> Step:
    """Evaluate ``node`` on ``facts`` (read by subscript; a missing fact is None), every part of
    it, and say how each part came out (``path`` is the part's position, '' for the whole)."""
    if isinstance(node, And | Or | Not):
        children = node.items if isinstance(node, And | Or) else (node.item,)
        items = tuple(trace(c, facts, f"{path}.{i}" if path else str(i)) for i, c in enumerate(children))
        if isinstance(node, Not):
            result = not items[0].result
            kind: Kind = "not"
        else:
            result = all(i.result for i in items) if isinstance(node, And) else any(i.result for i in items)
            kind = "all" if isinstance(node, And) else "any"
        held = sum(i.result for i in items)
        text = (
            f"not: the part below is {_shown(items[0].result)}, so {_shown(result)}"
            if kind == "not"
            else f"{kind} of {len(items)} parts ({held} true): {_shown(result)}"
        )
        return Step(kind=kind, path=path, result=result, text=text, items=items)
    value = facts[node.fact]
    missing = value is None
    if isinstance(node, Missing | Present):
        result = missing if isinstance(node, Missing) else not missing
        shown = "missing" if missing else f"present ({_shown(value)})"
        kind = "missing" if isinstance(node, Missing) else "present"
        text = f"{node_text(node)}: {node.fact} is {shown}, so {_shown(result)}"
        return Step(kind=kind, path=path, result=result, text=text, fact=node.fact, value=value, fact_missing=missing)
    if isinstance(node, In):
        result = not missing and value in node.values
        op, threshold, label = "in", list(node.values), ""
    else:
        result = not missing and _OPS[node.op](value, node.value)
        op, threshold = node.op, node.value
        label = f" (parameter {node.param})" if node.param else ""
    if missing:
        because = f"{node.fact} is missing (a comparison with a missing fact is false)"
    else:
        because = f"{node.fact} is {_shown(value)}, so {_shown(result)}"
    return Step(
        kind="in" if isinstance(node, In) else "compare",
        path=path,
        result=result,
        text=f"{node_text(node)}{label}: {because}",
        fact=node.fact,
        value=value,
        fact_missing=missing,
        op=op,
        threshold=threshold,
        parameter=node.param if isinstance(node, Cmp) else None,
    )


class Explanation(BaseModel):
    """Why one rule did or did not fire for one patient as of a date: the rule, whether it
    fired, the trace of its condition, the facts it reads that are missing, and the values of
    the parameters it uses (by name)."""

    model_config = ConfigDict(frozen=True)

    rule_id: str
    ruleset: str
    ruleset_version: str
    title: str
    patient_id: str | None
    as_of: dt.date
    fired: bool
    condition_text: str = Field(description="the condition in one line, parameters substituted")
    condition: Step
    facts: dict[str, Any] = Field(description="every fact the condition reads, with its value (null: missing)")
    missing_facts: list[str] = Field(description="facts the condition reads that are missing for this patient")
    parameters: dict[str, Any] = Field(description="the ruleset parameters the rule uses, with their values")

    def lines(self) -> list[str]:
        """The explanation as plain lines of text (what ``cocm-rules explain`` prints)."""
        who = f"patient {self.patient_id}" if self.patient_id else "these facts"
        verdict = "fires" if self.fired else "does not fire"
        out = [
            f"rule {self.rule_id} ({self.ruleset} {self.ruleset_version}): {self.title}",
            f"{verdict} for {who} as of {self.as_of.isoformat()}",
            f"condition: {self.condition_text}",
        ]
        out.extend(self.condition.lines(1))
        if self.parameters:
            out.append("parameters: " + ", ".join(f"{k} = {_shown(v)}" for k, v in self.parameters.items()))
        if self.missing_facts:
            out.append("missing facts: " + ", ".join(self.missing_facts))
        return out


def explain_rule(rule: RuleIR, facts: Mapping[str, Any], as_of: dt.date, patient_id: str | None = None) -> Explanation:
    """The :class:`Explanation` of ``rule`` on ``facts`` (read by subscript; None is missing)."""
    step = trace(rule.condition, facts)
    values = {name: facts[name] for name in rule.facts}
    return Explanation(
        rule_id=rule.rule_id,
        ruleset=rule.ruleset,
        ruleset_version=rule.ruleset_version,
        title=rule.title,
        patient_id=patient_id,
        as_of=as_of,
        fired=step.result,
        condition_text=condition_text(rule.condition),
        condition=step,
        facts=values,
        missing_facts=[name for name, v in values.items() if v is None],
        parameters=dict(rule.parameters),
    )

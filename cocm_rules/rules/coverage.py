"""Coverage of the embedded test cases (``cocm-rules test --coverage``): which rules have a case
that fires them and a near miss, and which parts of each condition the cases drive both ways.

Each rule is traced (:func:`~cocm_rules.rules.trace.trace`) on the facts of every test case of
its own ruleset. For a rule:

* a **firing case** is one where its condition holds;
* a **near miss** is one where its condition does not hold, but would if one comparison on
  a fact the case has came out the other way: the case is one threshold away from firing the
  rule (a case where the rule is silent only because its facts are missing tests nothing of
  its thresholds). A test for presence counts too: for a fail-closed rule ("the safety answer
  is missing"), the answer being present *is* the near miss. Facts the case lacks stay
  missing (a comparison with one stays false), except that a presence test on one may go
  either way: such a fact carries no threshold and comes with the facts it accompanies
  (``set_aside_count >= 1 and set_aside_reasons is present``: a count of 0 is the near miss);
* each **branch** is one part of the condition (a comparison, or an all/any/not) with one
  outcome, true or false; a branch is covered when some case gives the part that outcome.

A ruleset set is *complete* when every rule has a firing case and a near miss; the bundled sets
must be. Branch coverage is reported as a share and is not required to be 100%: a part can be
impossible to drive false on its own (``weeks_in_treatment >= 10`` where another part already
requires ``>= 12``), and the embedded cases are examples for clinical leads, not a truth table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInput
from .evaluator import Evaluator
from .testing import FACTS_AS_OF
from .trace import Step, condition_text, steps, trace

__all__ = ["Branch", "Coverage", "RuleCoverage", "coverage"]


@dataclass(frozen=True)
class Branch:
    """One part of a rule's condition: its ``path``, its ``text``, and whether some case made it
    true and some case made it false."""

    path: str
    text: str
    seen_true: bool
    seen_false: bool


@dataclass(frozen=True)
class RuleCoverage:
    """What the embedded cases of a rule's ruleset exercise of the rule."""

    rule_id: str
    ruleset: str
    location: str
    firing: tuple[str, ...]
    near_misses: tuple[str, ...]
    branches: tuple[Branch, ...]

    @property
    def complete(self) -> bool:
        """The rule has a firing case and a near miss."""
        return bool(self.firing and self.near_misses)

    @property
    def branches_covered(self) -> int:
        """Branch outcomes (part, true/false) some case gives."""
        return sum(b.seen_true + b.seen_false for b in self.branches)

    @property
    def branches_total(self) -> int:
        """Branch outcomes there are: two per part of the condition."""
        return 2 * len(self.branches)

    @property
    def gaps(self) -> tuple[str, ...]:
        """What is missing, in words: "no firing case", "no near miss"."""
        return tuple(
            text for text, ok in (("no firing case", self.firing), ("no near miss", self.near_misses)) if not ok
        )


@dataclass(frozen=True)
class Coverage:
    """Coverage of every rule of a set by its rulesets' embedded cases, in program order.
    ``errors`` lists cases that could not be evaluated (``(ruleset, case, reason)``)."""

    rules: tuple[RuleCoverage, ...]
    errors: tuple[tuple[str, str, str], ...] = ()

    @property
    def complete(self) -> bool:
        """Every rule has a firing case and a near miss, and every case could be evaluated."""
        return not self.errors and all(r.complete for r in self.rules)

    @property
    def incomplete(self) -> tuple[RuleCoverage, ...]:
        """The rules without a firing case or a near miss."""
        return tuple(r for r in self.rules if not r.complete)

    @property
    def branch_share(self) -> float:
        """Branch outcomes covered over branch outcomes there are (1.0 for no rules)."""
        total = sum(r.branches_total for r in self.rules)
        return sum(r.branches_covered for r in self.rules) / total if total else 1.0


def _outcomes_with(step: Step, path: str) -> set[bool]:
    """The outcomes the traced condition can have with the part at ``path`` giving the other
    outcome, and each presence test on a fact the case lacks free to give either."""
    if step.path == path:
        return {not step.result}
    if not step.items:
        free = step.kind in ("missing", "present") and step.fact_missing
        return {True, False} if free else {step.result}
    parts = [_outcomes_with(item, path) for item in step.items]
    if step.kind == "not":
        return {not r for r in parts[0]}
    if step.kind == "all":
        return {r for r in (True, False) if (all(r in p for p in parts) if r else any(False in p for p in parts))}
    return {r for r in (True, False) if (any(True in p for p in parts) if r else all(False in p for p in parts))}


def _near_miss(step: Step) -> bool:
    """The condition does not hold, and one comparison (or presence test) on a fact the case
    has, given the other outcome, would make it hold."""
    if step.result:
        return False
    return any(True in _outcomes_with(step, leaf.path) for leaf in _leaves(step) if not leaf.fact_missing)


def _leaves(step: Step) -> list[Step]:
    if not step.items:
        return [step]
    return [leaf for item in step.items for leaf in _leaves(item)]


def _case_facts(engine: Evaluator, case: Any) -> tuple[Mapping[str, Any], dt.date]:
    """The facts a case gives the rules (every needed fact; None when missing), as run_cases builds them."""
    if case.episode is not None:
        as_of = case.as_of or FACTS_AS_OF
        return engine.facts(case.episode, as_of), as_of
    given = case.facts or {}
    return {n: given.get(n) for n in engine.needed}, FACTS_AS_OF


def _outcomes(step: Step, seen: dict[str, set[bool]]) -> None:
    seen.setdefault(step.path, set()).add(step.result)
    for item in step.items:
        _outcomes(item, seen)


def coverage(engine: Evaluator) -> Coverage:
    """Trace every rule on every embedded case of its ruleset and tally what the cases exercise."""
    out: list[RuleCoverage] = []
    errors: list[tuple[str, str, str]] = []
    for rs in engine.rulesets.rulesets:
        cases: list[tuple[str, Mapping[str, Any]]] = []
        for case in rs.tests:
            try:
                facts, _ = _case_facts(engine, case)
            except InvalidInput as e:
                errors.append((rs.name, case.name, str(e)))
                continue
            cases.append((case.name, facts))
        for i, rule in enumerate(rs.rules):
            firing: list[str] = []
            near: list[str] = []
            seen: dict[str, set[bool]] = {}
            for name, facts in cases:
                step = trace(rule.condition, facts)
                _outcomes(step, seen)
                if step.result:
                    firing.append(name)
                elif _near_miss(step):
                    near.append(name)
            branches = tuple(
                Branch(path, condition_text(node), True in seen.get(path, ()), False in seen.get(path, ()))
                for path, node in steps(rule.condition)
            )
            location = rs.where(("rules", i))
            out.append(RuleCoverage(rule.rule_id, rs.name, location, tuple(firing), tuple(near), branches))
    return Coverage(tuple(out), tuple(errors))

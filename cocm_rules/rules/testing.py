"""Run the test cases embedded in ruleset files (``cocm-rules test``).

Each case gives facts (facts not named are missing) or a whole episode with an ``as_of``
date, and the exact list of this ruleset's rules expected to fire. A failing case reports
which rules fired unexpectedly or failed to fire, and the facts those rules read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInput
from .evaluator import Evaluator

__all__ = ["CaseResult", "run_cases"]

#: as_of used for fact-based cases (facts are given, so the date only stamps the alerts).
FACTS_AS_OF = dt.date(2026, 1, 1)


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one embedded test case."""

    ruleset: str
    name: str
    location: str
    expected: tuple[str, ...]
    fired: tuple[str, ...]
    facts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def missing(self) -> tuple[str, ...]:
        """Rules expected to fire that did not."""
        return tuple(r for r in self.expected if r not in self.fired)

    @property
    def unexpected(self) -> tuple[str, ...]:
        """Rules that fired but were not expected."""
        return tuple(r for r in self.fired if r not in self.expected)

    @property
    def passed(self) -> bool:
        """True when exactly the expected rules fired."""
        return self.error is None and not self.missing and not self.unexpected


def run_cases(engine: Evaluator) -> list[CaseResult]:
    """Run every embedded test case of every ruleset the evaluator has loaded
    (:func:`cocm_rules.run_tests` loads them on a backend for you)."""
    rulesets = engine.rulesets
    by_rule = {r.rule_id: r for r in engine.program.rules}
    results: list[CaseResult] = []
    for rs in rulesets.rulesets:
        own = {r.rule_id for r in rs.rules}
        for i, case in enumerate(rs.tests):
            location = rs.where(("tests", i))
            try:
                if case.episode is not None:
                    as_of = case.as_of or FACTS_AS_OF
                    facts = engine.facts(case.episode, as_of)
                    alerts = engine.evaluate(case.episode, as_of)
                else:
                    facts = {n: (case.facts or {}).get(n) for n in engine.needed}
                    alerts = engine.evaluate_facts(case.facts or {}, FACTS_AS_OF)
            except InvalidInput as e:
                results.append(CaseResult(rs.name, case.name, location, tuple(case.expect), (), error=str(e)))
                continue
            fired = tuple(sorted({a.rule_id for a in alerts if a.rule_id in own}))
            expected = tuple(sorted(set(case.expect)))
            involved: dict[str, Any] = {}
            for rid in set(expected) ^ set(fired):
                rule = by_rule.get(rid)
                for name in rule.facts if rule else ():
                    involved[name] = facts.get(name)
            results.append(CaseResult(rs.name, case.name, location, expected, fired, involved))
    return results

"""Which rules cost most: per-rule evaluation time over a batch (``cocm-rules evaluate
--profile-rules``), measured outside the evaluation path, which it leaves untouched.

Each patient's facts are computed one by one, each timed; then each rule's condition is
evaluated on them alone, timed. A rule's cost is the time of its condition plus the time of
the facts it reads (a fact several rules read counts for each: it is what the rule would cost
on its own). In a real run facts are computed once, as the rules first read them, so the
costs of the rules overlap and do not add up to the batch's time. Times are from
``time.perf_counter`` and vary between runs: they rank rules, they do not decide anything.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .engine import Engine, check_as_of
from .facts import EpisodeView
from .records import RecordError, iter_records
from .rules.compiled import compile_node

__all__ = ["RuleTiming", "RulesProfile", "profile_rules"]


class RuleTiming(BaseModel):
    """One rule's evaluation time over a batch."""

    model_config = ConfigDict(frozen=True)

    rule_id: str
    ruleset: str
    condition_seconds: float = Field(description="time evaluating the condition (compiled), over the batch")
    facts_seconds: float = Field(description="time computing the facts the condition reads, over the batch")
    facts: list[str] = Field(description="the facts the condition reads")
    fired: int = Field(description="patients the rule fired for")

    @property
    def seconds(self) -> float:
        """The rule's cost on its own: its condition and the facts it reads."""
        return self.condition_seconds + self.facts_seconds


class RulesProfile(BaseModel):
    """Per-rule times over a batch, costliest first, and the slowest facts."""

    model_config = ConfigDict(frozen=True)

    as_of: dt.date
    patients: int
    records_with_errors: int
    rules: list[RuleTiming]
    facts_seconds: dict[str, float] = Field(description="time computing each fact over the batch, slowest first")


def profile_rules(engine: Engine, records: Iterable[Any], as_of: dt.date) -> RulesProfile:
    """Time each rule of ``engine`` over ``records`` as of ``as_of`` (see the module docstring).
    A record that cannot be evaluated is counted in ``records_with_errors``."""
    check_as_of(as_of)
    fns = engine.catalog.fns
    rules = [(rule, compile_node(rule.condition)) for rule in engine.program.rules]
    fact_time = dict.fromkeys(engine.needed, 0.0)
    rule_time = {rule.rule_id: 0.0 for rule, _ in rules}
    fired = dict.fromkeys(rule_time, 0)
    patients = errors = 0
    clock = time.perf_counter
    for _, _, item in iter_records(records, engine.library):
        if isinstance(item, RecordError):
            errors += 1
            continue
        patients += 1
        ctx = EpisodeView(item, as_of, engine.library)
        facts: dict[str, Any] = {}
        for name in engine.needed:
            start = clock()
            facts[name] = fns[name](ctx)
            fact_time[name] += clock() - start
        for rule, predicate in rules:
            start = clock()
            hit = predicate(facts)
            rule_time[rule.rule_id] += clock() - start
            fired[rule.rule_id] += hit
    timings = [
        RuleTiming(
            rule_id=rule.rule_id,
            ruleset=rule.ruleset,
            condition_seconds=rule_time[rule.rule_id],
            facts_seconds=sum(fact_time[name] for name in rule.facts),
            facts=list(rule.facts),
            fired=fired[rule.rule_id],
        )
        for rule, _ in rules
    ]
    timings.sort(key=lambda t: -t.seconds)
    slowest = dict(sorted(fact_time.items(), key=lambda kv: -kv[1]))
    return RulesProfile(
        as_of=as_of, patients=patients, records_with_errors=errors, rules=timings, facts_seconds=slowest
    )

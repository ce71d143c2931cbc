"""What a ruleset change would do to a caseload: alerts gained and lost per rule, and patients
whose place on the review list changes - the check a clinical lead runs before a change goes live.

Both sets of rules are evaluated on the same records, streamed: memory holds the per-rule
tallies, a few example patient ids per change, and the review-list rank key of each listed
patient (a small tuple; the ranks need the whole list). A rule is matched across the two sets
by its id: a rule only in the new set is ``added``, only in the old ``removed``; a rule whose
condition, parameters or alert (title, category, severity, priority, action, message,
recipients) differ is ``changed``. A patient "would newly alert" on a rule when the rule fires
for them with the new rules and not with the old, and "would stop alerting" the other way round.

>>> import datetime as dt
>>> from cocm_rules import Engine
>>> engine = Engine.load()
>>> result = diff_rulesets(engine, engine, [], dt.date(2026, 11, 20))
>>> result.patients_evaluated, result.changed_rules
(0, [])
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ._once import episodes_once
from .alerts import Alert
from .engine import Engine
from .errors import InvalidInput
from .records import RecordError
from .review import rank_key, review_reasons
from .rules.ir import RuleIR
from .rules.trace import condition_text

__all__ = ["EXAMPLES", "RankChange", "RuleChange", "RulesetDiff", "diff_rulesets"]

#: Example patient ids kept per change, by default.
EXAMPLES = 5

_ALERT_FIELDS = ("title", "category", "severity", "priority", "action", "action_text", "message", "recipients")


class RuleChange(BaseModel):
    """One rule across the two sets: how its definition changed and whom it would alert differently."""

    model_config = ConfigDict(frozen=True)

    rule_id: str
    ruleset: str
    title: str = Field(description="the rule's title in the new set (the old one for a removed rule)")
    status: Literal["added", "removed", "changed", "unchanged"]
    changes: list[str] = Field(default_factory=list, description="what changed in the definition, in words")
    old_alerts: int = Field(0, description="patients the old rules alert on this rule")
    new_alerts: int = Field(0, description="patients the new rules alert on this rule")
    gained: int = Field(0, description="patients who would newly alert")
    lost: int = Field(0, description="patients who would stop alerting")
    altered: int = Field(0, description="patients alerted by both whose alert differs (severity, priority, ...)")
    gained_examples: list[str] = Field(default_factory=list)
    lost_examples: list[str] = Field(default_factory=list)
    altered_examples: list[str] = Field(default_factory=list)

    @property
    def has_effect(self) -> bool:
        """The change alerts someone differently."""
        return bool(self.gained or self.lost or self.altered)


class RankChange(BaseModel):
    """A patient whose place on the review list changes (None: not on that list)."""

    model_config = ConfigDict(frozen=True)

    patient_id: str
    old_rank: int | None
    new_rank: int | None


class RulesetDiff(BaseModel):
    """The effect of replacing the old rules with the new on one caseload as of one date."""

    model_config = ConfigDict(frozen=True)

    as_of: dt.date
    old_rulesets: list[str] = Field(description="name@version of each old ruleset")
    new_rulesets: list[str] = Field(description="name@version of each new ruleset")
    patients_evaluated: int
    records_with_errors: int = Field(description="records neither set could evaluate (invalid or repeated)")
    rules: list[RuleChange] = Field(description="every rule of either set, in the new set's order, removed last")
    old_review: int = Field(description="patients on the review list with the old rules")
    new_review: int = Field(description="patients on the review list with the new rules")
    joined_review: int
    left_review: int
    moved_up: int
    moved_down: int
    joined_examples: list[RankChange] = Field(default_factory=list)
    left_examples: list[RankChange] = Field(default_factory=list)
    moved_examples: list[RankChange] = Field(default_factory=list, description="the largest moves first")

    @property
    def changed_rules(self) -> list[RuleChange]:
        """Rules whose definition changed or that alert someone differently."""
        return [r for r in self.rules if r.status != "unchanged" or r.has_effect]

    def html(self) -> str:
        """A self-contained HTML page of the diff, in plain words for a clinical lead."""
        from ._diff_html import render

        return render(self)


def _definition_changes(old: RuleIR, new: RuleIR) -> list[str]:
    """What differs between two versions of a rule, in words."""
    changes = []
    # Written with parameter names: a parameter's new value is reported once, below.
    before_text, after_text = condition_text(old.condition, names=True), condition_text(new.condition, names=True)
    if before_text != after_text:
        changes.append(f"condition: {before_text} -> {after_text}")
    for name in sorted(set(old.parameters) | set(new.parameters)):
        before, after = old.parameters.get(name), new.parameters.get(name)
        if before != after:
            changes.append(f"parameter {name}: {_word(before)} -> {_word(after)}")
    for name in _ALERT_FIELDS:
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            changes.append(name if name == "message" else f"{name}: {_word(before)} -> {_word(after)}")
    return changes


def _word(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _same(old: RuleIR, new: RuleIR) -> bool:
    return dataclasses.replace(old, ruleset_version="") == dataclasses.replace(new, ruleset_version="")


class _Tally:
    """Per-rule counts and the first few example patient ids of each change."""

    def __init__(self, examples: int) -> None:
        self.examples = examples
        self.counts: dict[tuple[str, str], int] = {}
        self.ids: dict[tuple[str, str], list[str]] = {}

    def add(self, rule_id: str, kind: str, patient_id: str) -> None:
        key = (rule_id, kind)
        self.counts[key] = self.counts.get(key, 0) + 1
        ids = self.ids.setdefault(key, [])
        if len(ids) < self.examples:
            ids.append(patient_id)


def _alert_differs(a: Alert, b: Alert) -> bool:
    return (a.category, a.severity, a.priority, a.action) != (b.category, b.severity, b.priority, b.action)


def diff_rulesets(
    old: Engine,
    new: Engine,
    records: Iterable[Any],
    as_of: dt.date,
    *,
    examples: int = EXAMPLES,
) -> RulesetDiff:
    """Evaluate ``records`` with the ``old`` and the ``new`` engine as of ``as_of`` and report,
    per rule, the patients who would newly alert and stop alerting, and the patients whose
    place on the review list changes (joins, leaves, moves), with up to ``examples`` example
    patient ids per change (the first met, in input order).

    Records are streamed; a record that cannot be evaluated (invalid, or a patient already
    seen) is counted in ``records_with_errors``, never dropped silently.
    """
    if isinstance(examples, bool) or not isinstance(examples, int) or examples < 0:
        raise InvalidInput("examples must be a whole number, 0 or more", field="examples", value=examples)
    tally = _Tally(examples)
    old_keys: dict[str, tuple[Any, ...]] = {}
    new_keys: dict[str, tuple[Any, ...]] = {}
    evaluated = errors = 0
    for _, _, item in episodes_once(records):
        if isinstance(item, RecordError):
            errors += 1
            continue
        evaluated += 1
        pid = item.patient_id
        before = {a.rule_id: a for a in old.evaluate(item, as_of)}
        after = {a.rule_id: a for a in new.evaluate(item, as_of)}
        for rid in before:
            tally.add(rid, "old", pid)
            if rid not in after:
                tally.add(rid, "lost", pid)
            elif _alert_differs(before[rid], after[rid]):
                tally.add(rid, "altered", pid)
        for rid in after:
            tally.add(rid, "new", pid)
            if rid not in before:
                tally.add(rid, "gained", pid)
        for alerts, keys in ((before, old_keys), (after, new_keys)):
            reasons = review_reasons(alerts.values())
            if reasons:
                keys[pid] = rank_key(reasons, pid)
    return RulesetDiff(
        as_of=as_of,
        old_rulesets=[f"{rs.name}@{rs.version}" for rs in old.rulesets.rulesets],
        new_rulesets=[f"{rs.name}@{rs.version}" for rs in new.rulesets.rulesets],
        patients_evaluated=evaluated,
        records_with_errors=errors,
        rules=_rule_changes(old, new, tally),
        old_review=len(old_keys),
        new_review=len(new_keys),
        **_rank_changes(old_keys, new_keys, examples),
    )


def _rule_changes(old: Engine, new: Engine, tally: _Tally) -> list[RuleChange]:
    before = {r.rule_id: r for r in old.program.rules}
    after = {r.rule_id: r for r in new.program.rules}
    out = []
    changes: list[str]
    for rid, rule in [*after.items(), *((k, v) for k, v in before.items() if k not in after)]:
        if rid not in before:
            status, changes = "added", []
        elif rid not in after:
            status, changes = "removed", []
        elif _same(before[rid], rule):
            status, changes = "unchanged", []
        else:
            status, changes = "changed", _definition_changes(before[rid], rule)
        counts = {kind: tally.counts.get((rid, kind), 0) for kind in ("old", "new", "gained", "lost", "altered")}
        out.append(
            RuleChange(
                rule_id=rid,
                ruleset=rule.ruleset,
                title=rule.title,
                status=status,
                changes=changes,
                old_alerts=counts["old"],
                new_alerts=counts["new"],
                gained=counts["gained"],
                lost=counts["lost"],
                altered=counts["altered"],
                gained_examples=tally.ids.get((rid, "gained"), []),
                lost_examples=tally.ids.get((rid, "lost"), []),
                altered_examples=tally.ids.get((rid, "altered"), []),
            )
        )
    return out


def _ranks(keys: dict[str, tuple[Any, ...]]) -> dict[str, int]:
    return {pid: i + 1 for i, pid in enumerate(sorted(keys, key=keys.__getitem__))}


def _rank_changes(old_keys: dict[str, tuple[Any, ...]], new_keys: dict[str, tuple[Any, ...]], n: int) -> dict[str, Any]:
    """Joined, left and moved patients of the review list (ranks as the review list gives them)."""
    old_rank, new_rank = _ranks(old_keys), _ranks(new_keys)
    joined = sorted((p for p in new_rank if p not in old_rank), key=new_rank.__getitem__)
    left = sorted((p for p in old_rank if p not in new_rank), key=old_rank.__getitem__)
    moved = [p for p in new_rank if p in old_rank and new_rank[p] != old_rank[p]]
    moved.sort(key=lambda p: (-abs(new_rank[p] - old_rank[p]), new_rank[p]))
    return {
        "joined_review": len(joined),
        "left_review": len(left),
        "moved_up": sum(new_rank[p] < old_rank[p] for p in moved),
        "moved_down": sum(new_rank[p] > old_rank[p] for p in moved),
        "joined_examples": [RankChange(patient_id=p, old_rank=None, new_rank=new_rank[p]) for p in joined[:n]],
        "left_examples": [RankChange(patient_id=p, old_rank=old_rank[p], new_rank=None) for p in left[:n]],
        "moved_examples": [RankChange(patient_id=p, old_rank=old_rank[p], new_rank=new_rank[p]) for p in moved[:n]],
    }

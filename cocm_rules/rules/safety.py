"""The safety floor: suicide-risk escalation cannot be edited away by accident.

Loading a set of rulesets runs these built-in cases through the whole pipeline (episode ->
facts -> rules, on the engine's own backend) for every program and registry status, and
refuses the set unless each raises an alert in the ``suicide_risk`` category, first in review
order and at severity high or critical. The cases are the ones the architecture names - PHQ-9
item 9 at or above 1 with any total; a C-SSRS screener at moderate or high risk; and safety
data that is missing or invalid, which must fail closed - plus the adolescent PHQ-A's item 9
and its two suicide questions.

A suicide rule could still be narrowed by some other fact the cases hold fixed (``and
phq9.count < 3``, ``and days_since_enrollment < 90``). So each case is also tried with every
other fact the suicide rules read set, one at a time, to each value that matters to those
rules: missing, every allowed value of a text or yes/no fact, and each number or date the rules
compare it with and its neighbours. Only the facts that carry the case's own signal (its
measure's flags, safety items and results, and the episode's suicide-risk and missing-safety
facts) and the program and status (all of which are tried anyway) are left as they are.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._log import get_logger
from ..episode import PROGRAMS, STATUSES
from ..errors import Problem, SafetyFloorError
from ..facts import DECIMALS, FactSpec
from ..measures import MeasureLibrary
from ..scoring import SAFETY_ITEM_MISSING
from .ir import Cmp, In, leaves

if TYPE_CHECKING:
    from ..engine import Engine
    from .ir import RuleIR

__all__ = ["SAFETY_CASES", "SafetyCase", "check_safety_floor", "safety_episode"]

log = get_logger(__name__)

#: A fixed date: the safety floor never depends on the wall clock.
AS_OF = dt.date(2026, 1, 15)


@dataclass(frozen=True)
class SafetyCase:
    """One built-in case: an administration that must raise a suicide_risk alert."""

    name: str
    measure: str
    answers: list[Any] | None = None
    total: int | None = None


SAFETY_CASES: tuple[SafetyCase, ...] = (
    SafetyCase("PHQ-9 item 9 = 1 with a total of 1", "phq9", [0, 0, 0, 0, 0, 0, 0, 0, 1]),
    SafetyCase("PHQ-9 item 9 = 2 with a total of 10", "phq9", [1, 1, 1, 1, 1, 1, 1, 1, 2]),
    SafetyCase("PHQ-9 item 9 = 3 with a total of 27", "phq9", [3, 3, 3, 3, 3, 3, 3, 3, 3]),
    SafetyCase("C-SSRS screener at moderate risk (method)", "cssrs_screener", [1, 1, 1, 0, 0, 0]),
    SafetyCase(
        "C-SSRS screener at moderate risk (behaviour more than 3 months ago)",
        "cssrs_screener",
        [0, 0, None, None, None, 1, 0],
    ),
    SafetyCase("C-SSRS screener at high risk (intent)", "cssrs_screener", [1, 1, 0, 1, 0, 0]),
    SafetyCase("C-SSRS screener at high risk (plan)", "cssrs_screener", [1, 1, 1, 0, 1, 0]),
    SafetyCase(
        "C-SSRS screener at high risk (behaviour in the past 3 months)",
        "cssrs_screener",
        [0, 0, None, None, None, 1, 1],
    ),
    SafetyCase("PHQ-A item 9 = 1 with a total of 1", "phqa", [0, 0, 0, 0, 0, 0, 0, 0, 1]),
    SafetyCase(
        "PHQ-A serious thoughts of ending one's life in the past month, item 9 = 0",
        "phqa",
        [0, 0, 0, 0, 0, 0, 0, 0, 0, None, None, 1],
    ),
    SafetyCase("PHQ-A lifetime suicide attempt, item 9 = 0", "phqa", [0, 0, 0, 0, 0, 0, 0, 0, 0, None, None, None, 1]),
    SafetyCase("PHQ-A with item 9 unanswered", "phqa", [0, 0, 0, 0, 0, 0, 0, 0, None]),
    SafetyCase("PHQ-9 with item 9 unanswered", "phq9", [0, 0, 0, 0, 0, 0, 0, 0, None]),
    SafetyCase("PHQ-9 with an invalid item 9 answer (7)", "phq9", [0, 0, 0, 0, 0, 0, 0, 0, 7]),
    SafetyCase("PHQ-9 reported as a total only (item 9 unknown)", "phq9", None, 3),
    SafetyCase(
        "C-SSRS screener with questions 3-5 unanswered after a yes to question 2",
        "cssrs_screener",
        [1, 1, None, None, None, 0],
    ),
    SafetyCase(
        "C-SSRS screener with question 6b unanswered after a yes to question 6",
        "cssrs_screener",
        [0, 0, None, None, None, 1],
    ),
)


def safety_episode(case: SafetyCase, program: str, status: str) -> dict[str, Any]:
    """The episode a case is evaluated on: eight weeks into care, seen every two weeks."""
    start = AS_OF - dt.timedelta(weeks=8)
    assessment: dict[str, Any] = {"measure": case.measure, "date": AS_OF.isoformat()}
    if case.answers is not None:
        assessment["answers"] = case.answers
    if case.total is not None:
        assessment["total"] = case.total
    return {
        "patient_id": "safety-floor",
        "program": program,
        "enrollment_date": start.isoformat(),
        "status": status,
        "assessments": [assessment],
        "contacts": [
            {"date": start.isoformat(), "kind": "initial_assessment", "minutes": 60},
            *(
                {"date": (start + dt.timedelta(weeks=w)).isoformat(), "kind": "follow_up", "minutes": 30}
                for w in (2, 4, 6)
            ),
        ],
    }


#: Severities a suicide_risk alert for a built-in case must have.
ESCALATED = ("high", "critical")
#: Episode facts that carry the safety signal of any case (left as the case makes them).
_SIGNAL_EPISODE_FACTS = frozenset(
    {"suicide_risk", "urgent_suicide_risk", SAFETY_ITEM_MISSING, "measures_latest_invalid", "program", "status"}
)


def check_safety_floor(engine: Engine) -> None:
    """Raise :class:`~cocm_rules.SafetyFloorError` unless every case raises a suicide_risk
    alert, first in review order and at severity high or critical, in every program and
    status, and whatever value any other fact the suicide rules read takes."""
    suicide_rules = [r for r in engine.program.rules if r.category == "suicide_risk"]
    values = _values_that_matter(suicide_rules, engine.catalog.specs)
    failures: dict[str, list[str]] = {}
    demoted: dict[str, list[str]] = {}
    cases = variations = 0
    for case in SAFETY_CASES:
        signal = _signal_facts(engine.library, case.measure)
        vary = [(name, vals) for name, vals in values.items() if name not in signal]
        for program in PROGRAMS:
            for status in STATUSES:
                where = f"{program}/{status}"
                episode = safety_episode(case, program, status)
                alerts = engine.evaluate(episode, AS_OF)
                cases += 1
                if not any(a.category == "suicide_risk" for a in alerts):
                    failures.setdefault(case.name, []).append(where)
                    continue
                first = alerts[0]
                if first.category != "suicide_risk" or first.severity not in ESCALATED:
                    demoted.setdefault(case.name, []).append(
                        f"{where}: first is {first.rule_id} ({first.category}, {first.severity}, "
                        f"priority {first.priority})"
                    )
                if not vary:
                    continue
                facts = engine.facts(episode, AS_OF)
                for name, vals in vary:
                    for value in vals:
                        if value == facts[name] and type(value) is type(facts[name]):
                            continue
                        variations += 1
                        changed = {**facts, name: value}
                        if not any(r.category == "suicide_risk" for r in engine.backend.matches(changed)):
                            label = f"{case.name}, with {name} {'missing' if value is None else f'= {value}'}"
                            failures.setdefault(label, []).append(where)
    if failures or demoted:
        files = ", ".join(
            rs.file for rs in engine.rulesets.rulesets if any(r.category == "suicide_risk" for r in rs.rules)
        )
        files = files or ", ".join(rs.file for rs in engine.rulesets.rulesets)
        problems = [
            Problem(f"no suicide_risk alert for: {name} (program/status: {', '.join(where)})", file=files)
            for name, where in failures.items()
        ]
        problems += [
            Problem(
                f"the suicide_risk alert is not first in review order at severity high or critical for: {name} "
                f"({'; '.join(where)})",
                file=files,
            )
            for name, where in demoted.items()
        ]
        log.error("engine.safety_floor_failed", cases=len(failures) + len(demoted))
        n = len(problems)
        raise SafetyFloorError(
            problems,
            summary=(
                f"{n} built-in safety case{'s' if n != 1 else ''} not escalated; the rulesets were refused. Every set "
                "must raise a suicide_risk alert, first in review order and at severity high or critical, for PHQ-9 "
                "item 9 >= 1, a C-SSRS screener at moderate or high risk, and missing or invalid safety answers, "
                "whatever the rest of the patient's record says (see rulesets/suicide_risk.yaml)."
            ),
        )
    log.info("engine.safety_floor_passed", cases=cases, variations=variations)


def _signal_facts(library: MeasureLibrary, measure: str) -> set[str]:
    """The facts that carry a case's own signal: its measure's flags, safety items, results and
    missing-safety fact, and the episode's suicide-risk and missing-safety facts."""
    out = set(_SIGNAL_EPISODE_FACTS)
    defn = library.get(measure)
    if defn is not None:
        names = [f.name for f in defn.flags] + [r.id for r in defn.results]
        names += [f"{i}_latest" for i in defn.safety_items] + [SAFETY_ITEM_MISSING, "band"]
        out.update(f"{measure}.{n}" for n in names)
    return out


def _values_that_matter(rules: list[RuleIR], specs: dict[str, FactSpec]) -> dict[str, list[Any]]:
    """For each fact the rules read: missing, and the values on either side of every literal
    the rules compare it with (all allowed values for text and yes/no facts)."""
    literals: dict[str, set[Any]] = {}
    for rule in rules:
        for leaf in leaves(rule.condition):
            seen = literals.setdefault(leaf.fact, set())
            if isinstance(leaf, Cmp):
                seen.add(leaf.value)
            elif isinstance(leaf, In):
                seen.update(leaf.values)
    out: dict[str, list[Any]] = {}
    for name in sorted(literals):
        spec = specs[name]
        vals: list[Any] = [None]
        if spec.type == "boolean":
            vals += [True, False]
        elif spec.type == "text":
            vals += sorted(set(spec.allowed or ()) | {v for v in literals[name] if isinstance(v, str)})
        else:
            vals += _around(spec, literals[name])
        out[name] = vals
    return out


def _around(spec: FactSpec, literals: set[Any]) -> list[Any]:
    """Each literal and its neighbours, within the fact's range (a fixed date if none)."""
    if spec.type == "date":
        days = dt.timedelta(days=1)
        points = {d + k * days for d in literals if isinstance(d, dt.date) for k in (-1, 0, 1)}
        return sorted(points or {AS_OF})
    step: Any = 1 if spec.type == "integer" else 10**-DECIMALS
    points = {
        v + k * step for v in literals if isinstance(v, int | float) and not isinstance(v, bool) for k in (-1, 0, 1)
    }
    if not points:
        points = {spec.minimum if spec.minimum is not None else 0}
    lo, hi = spec.minimum, spec.maximum
    kept = {round(p, DECIMALS) if isinstance(p, float) else p for p in points}
    return sorted(p for p in kept if (lo is None or p >= lo) and (hi is None or p <= hi))

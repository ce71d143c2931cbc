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

The converse is checked too. ``suicide_risk`` is the category that comes before every other
alert and puts a patient above every patient without one, so a rule in it must be about
suicide risk: it may not fire for a patient whose safety screens are complete and negative
(:data:`NEGATIVE_CASES`: PHQ-9 and PHQ-A item 9 at 0 with a severe total, a C-SSRS screener
all "no", no screen at all), again in every program and status and with every fact the
suicide rules read that is not safety data changed one at a time. Without this, a catch-all
rule filed as ``suicide_risk`` (``status is present``) would pass the floor on its own, with
every real suicide rule deleted, and put every patient in the suicide-risk group.

Acknowledgements are part of the floor too (:mod:`cocm_rules.lifecycle`): for each case, every
alert is acknowledged and snoozed for a year, with a reason. On the same evidence the
suicide_risk alert must still be in the result, first (acknowledged alerts are never dropped);
on a new administration of the same screen a week later, with the same answers, it must be
back at once (state ``new`` or ``refired``): an acknowledgement never outlasts the evidence it
acknowledged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._log import get_logger
from ..episode import PROGRAMS, STATUSES
from ..errors import Problem, SafetyFloorError
from ..facts import DECIMALS, FactSpec
from ..measures import MeasureLibrary
from ..vocabulary import CATEGORIES, SAFETY_ITEM_MISSING, SUICIDE_RISK
from .evaluator import Evaluator
from .ir import Cmp, In, RuleIR, leaves

__all__ = ["NEGATIVE_CASES", "SAFETY_CASES", "SafetyCase", "check_safety_floor", "safety_episode"]

log = get_logger(__name__)

#: A fixed date: the safety floor never depends on the wall clock.
AS_OF = dt.date(2026, 1, 15)


@dataclass(frozen=True)
class SafetyCase:
    """One built-in case: an administration that must raise a suicide_risk alert (or, in
    :data:`NEGATIVE_CASES`, must not; there ``measure=None`` is an episode without screens)."""

    name: str
    measure: str | None
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


#: Complete, negative safety screens: no ``suicide_risk`` rule may fire on them.
NEGATIVE_CASES: tuple[SafetyCase, ...] = (
    SafetyCase("PHQ-9 item 9 = 0 with a total of 24 (severe)", "phq9", [3, 3, 3, 3, 3, 3, 3, 3, 0]),
    SafetyCase("PHQ-9 all answers 0", "phq9", [0, 0, 0, 0, 0, 0, 0, 0, 0]),
    SafetyCase(
        "PHQ-A item 9 = 0 with a total of 24, no to both suicide questions",
        "phqa",
        [3, 3, 3, 3, 3, 3, 3, 3, 0, 1, 3, 0, 0],
    ),
    SafetyCase("C-SSRS screener all no", "cssrs_screener", [0, 0, None, None, None, 0]),
    SafetyCase("no screen at all", None),
)


def safety_episode(case: SafetyCase, program: str, status: str) -> dict[str, Any]:
    """The episode a case is evaluated on: eight weeks into care, seen every two weeks."""
    start = AS_OF - dt.timedelta(weeks=8)
    assessments: list[dict[str, Any]] = []
    if case.measure is not None:
        assessment: dict[str, Any] = {"measure": case.measure, "date": AS_OF.isoformat()}
        if case.answers is not None:
            assessment["answers"] = case.answers
        if case.total is not None:
            assessment["total"] = case.total
        assessments.append(assessment)
    return {
        "patient_id": "safety-floor",
        "program": program,
        "enrollment_date": start.isoformat(),
        "status": status,
        "assessments": assessments,
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


def check_safety_floor(engine: Evaluator) -> None:
    """Raise :class:`~cocm_rules.SafetyFloorError` unless every case raises a suicide_risk
    alert, first in review order and at severity high or critical, in every program and
    status, and whatever value any other fact the suicide rules read takes; and unless no
    suicide_risk rule fires on a negative case (:data:`NEGATIVE_CASES`)."""
    suicide_rules = [r for r in engine.program.rules if r.category == SUICIDE_RISK]
    values = _values_that_matter(suicide_rules, engine.catalog.specs)
    failures: dict[str, list[str]] = {}
    demoted: dict[str, list[str]] = {}
    cases = variations = 0
    for case in SAFETY_CASES:
        signal = _signal_facts(engine.library, case.measure or "")
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
    wrongly_filed, negatives, negative_variations = _fires_on_negative_screens(engine, values)
    # A rule filed as suicide_risk that is not about suicide risk is reported as such, alone.
    hidden = {} if wrongly_filed else _hidden_by_acknowledgement(engine)
    if failures or demoted or wrongly_filed or hidden:
        files = ", ".join(
            rs.file for rs in engine.rulesets.rulesets if any(r.category == SUICIDE_RISK for r in rs.rules)
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
        problems += [Problem(f"acknowledgements: {why}, for: {name}", file=files) for name, why in hidden.items()]
        problems += _wrongly_filed_problems(engine, wrongly_filed)
        refused = len(failures) + len(demoted) + len(hidden)
        log.error(
            "engine.safety_floor_failed",
            cases=refused,
            **({"rules_firing_on_negative_screens": len(wrongly_filed)} if wrongly_filed else {}),
        )
        raise SafetyFloorError(
            problems, summary=_summary(len(failures) + len(demoted) + len(hidden), len(wrongly_filed))
        )
    log.info(
        "engine.safety_floor_passed",
        cases=cases,
        variations=variations,
        negative_cases=negatives,
        negative_variations=negative_variations,
    )


#: How long the safety floor's acknowledgements snooze an alert, and when the screen is repeated.
_SNOOZE = dt.timedelta(days=365)
_REPEATED = dt.timedelta(days=7)


def _hidden_by_acknowledgement(engine: Evaluator) -> dict[str, str]:
    """Cases whose suicide_risk alert an acknowledgement hides: dropped from the result on the
    same evidence, or not back (new or refired) on a new administration of the screen."""
    found: dict[str, str] = {}
    program, status = PROGRAMS[0], STATUSES[0]
    for case in SAFETY_CASES:
        if case.measure is None:
            continue
        episode = safety_episode(case, program, status)
        alerts = engine.evaluate(episode, AS_OF)
        if not alerts or alerts[0].category != SUICIDE_RISK:
            continue  # not escalated at all: reported as such
        acks = [
            {
                "alert_id": a.alert_id,
                "patient_id": episode["patient_id"],
                "rule_id": a.rule_id,
                "by": "safety-floor",
                "at": AS_OF,
                "reason": "safety floor check",
                "until": AS_OF + _SNOOZE,
                "severity": a.severity,
            }
            for a in alerts
        ]
        same = engine.evaluate(episode, AS_OF, acks)
        if not same or same[0].category != SUICIDE_RISK:
            found[case.name] = "an acknowledged suicide_risk alert is no longer first in the result"
            continue
        later = AS_OF + _REPEATED
        repeat = {**episode["assessments"][0], "date": later.isoformat()}
        repeated = {**episode, "assessments": [*episode["assessments"], repeat]}
        again = engine.evaluate(repeated, later, acks)
        if not any(a.category == SUICIDE_RISK and a.state in ("new", "refired") for a in again):
            found[case.name] = (
                "an acknowledgement of the earlier screen still hides the suicide_risk alert after the screen "
                "was repeated with the same answers"
            )
    return found


def _summary(cases: int, rules: int) -> str:
    parts = []
    if cases:
        parts.append(f"{cases} built-in safety case{'s' if cases != 1 else ''} not escalated")
    if rules:
        parts.append(
            f"{rules} rule{'s' if rules != 1 else ''} filed as suicide_risk "
            f"fire{'s' if rules == 1 else ''} on negative safety screens"
        )
    text = "; ".join(parts) + "; the rulesets were refused."
    if cases:
        text += (
            " Every set must raise a suicide_risk alert, first in review order and at severity high or critical, "
            "for PHQ-9 item 9 >= 1, a C-SSRS screener at moderate or high risk, and missing or invalid safety "
            "answers, whatever the rest of the patient's record says (see rulesets/suicide_risk.yaml)."
        )
    if rules:
        text += (
            " The suicide_risk category comes before every other alert and puts the patient above every patient "
            "without one: it is for rules about a positive, missing or unreadable safety answer only."
        )
    return text


#: Rule id -> (situations of the negative cases as they are, situations with a fact changed),
#: each situation -> the program/status combinations where the rule fired.
_Found = dict[str, tuple[dict[str, list[str]], dict[str, list[str]]]]


def _fires_on_negative_screens(engine: Evaluator, values: dict[str, list[Any]]) -> tuple[_Found, int, int]:
    """suicide_risk rules that fire on a negative case, and where.

    Facts that are safety data (of any measure with safety items) are left as each case makes
    them; every other fact the suicide rules read is varied one at a time, as for the cases
    that must escalate. Returns the findings and the numbers of cases and variations tried.
    """
    safety = set(_SIGNAL_EPISODE_FACTS)
    for measure, defn in engine.library.items():
        if defn.safety_items:
            safety |= _signal_facts(engine.library, measure)
    vary = [(name, vals) for name, vals in values.items() if name not in safety]
    found: _Found = {}
    cases = variations = 0

    def record(rules: Sequence[RuleIR], label: str, where: str, varied: bool) -> None:
        for rule in rules:
            if rule.category == SUICIDE_RISK:
                situations = found.setdefault(rule.rule_id, ({}, {}))[varied]
                if where not in situations.setdefault(label, []):
                    situations[label].append(where)

    for case in NEGATIVE_CASES:
        for program in PROGRAMS:
            for status in STATUSES:
                where = f"{program}/{status}"
                episode = safety_episode(case, program, status)
                facts = engine.facts(episode, AS_OF)
                cases += 1
                record(engine.backend.matches(facts), case.name, where, False)
                for name, vals in vary:
                    for value in vals:
                        if value == facts[name] and type(value) is type(facts[name]):
                            continue
                        variations += 1
                        label = f"{case.name}, with {name} {'missing' if value is None else f'= {value}'}"
                        record(engine.backend.matches({**facts, name: value}), label, where, True)
    return found, cases, variations


#: How many situations a problem lists before it says "and N more".
_SHOWN = 3


def _wrongly_filed_problems(engine: Evaluator, found: _Found) -> list[Problem]:
    """One problem per rule, located at its ``then: category:``."""
    every = len(PROGRAMS) * len(STATUSES)
    others = ", ".join(c for c in CATEGORIES if c != SUICIDE_RISK)
    owner = {r.rule_id: (rs, i) for rs in engine.rulesets.rulesets for i, r in enumerate(rs.rules)}
    problems = []
    for rule_id, (plain, varied) in found.items():
        situations = plain or varied  # the cases as they are, when the rule fires on them
        shown = [
            f"{label} ({'every program and status' if len(where) == every else ', '.join(where)})"
            for label, where in list(situations.items())[:_SHOWN]
        ]
        more = len(situations) - _SHOWN
        message = (
            "this rule is filed as suicide_risk but fires for a patient whose safety screens are negative: "
            + "; ".join(shown)
            + (f"; and {more} more" if more > 0 else "")
            + ". A suicide_risk alert comes before every other alert and puts the patient above every patient "
            f"without one; file this rule under another category ({others}), "
            "or make its condition need a positive, missing or unreadable safety answer"
        )
        rs, index = owner[rule_id]
        problems.append(rs.document.problem(("rules", index, "then", "category"), message, context=f"rule {rule_id!r}"))
    return problems


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
    numbers: set[Any] = {
        v + k * step for v in literals if isinstance(v, int | float) and not isinstance(v, bool) for k in (-1, 0, 1)
    }
    if not numbers:
        numbers = {spec.minimum if spec.minimum is not None else 0}
    lo, hi = spec.minimum, spec.maximum
    kept = {round(p, DECIMALS) if isinstance(p, float) else p for p in numbers}
    return sorted(p for p in kept if (lo is None or p >= lo) and (hi is None or p <= hi))

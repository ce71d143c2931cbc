"""The safety floor: suicide-risk escalation cannot be edited away by accident.

Loading a set of rulesets runs these built-in cases through the whole pipeline (episode ->
facts -> rules, on the engine's own backend) for every program and registry status, and
refuses the set unless each raises an alert in the ``suicide_risk`` category. The cases are
the ones the architecture names - PHQ-9 item 9 at or above 1 with any total; a C-SSRS screener
at moderate or high risk; and safety data that is missing or invalid, which must fail closed -
plus the adolescent PHQ-A's item 9 and its two suicide questions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from ..episode import PROGRAMS, STATUSES
from ..errors import Problem, SafetyFloorError

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["SAFETY_CASES", "SafetyCase", "check_safety_floor", "safety_episode"]

log = structlog.get_logger(__name__)

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


def check_safety_floor(engine: Engine) -> None:
    """Raise :class:`~cocm_rules.SafetyFloorError` unless every case raises a suicide_risk alert."""
    failures: dict[str, list[str]] = {}
    for case in SAFETY_CASES:
        for program in PROGRAMS:
            for status in STATUSES:
                alerts = engine.evaluate(safety_episode(case, program, status), AS_OF)
                if not any(a.category == "suicide_risk" for a in alerts):
                    failures.setdefault(case.name, []).append(f"{program}/{status}")
    if failures:
        files = ", ".join(rs.file for rs in engine.rulesets.rulesets)
        problems = [
            Problem(
                f"no suicide_risk alert for: {name} (program/status: {', '.join(where)})",
                file=files,
            )
            for name, where in failures.items()
        ]
        log.error("engine.safety_floor_failed", cases=len(failures))
        raise SafetyFloorError(
            problems,
            summary=(
                f"{len(failures)} built-in safety case{'s' if len(failures) != 1 else ''} not escalated; the rulesets "
                "were refused. Every set must raise a suicide_risk alert for PHQ-9 item 9 >= 1, a C-SSRS screener at "
                "moderate or high risk, and missing or invalid safety answers (see rulesets/suicide_risk.yaml)."
            ),
        )
    log.info("engine.safety_floor_passed", cases=len(SAFETY_CASES) * len(PROGRAMS) * len(STATUSES))

"""The shared vocabulary of alerts: categories, severities, the review order, safety flags.

Every layer that names or orders alerts reads these from here: the ruleset language (which
categories and severities a rule may emit), alerts and the review list (the order), the
command line, the FHIR writer and the CDS Hooks cards (labels and indicators). Which measure
flags are *safety* flags is not decided here by name: it is read from the measure
definitions (``safety: true`` on a flag in ``measures/*.yaml``), plus the fail-closed flag
:data:`SAFETY_ITEM_MISSING`.

Review order is suicide risk first, always: every ``suicide_risk`` alert comes before every
other alert, whatever priority or severity a ruleset gives either; within each group the
highest priority comes first, then the highest severity, then the rule id.

>>> review_order("engagement", 100, "critical", "a") < review_order("suicide_risk", 0, "info", "z")
False
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, Protocol, get_args

__all__ = [
    "CATEGORIES",
    "REVIEW_CATEGORIES",
    "SAFETY_ITEM_MISSING",
    "SEVERITIES",
    "SUICIDE_RISK",
    "Category",
    "Severity",
    "review_order",
    "safety_flags",
    "severity_rank",
]

#: Alert categories a rule may emit (the one list: the ruleset schema is built from it).
Category = Literal[
    "treatment_to_target",
    "suicide_risk",
    "review_priority",
    "engagement",
    "relapse_prevention",
    "billing",
    "smi",
    "data_quality",
]
CATEGORIES: tuple[str, ...] = get_args(Category)
#: The category that always comes first in review order, whatever the priorities.
SUICIDE_RISK = "suicide_risk"
#: Alert severities, lowest first.
Severity = Literal["info", "low", "moderate", "high", "critical"]
SEVERITIES: tuple[str, ...] = get_args(Severity)
#: Alert categories that put a patient on the psychiatric consultant's review list.
REVIEW_CATEGORIES = ("suicide_risk", "treatment_to_target", "review_priority", "smi", "relapse_prevention")
#: Flag set when a required suicide-risk item is unanswered or could not be read (fails closed).
SAFETY_ITEM_MISSING = "safety_item_missing"

_SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}


def severity_rank(severity: str) -> int:
    """0 for ``info`` up to 4 for ``critical`` (an unknown severity ranks as ``info``)."""
    return _SEVERITY_RANK.get(severity, 0)


def review_order(category: str, priority: int, severity: str, rule_id: str) -> tuple[bool, int, int, str]:
    """The sort key of an alert in review order (smaller first): suicide risk first, then the
    highest priority, then the highest severity, then the rule id (deterministic)."""
    return (category != SUICIDE_RISK, -priority, -_SEVERITY_RANK.get(severity, 0), rule_id)


class _Flag(Protocol):
    name: str
    safety: bool


class _Measure(Protocol):
    @property
    def flags(self) -> Iterable[Any]: ...


def safety_flags(measures: Iterable[_Measure]) -> frozenset[str]:
    """The flags the measure definitions mark as safety flags (``safety: true``), plus
    :data:`SAFETY_ITEM_MISSING`: a score carrying any of them needs a human now."""
    out = {SAFETY_ITEM_MISSING}
    for defn in measures:
        out.update(flag.name for flag in defn.flags if flag.safety)
    return frozenset(out)

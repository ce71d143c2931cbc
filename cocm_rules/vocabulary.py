"""The shared vocabulary of alerts: categories, severities, recipients, the review order, safety flags.

Every layer that names or orders alerts reads these from here: the ruleset language (which
categories, severities and recipients a rule may emit), alerts and the review list (the
order), the command line, the FHIR writer and the CDS Hooks cards (labels and indicators,
who an alert is for). Which measure
flags are *safety* flags is not decided here by name: it is read from the measure
definitions (``safety: true`` on a flag in ``measures/*.yaml``), plus the fail-closed flag
:data:`SAFETY_ITEM_MISSING`.

Review order is suicide risk first, always: every ``suicide_risk`` alert comes before every
other alert, whatever priority or severity a ruleset gives either; within each group the
highest priority comes first, then the highest severity, then the rule id.

>>> review_order("engagement", 100, "critical", "a") < review_order("suicide_risk", 0, "info", "z")
False

Every alert is addressed to one or more members of the Collaborative Care team
(:data:`RECIPIENTS`): the behavioral health care manager, the psychiatric consultant and the
primary care provider (PCP, the treating practitioner), so a host can route it. A rule lists
them under ``then: recipients:``; a rule that does not gets the default of its category and
action (:func:`default_recipients`, the table :data:`DEFAULT_ROUTES`). The first recipient is
the one expected to act; the others are kept informed.

>>> default_recipients("treatment_to_target", "psychiatric_case_review")
('psychiatric_consultant', 'care_manager', 'pcp')
>>> default_recipients("engagement", "outreach")
('care_manager',)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, Protocol, get_args

__all__ = [
    "CATEGORIES",
    "DEFAULT_ROUTES",
    "RECIPIENTS",
    "RECIPIENT_LABELS",
    "REVIEW_CATEGORIES",
    "SAFETY_ITEM_MISSING",
    "SEVERITIES",
    "SUICIDE_RISK",
    "Category",
    "Recipient",
    "Severity",
    "default_recipients",
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
    "comorbidity",
    "data_quality",
]
CATEGORIES: tuple[str, ...] = get_args(Category)
#: The category that always comes first in review order, whatever the priorities.
SUICIDE_RISK = "suicide_risk"
#: Alert severities, lowest first.
Severity = Literal["info", "low", "moderate", "high", "critical"]
SEVERITIES: tuple[str, ...] = get_args(Severity)
#: Alert categories that put a patient on the psychiatric consultant's review list.
REVIEW_CATEGORIES = (
    "suicide_risk",
    "treatment_to_target",
    "review_priority",
    "smi",
    "relapse_prevention",
    "comorbidity",
)
#: Flag set when a required suicide-risk item is unanswered or could not be read (fails closed).
SAFETY_ITEM_MISSING = "safety_item_missing"

_SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}

#: Members of the Collaborative Care team an alert may be addressed to (the one list: the
#: ruleset schema is built from it): the behavioral health care manager, the psychiatric
#: consultant, and the primary care provider (the treating practitioner who prescribes).
Recipient = Literal["care_manager", "psychiatric_consultant", "pcp"]
RECIPIENTS: tuple[str, ...] = get_args(Recipient)
#: Display names of the recipients (CLI, FHIR Task.performerType, CDS Hooks cards).
RECIPIENT_LABELS: dict[str, str] = {
    "care_manager": "Behavioral health care manager",
    "psychiatric_consultant": "Psychiatric consultant",
    "pcp": "Primary care provider",
}
#: Who an alert is addressed to when its rule lists no ``recipients:``: the recipients of the
#: first row whose category and action match the rule's (``None`` matches any), else the care
#: manager alone. The rows are the Collaborative Care roles (AIMS Center): the consultant
#: performs case reviews; an alert that a patient is not improving asks for one and also
#: alerts the PCP ("alerting the PCP when the patient is not improving"); consultant
#: recommendations are relayed by the care manager to the PCP, who acts on them; the PCP,
#: who holds clinical responsibility and prescribes, is told of every suicide-risk alert.
DEFAULT_ROUTES: tuple[tuple[str | None, str | None, tuple[str, ...]], ...] = (
    ("treatment_to_target", "psychiatric_case_review", ("psychiatric_consultant", "care_manager", "pcp")),
    (None, "psychiatric_case_review", ("psychiatric_consultant", "care_manager")),
    (None, "relay_recommendation", ("care_manager", "pcp")),
    ("suicide_risk", None, ("care_manager", "pcp")),
)
#: The recipients of an alert whose rule and the table above say nothing more.
_DEFAULT_RECIPIENTS = ("care_manager",)


def default_recipients(category: str, action: str) -> tuple[str, ...]:
    """Who an alert of this category and action is for when its rule lists no recipients:
    the first matching row of :data:`DEFAULT_ROUTES`, else the care manager."""
    for cat, act, recipients in DEFAULT_ROUTES:
        if (cat is None or cat == category) and (act is None or act == action):
            return recipients
    return _DEFAULT_RECIPIENTS


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

"""Alerts: what a rule emits, explained, and the order a team should read them in.

Review order is suicide risk first, always: every ``suicide_risk`` alert comes before every
other alert, whatever priority or severity a ruleset gives either. Within each group, the
highest priority comes first, then the highest severity, then the rule id. A ruleset's
priority orders alerts *within* those groups; it can never put another alert above a
suicide-risk one.

Every alert says who it is for (``recipients``: care manager, psychiatric consultant, PCP;
the first is the one expected to act), as its rule lists them or by the default of its
category and action (:func:`cocm_rules.vocabulary.default_recipients`), so a host can route it.

Every alert has a stable identity (``alert_id``: the patient, the rule and the evidence it
stands on; :mod:`cocm_rules.lifecycle`) and a ``state`` given the acknowledgements the caller
passed in: ``new``, ``acknowledged``, ``snoozed`` (until ``state_until``) or ``refired``.
An acknowledged or snoozed alert is still in the result: the host chooses what to show.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ._fast import fast_constructor
from .rules.ir import MessagePart, RuleIR
from .vocabulary import SUICIDE_RISK, Recipient, default_recipients, review_order

__all__ = [
    "ALERT_STATES",
    "SUICIDE_RISK",
    "Acknowledgement",
    "Alert",
    "AlertMaker",
    "AlertState",
    "make_alert",
    "render_message",
    "sort_alerts",
    "sort_key",
]

#: The state of an alert given the acknowledgements passed in (see :mod:`cocm_rules.lifecycle`).
AlertState = Literal["new", "acknowledged", "snoozed", "refired"]
ALERT_STATES: tuple[str, ...] = ("new", "acknowledged", "snoozed", "refired")


class Acknowledgement(BaseModel):
    """A person's acknowledgement (or snooze, with ``until``) of one alert: alert state, never
    clinical data. An input of :meth:`~cocm_rules.Engine.evaluate`; a store keeps them between
    runs (:mod:`cocm_rules.store`).

    It holds while the alert's evidence is the same (same ``alert_id``), until ``until`` (a
    snooze) and at most the ruleset's ``max_snooze_days`` from ``at``. A snooze (with
    ``until``) also holds over new evidence that is not worse; a suicide-risk alert's never
    does, and acknowledging one needs a ``reason``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    alert_id: str = Field(min_length=1, description="the alert_id acknowledged")
    patient_id: str = Field(min_length=1, description="the patient id as the host gave it")
    rule_id: str = Field(min_length=1)
    by: str = Field(min_length=1, description="who acknowledged it (a user id)")
    at: dt.date = Field(description="the day it was recorded (it applies to evaluations as of that day or later)")
    reason: str | None = Field(default=None, description="why (required for a suicide-risk alert)")
    until: dt.date | None = Field(default=None, description="a snooze: quiet until this day (inclusive)")
    severity: str | None = Field(default=None, description="severity of the alert acknowledged (to see it worsen)")

    @field_validator("at", "until", mode="before")
    @classmethod
    def _date_only(cls, value: Any) -> Any:
        if isinstance(value, dt.datetime):
            raise ValueError("a date (YYYY-MM-DD), not a date-time")
        return value

    @field_validator("reason")
    @classmethod
    def _no_blank_reason(cls, value: str | None) -> str | None:
        return value if value is None or value.strip() else None


class Alert(BaseModel):
    """One fired rule, with everything needed to explain it."""

    model_config = ConfigDict(frozen=True)

    rule_id: str = Field(description="stable id of the rule that fired")
    ruleset: str = Field(description="name of the ruleset it belongs to")
    ruleset_version: str
    title: str
    category: str = Field(description="treatment_to_target, suicide_risk, review_priority, engagement, ...")
    severity: str = Field(description="info, low, moderate, high or critical")
    priority: int = Field(description="0-100; higher is reviewed first")
    message: str
    action: str = Field(description="snake_case code of the recommended action")
    action_text: str | None = None
    recipients: list[Recipient] = Field(
        min_length=1,
        description="who the alert is for: care_manager, psychiatric_consultant and/or pcp (primary care "
        "provider), the one expected to act first; when not given, the default of the category and action",
    )
    source: str = Field(description="citation the rule is based on")
    evidence: dict[str, Any] = Field(description="the facts the rule's condition read, with their values")
    parameters: dict[str, Any] = Field(default_factory=dict, description="ruleset parameters the rule used")
    as_of: dt.date
    patient_id: str | None = None
    alert_id: str | None = Field(
        default=None,
        description="stable identity: a hash of the patient id, the rule id and the evidence the alert stands on "
        "(the same across runs and as_of dates while that evidence is the same)",
    )
    state: AlertState = Field(default="new", description="new, acknowledged, snoozed or refired")
    state_until: dt.date | None = Field(
        default=None, description="the last day an acknowledgement or snooze keeps this alert quiet"
    )
    acknowledgement: Acknowledgement | None = Field(
        default=None, description="the acknowledgement the state comes from (none for a new alert)"
    )

    @model_validator(mode="before")
    @classmethod
    def _default_recipients(cls, data: Any) -> Any:
        """An alert built without recipients gets the default of its category and action."""
        if isinstance(data, Mapping) and data.get("recipients") is None:
            category, action = data.get("category"), data.get("action")
            if isinstance(category, str) and isinstance(action, str):
                return {**data, "recipients": list(default_recipients(category, action))}
        return data


_build = fast_constructor(
    Alert,
    dict.fromkeys(Alert.model_fields)
    | {"evidence": {}, "parameters": {}, "recipients": ["care_manager"], "state": "new"},
)


def _fmt(value: Any, spec: str) -> str:
    if value is None:
        return "unknown"
    if spec:
        try:
            return format(value, spec)
        except (ValueError, TypeError):
            return str(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _read(facts: Mapping[str, Any], name: str) -> Any:
    # By subscript, not .get: the engine's facts are computed when first subscripted.
    try:
        return facts[name]
    except KeyError as e:
        if e.args != (name,):
            raise  # a KeyError from inside a fact's computation is a fault, not a missing fact
        return None


#: A message template with its parameters filled in: the text before the first fact, then
#: (fact name, format spec, the text after it) for each fact placeholder.
_Template = tuple[str, tuple[tuple[str, str, str], ...]]


def _template(parts: Iterable[MessagePart], params: Mapping[str, Any]) -> _Template:
    runs: list[str] = [""]
    holes: list[tuple[str, str]] = []
    for part in parts:
        if part.name is None:
            runs[-1] += part.text
        elif part.is_param:
            runs[-1] += _fmt(params.get(part.name), part.spec)
        else:
            holes.append((part.name, part.spec))
            runs.append("")
    return runs[0], tuple((name, spec, text) for (name, spec), text in zip(holes, runs[1:], strict=True))


def _fill(template: _Template, facts: Mapping[str, Any]) -> str:
    head, holes = template
    out = [head]
    for name, spec, text in holes:
        out.append(_fmt(_read(facts, name), spec))
        out.append(text)
    return " ".join("".join(out).split())


def render_message(parts: Iterable[MessagePart], facts: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    """Fill a message template: a missing fact reads "unknown"."""
    return _fill(_template(parts, params), facts)


class AlertMaker:
    """Builds the alerts of one rule (state ``new``): what is the same for every alert of the
    rule (its fields, its message's text and parameters) is prepared once, here; per alert
    only the facts are read. ``maker(facts, as_of, patient_id, alert_id)`` gives the alert
    :func:`make_alert` gives."""

    __slots__ = ("_evidence", "_fixed", "_parameters", "_recipients", "_template")

    def __init__(self, rule: RuleIR, params: Mapping[str, Any]) -> None:
        self._fixed: dict[str, Any] = {
            "rule_id": rule.rule_id,
            "ruleset": rule.ruleset,
            "ruleset_version": rule.ruleset_version,
            "title": rule.title,
            "category": rule.category,
            "severity": rule.severity,
            "priority": rule.priority,
            "message": None,
            "action": rule.action,
            "action_text": rule.action_text,
            "recipients": None,
            "source": rule.source,
            "evidence": None,
            "parameters": None,
            "as_of": None,
            "patient_id": None,
            "alert_id": None,
            "state": "new",
            "state_until": None,
            "acknowledgement": None,
        }
        self._recipients = tuple(rule.recipients)
        self._parameters = dict(rule.parameters)
        self._evidence = tuple(rule.facts)
        self._template = _template(rule.message, params)  # text and parameters joined once

    def message(self, facts: Mapping[str, Any]) -> str:
        """The rule's message with the values of ``facts`` ("unknown" for a missing one)."""
        return _fill(self._template, facts)

    def __call__(
        self, facts: Mapping[str, Any], as_of: dt.date, patient_id: str | None, alert_id: str | None = None
    ) -> Alert:
        fields = self._fixed.copy()
        fields["message"] = self.message(facts)
        fields["recipients"] = list(self._recipients)
        fields["evidence"] = {f: _read(facts, f) for f in self._evidence}
        fields["parameters"] = self._parameters.copy()
        fields["as_of"] = as_of
        fields["patient_id"] = patient_id
        fields["alert_id"] = alert_id
        return _build(fields)


def make_alert(
    rule: RuleIR,
    facts: Mapping[str, Any],
    as_of: dt.date,
    patient_id: str | None,
    params: Mapping[str, Any],
    alert_id: str | None = None,
) -> Alert:
    """Build the alert of a rule that fired on ``facts`` (state ``new``); for many alerts of
    one rule, :class:`AlertMaker` prepares the rule once."""
    return AlertMaker(rule, params)(facts, as_of, patient_id, alert_id)


def sort_key(alert: Alert) -> tuple[bool, int, int, str]:
    """Suicide risk first (whatever the priorities), then highest priority, then highest
    severity, then rule id (deterministic)."""
    return review_order(alert.category, alert.priority, alert.severity, alert.rule_id)


def sort_alerts(alerts: Iterable[Alert]) -> list[Alert]:
    """Alerts in review order: every suicide_risk alert before every other alert."""
    return sorted(alerts, key=sort_key)

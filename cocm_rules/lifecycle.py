"""The alert lifecycle: a stable identity for every alert, and its state given acknowledgements.

The engine stays a pure function of (episode, acknowledgements, rulesets, ``as_of``): this
module only reads facts the engine already computes and the acknowledgements it is given.

Identity (``Alert.alert_id``)
    A hash of the patient id, the rule id and the *evidence identity* of the alert: the facts
    its rule reads (condition and message), each turned into something that stays the same
    while the evidence is the same, whatever the ``as_of`` date:

    * a date fact (``phq9.latest_date``, ``last_contact_date``) counts by its value;
    * a ``days_since_*`` fact counts as the date it counts from (``as_of`` minus the days), so
      ``days_since_last_hospitalization`` stands for the hospitalization's date;
    * a fact of a measure (``phq9.pct_reduction``, ``phq9.item9_latest``) counts as that
      measure's latest administration date (``phq9.last_administered_date``): its values
      change only with a new administration;
    * an episode-wide safety fact (``suicide_risk``, ``safety_item_missing``,
      ``safety_missing_reason``, ...) counts by its value and the latest administration date
      of every measure with safety items, so any new safety screen is new evidence;
    * a fact about the calendar month of ``as_of`` (``*_this_month``, ``cocm_month``) counts
      as that month (``2026-11``);
    * elapsed time that grows every day or week (``weeks_in_treatment``, a count in a rolling
      window such as ``hospitalizations_last_90d``) does not count;
    * any other fact (``status``, ``pending_recommendations``, ``housing_status``) counts by
      its value.

State (``Alert.state``), given acknowledgements (:class:`~cocm_rules.alerts.Acknowledgement`)
recorded on or before ``as_of``:

* ``new``: nothing acknowledged this alert or an earlier one of its rule for this patient;
* ``acknowledged``: an acknowledgement without ``until`` of this very alert (same evidence);
  it holds at most the ruleset's ``max_snooze_days`` from the day it was recorded;
* ``snoozed``: a snooze (an acknowledgement with ``until``) holds until ``until`` and at most
  ``max_snooze_days``; it also holds over *new* evidence of the same rule unless that
  evidence is worse: a higher severity, or a new administration (dated on or after the
  snooze) of a measure the rule reads whose total moved the worse way from the one before
  (a measure without a known direction counts as worse);
* ``refired``: it was acknowledged or snoozed before and is back: the acknowledgement or
  snooze ended, or the evidence changed (an acknowledgement covers only the evidence it saw;
  a snooze, evidence changed for the worse).

Suicide risk (the safety floor, checked by :func:`cocm_rules.rules.safety.check_safety_floor`):
an acknowledgement of a ``suicide_risk`` alert needs a reason (one without is ignored) and
never holds over new evidence, snooze or not: a new administration with a positive item is a
new identity and the alert is back at once (``refired``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from .alerts import Acknowledgement, Alert
from .errors import InvalidInput
from .facts import FactCatalog
from .measures import MeasureLibrary
from .rules.ir import ProgramIR, RuleIR
from .vocabulary import SUICIDE_RISK, severity_rank

__all__ = [
    "SAFETY_EPISODE_FACTS",
    "IdentityPlan",
    "alert_identity",
    "apply_acknowledgements",
    "card_uuid",
    "evidence_identity",
    "identity_plans",
    "parse_acknowledgements",
]

#: Episode-wide facts that summarize the latest administration of every safety screen.
SAFETY_EPISODE_FACTS = frozenset(
    {"suicide_risk", "urgent_suicide_risk", "safety_item_missing", "safety_missing_reason"}
)
_ELAPSED = re.compile(r"(^|\.)(weeks_in_treatment$|.*_last_\d+d$)")
_MONTH = re.compile(r"(_this_month$|^cocm_month$)")
_SINCE = re.compile(r"(^|\.)days_since_")

Read = Callable[[str], Any]


@dataclass(frozen=True)
class IdentityPlan:
    """What makes up the evidence identity of one rule's alerts (see the module docstring)."""

    values: tuple[str, ...]  # facts that count by their value
    since: tuple[str, ...]  # days_since_* facts: count as the date they count from
    month: bool  # reads a fact about the calendar month of as_of
    #: per measure read: (its latest_date fact, its change_from_previous fact, "worse"/"better"/None)
    worse: tuple[tuple[str, str, str | None], ...]
    max_snooze_days: int | None
    suicide_risk: bool


def _rule_facts(rule: RuleIR) -> list[str]:
    return list(dict.fromkeys([*rule.facts, *(p.name for p in rule.message if p.name and not p.is_param)]))


def _plan(rule: RuleIR, cat: FactCatalog, library: MeasureLibrary, cap: int | None) -> IdentityPlan:
    values: list[str] = []
    since: list[str] = []
    month = False
    measures: list[str] = []
    for name in _rule_facts(rule):
        spec = cat.specs[name]
        if spec.type == "date":
            values.append(name)
        elif _SINCE.search(name):
            since.append(name)
        elif _MONTH.search(name):
            month = True
        elif _ELAPSED.search(name):
            continue
        elif spec.measure is not None:
            measures.append(spec.measure)
        else:
            values.append(name)
            if name in SAFETY_EPISODE_FACTS:
                measures += [m for m, d in library.items() if d.safety_items]
    worse = []
    for m in dict.fromkeys(measures):
        values.append(f"{m}.last_administered_date")
        latest, change = f"{m}.latest_date", f"{m}.change_from_previous"
        if latest in cat.specs and change in cat.specs:
            targets = library[m].targets
            worse.append((latest, change, targets.higher_is if targets is not None else None))
    return IdentityPlan(
        values=tuple(v for v in dict.fromkeys(values) if v in cat.specs),
        since=tuple(since),
        month=month,
        worse=tuple(worse),
        max_snooze_days=cap,
        suicide_risk=rule.category == SUICIDE_RISK,
    )


def identity_plans(
    program: ProgramIR, cat: FactCatalog, library: MeasureLibrary, caps: Mapping[str, int | None]
) -> dict[str, IdentityPlan]:
    """The identity plan of every rule of ``program``; ``caps`` maps a rule id to its
    ruleset's ``max_snooze_days``."""
    return {r.rule_id: _plan(r, cat, library, caps.get(r.rule_id)) for r in program.rules}


def evidence_identity(plan: IdentityPlan, read: Read, as_of: dt.date) -> dict[str, Any]:
    """The evidence identity of an alert, as JSON values (dates as ISO text)."""
    out: dict[str, Any] = {}
    for name in plan.values:
        value = read(name)
        out[name] = value.isoformat() if type(value) is dt.date else value  # facts hold dates, not datetimes
    for name in plan.since:
        days = read(name)
        out[name.replace("days_since_", "date_of_")] = (
            None if days is None else (as_of - dt.timedelta(days=days)).isoformat()
        )
    if plan.month:
        out["month"] = f"{as_of.year:04d}-{as_of.month:02d}"
    return out


def alert_identity(patient_id: str | None, rule_id: str, evidence: Mapping[str, Any]) -> str:
    """The stable id of an alert: 20 hex digits of a SHA-256 of the patient id, the rule id and
    the evidence identity."""
    blob = _identity_json([patient_id or "", rule_id, evidence])
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _identity_encoder() -> Callable[[Any], str]:
    """The identity's JSON text: ``json.dumps(value, sort_keys=True, separators=(",", ":"))``,
    the same text. The standard library's C encoder is built once here (``JSONEncoder.encode``
    builds one per call, a third of the cost for these small values); without it, the
    encoder object is."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
    # no circular check (the evidence is flat), ASCII escapes, keys sorted, NaN allowed as json.dumps
    encode = make(None, _not_json, json.encoder.encode_basestring_ascii, None, ":", ",", True, False, True)
    return lambda value: "".join(encode(value, 0))


_identity_json = _identity_encoder()


def card_uuid(alert_ids: Iterable[str]) -> str:
    """A stable UUID (version 8 layout, from SHA-256) for a card showing these alerts: the same
    alerts give the same card uuid on every run, so CDS Hooks feedback can be matched to them."""
    digest = bytearray(hashlib.sha256("|".join(sorted(alert_ids)).encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x80
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def parse_acknowledgements(acknowledgements: Iterable[Any] | None) -> list[Acknowledgement]:
    """Acknowledgements as models: each an :class:`Acknowledgement` or a mapping of its fields.

    Raises :class:`~cocm_rules.InvalidInput` naming the acknowledgement (by position) and the
    field; TypeError for something that is not an iterable of them.
    """
    if acknowledgements is None:
        return []
    if isinstance(acknowledgements, str | bytes | Mapping | Acknowledgement):
        raise TypeError(
            f"acknowledgements must be an iterable of Acknowledgement objects or mappings, "
            f"not one {type(acknowledgements).__name__}"
        )
    out = []
    for i, item in enumerate(acknowledgements):
        if isinstance(item, Acknowledgement):
            out.append(item)
            continue
        if not isinstance(item, Mapping):
            raise TypeError(f"acknowledgement {i} must be an Acknowledgement or a mapping, not {type(item).__name__}")
        try:
            out.append(Acknowledgement.model_validate(dict(item)))
        except ValidationError as e:
            err = e.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            raise InvalidInput(
                f"acknowledgement {i}: {err['msg']}",
                field=f"acknowledgements[{i}].{field}" if field else f"acknowledgements[{i}]",
                value=err.get("input"),
            ) from None
    return out


def _end(ack: Acknowledgement, cap: int | None) -> dt.date | None:
    ends = [d for d in (ack.until, ack.at + dt.timedelta(days=cap) if cap is not None else None) if d is not None]
    return min(ends) if ends else None


def _is_worse(alert: Alert, plan: IdentityPlan, ack: Acknowledgement, read: Read) -> bool:
    if ack.severity is not None and severity_rank(alert.severity) > severity_rank(ack.severity):
        return True
    for latest, change, higher_is in plan.worse:
        when = read(latest)
        if when is None or when < ack.at:
            continue  # no administration since the snooze
        delta = read(change)
        if higher_is is None or delta is None:
            return True  # a new administration that cannot be compared: shown again
        if (higher_is == "worse" and delta > 0) or (higher_is == "better" and delta < 0):
            return True
    return False


def _valid(ack: Acknowledgement, plan: IdentityPlan) -> bool:
    return not (plan.suicide_risk and ack.reason is None)


def _state(
    alert: Alert, plan: IdentityPlan, acks: Sequence[Acknowledgement], as_of: dt.date, read: Read
) -> dict[str, Any] | None:
    """The state fields of an alert, or None when it is new."""
    mine = [k for k in acks if k.rule_id == alert.rule_id and k.patient_id == alert.patient_id and _valid(k, plan)]
    if not mine:
        return None
    same = [k for k in mine if k.alert_id == alert.alert_id]
    if same:
        ack = max(same, key=lambda k: (k.at, k.until or dt.date.max))
        end = _end(ack, plan.max_snooze_days)
        if end is None or as_of <= end:
            return {"state": "snoozed" if ack.until else "acknowledged", "state_until": end, "acknowledgement": ack}
        return {"state": "refired", "acknowledgement": ack}
    ack = max(mine, key=lambda k: (k.at, k.until or dt.date.max))
    end = _end(ack, plan.max_snooze_days)
    carried = (
        ack.until is not None
        and not plan.suicide_risk
        and (end is None or as_of <= end)
        and not _is_worse(alert, plan, ack, read)
    )
    if carried:
        return {"state": "snoozed", "state_until": end, "acknowledgement": ack}
    return {"state": "refired", "acknowledgement": ack}


def apply_acknowledgements(
    alerts: list[Alert],
    acks: Sequence[Acknowledgement],
    plans: Mapping[str, IdentityPlan],
    as_of: dt.date,
    read: Read,
) -> list[Alert]:
    """The alerts with their state given ``acks`` (those of this patient, recorded on or before
    ``as_of``); order and content are otherwise unchanged: no alert is ever dropped."""
    acks = [k for k in acks if k.at <= as_of]
    if not acks:
        return alerts
    out = []
    for alert in alerts:
        update = _state(alert, plans[alert.rule_id], acks, as_of, read)
        out.append(alert if update is None else alert.model_copy(update=update))
    return out

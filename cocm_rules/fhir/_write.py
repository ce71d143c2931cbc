"""Writing scores and alerts as FHIR resources, validated with ``fhir.resources`` (R4B models).

``fhir.resources`` is imported here, lazily, only when something is emitted or validated;
without it :class:`~cocm_rules.BackendUnavailable` says which extra to install.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from .._text import join
from ..alerts import Alert
from ..errors import BackendUnavailable, InvalidInput
from ..measures import NOT_CONFIRMED, Code, MeasureDefinition, MeasureLibrary, load_measures
from ..scoring import Score
from ..vocabulary import RECIPIENT_LABELS, SUICIDE_RISK
from ._common import (
    ACTION_SYSTEM,
    BAND_SYSTEM,
    CATEGORY_SYSTEM,
    DATA_ABSENT_REASON,
    FLAG_SYSTEM,
    LOINC,
    LOINC_NO,
    LOINC_YES,
    MEASURE_SYSTEM,
    ORDINAL_VALUE,
    ROLE_SYSTEM,
    RULE_SYSTEM,
    STATUS_EXTENSION,
    UCUM,
    resource_label,
)

OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
RISK_PROBABILITY = "http://terminology.hl7.org/CodeSystem/risk-probability"
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:cocm-rules")

#: Alert severity -> Task.priority (request-priority: routine < urgent < asap < stat).
TASK_PRIORITY = {"info": "routine", "low": "routine", "moderate": "urgent", "high": "asap", "critical": "stat"}
#: Alert severity -> DetectedIssue.severity (high | moderate | low).
ISSUE_SEVERITY = {"info": "low", "low": "low", "moderate": "moderate", "high": "high", "critical": "high"}
#: Actions done with (or by) the psychiatric consultant. Alerts route themselves (their
#: ``recipients``, which send these actions to the consultant by default); pass this set, or
#: your own, as ``alerts_to_bundle(consultant_actions=...)`` to add the consultant to every
#: Task of these actions whatever a rule lists.
CONSULTANT_ACTIONS = frozenset({"psychiatric_case_review"})
#: Display names of the team roles in Task.performerType (``urn:cocm-rules:role``).
ROLE_LABELS = RECIPIENT_LABELS
#: C-SSRS triage levels that RiskAssessment.prediction.qualitativeRisk can carry (risk-probability codes).
RISK_LEVELS = {"low": "Low likelihood", "moderate": "Moderate likelihood", "high": "High likelihood"}

# Required bindings of the elements this module emits (R4 4.0.1; identical in R4B 4.3.0).
# fhir.resources checks structure and types but not these code lists, so validate() does.
_OBS_STATUS = {"registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"}
REQUIRED_CODES: dict[tuple[str, str], frozenset[str]] = {
    ("Observation", "status"): frozenset(_OBS_STATUS),
    ("RiskAssessment", "status"): frozenset(_OBS_STATUS),
    ("DetectedIssue", "status"): frozenset(_OBS_STATUS),
    ("DetectedIssue", "severity"): frozenset({"high", "moderate", "low"}),
    ("Flag", "status"): frozenset({"active", "inactive", "entered-in-error"}),
    ("Task", "status"): frozenset(
        {
            "draft",
            "requested",
            "received",
            "accepted",
            "rejected",
            "ready",
            "cancelled",
            "in-progress",
            "on-hold",
            "failed",
            "completed",
            "entered-in-error",
        }
    ),
    ("Task", "intent"): frozenset(
        {
            "unknown",
            "proposal",
            "plan",
            "order",
            "original-order",
            "reflex-order",
            "filler-order",
            "instance-order",
            "option",
        }
    ),
    ("Task", "priority"): frozenset({"routine", "urgent", "asap", "stat"}),
    ("Bundle", "type"): frozenset(
        {
            "document",
            "message",
            "transaction",
            "transaction-response",
            "batch",
            "batch-response",
            "history",
            "searchset",
            "collection",
        }
    ),
}


# -- validation ------------------------------------------------------------------------------------


def _model_class(rtype: str) -> Any:
    try:
        from fhir.resources.R4B import get_fhir_model_class
    except ImportError as e:
        raise BackendUnavailable("FHIR output", "fhir", cause=str(e)) from e
    try:
        return get_fhir_model_class(rtype)
    except (ValueError, KeyError) as e:
        raise InvalidInput("unknown FHIR resource type", field="resourceType", value=rtype) from e


def validate(resource: Mapping[str, Any]) -> None:
    """Check a resource (and a Bundle's entries) with the ``fhir.resources`` R4B models, plus
    the required code lists and the ``obs-6`` invariant those models do not check.

    Raises :class:`~cocm_rules.InvalidInput` naming the resource and what is wrong, or
    :class:`~cocm_rules.BackendUnavailable` when ``fhir.resources`` is not installed.
    """
    if not isinstance(resource, Mapping) or not isinstance(resource.get("resourceType"), str):
        raise InvalidInput("not a FHIR resource (no resourceType)", value=resource)
    rtype = resource["resourceType"]
    cls = _model_class(rtype)
    label = resource_label(resource)
    try:
        cls.model_validate(dict(resource))
    except (ValueError, TypeError) as e:  # pydantic's ValidationError is a ValueError
        errors = getattr(e, "errors", None)
        parts = []
        if callable(errors):
            for err in errors():
                loc = ".".join(str(x) for x in err.get("loc", ()))
                parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
        raise InvalidInput(f"not a valid FHIR R4B {rtype}: " + ("; ".join(parts) or str(e)), record=label) from e
    for (t, element), allowed in REQUIRED_CODES.items():
        if t == rtype and element in resource and resource[element] not in allowed:
            raise InvalidInput(
                f"{rtype}.{element} is not in its required value set",
                record=label,
                field=element,
                value=resource[element],
                allowed=join(sorted(allowed)),
            )
    if rtype == "Observation":
        for path, holder in [("", resource)] + [
            (f"component[{n}]", c) for n, c in enumerate(resource.get("component") or [])
        ]:
            if "dataAbsentReason" in holder and any(k.startswith("value") for k in holder):
                raise InvalidInput(
                    "obs-6: dataAbsentReason only when there is no value",
                    record=label,
                    field=path or "dataAbsentReason",
                )
    if rtype == "Bundle":
        for entry in resource.get("entry") or []:
            validate(entry["resource"])


# -- scores -> Observation ------------------------------------------------------------------------


def _status_ext(code: Code) -> list[dict[str, Any]]:
    return [{"url": STATUS_EXTENSION, "valueCode": code.status}] if code.status in NOT_CONFIRMED else []


def _loinc_coding(code: Code) -> dict[str, Any]:
    # No display: the LOINC display names are not in the measure files (a wrong display is a
    # validator warning); the measure's own label goes in CodeableConcept.text.
    coding: dict[str, Any] = {"system": LOINC, "code": code.code}
    ext = _status_ext(code)
    if ext:
        coding["extension"] = ext
    return coding


def _own(code: str, display: str) -> dict[str, Any]:
    return {"system": MEASURE_SYSTEM, "code": code, "display": display}


def _effective(value: Any) -> str:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise InvalidInput("a date-time needs a time zone in FHIR", field="effective", value=value.isoformat())
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and value:
        return value
    raise InvalidInput("effective must be a date, a date-time or an ISO string", field="effective", value=value)


def _patient(ref: Any) -> dict[str, str]:
    if not isinstance(ref, str) or not (ref.startswith(("Patient/", "urn:uuid:")) or "/Patient/" in ref):
        raise InvalidInput(
            "patient_ref must reference a Patient",
            field="patient_ref",
            value=ref,
            allowed="'Patient/<id>', an absolute URL ending in /Patient/<id>, or 'urn:uuid:<uuid>'",
        )
    return {"reference": ref}


def _item_value(defn: MeasureDefinition, item_id: str, value: int) -> dict[str, Any]:
    item = defn.item(item_id)
    scale = defn.scales[item.scale]
    option = next((v for v in scale.values if v.value == value), None)
    if option is not None and option.loinc:
        coding = {"system": LOINC, "code": option.loinc, "extension": [{"url": ORDINAL_VALUE, "valueDecimal": value}]}
        return {"valueCodeableConcept": {"coding": [coding], "text": option.label}}
    if scale.yes_no and value in (0, 1):
        code, label = (LOINC_YES, "Yes") if value == 1 else (LOINC_NO, "No")
        coding = {"system": LOINC, "code": code, "extension": [{"url": ORDINAL_VALUE, "valueDecimal": value}]}
        return {"valueCodeableConcept": {"coding": [coding], "text": label}}
    return {"valueInteger": value}


def _item_code(defn: MeasureDefinition, item_id: str) -> dict[str, Any]:
    item = defn.item(item_id)
    coding = _loinc_coding(item.loinc) if item.loinc else _own(f"{defn.id}.{item_id}", item.label)
    return {"coding": [coding], "text": item.label}


def _absent(code: str) -> dict[str, Any]:
    return {"dataAbsentReason": {"coding": [{"system": DATA_ABSENT_REASON, "code": code}]}}


def _item_components(defn: MeasureDefinition, score: Score) -> list[dict[str, Any]]:
    out = []
    for item_id, value in score.answers.items():
        if value is None:
            if item_id in score.missing_items:
                out.append({"code": _item_code(defn, item_id), **_absent("asked-unknown")})
            continue  # not asked (skip logic) or an optional item left blank
        out.append({"code": _item_code(defn, item_id), **_item_value(defn, item_id, value)})
    return out


def _result_components(defn: MeasureDefinition, score: Score) -> list[dict[str, Any]]:
    out = []
    for res in defn.results:
        value = score.results.get(res.id)
        if value is None:
            continue
        coding = _loinc_coding(res.loinc) if res.loinc else _own(f"{defn.id}.{res.id}", res.description)
        comp: dict[str, Any] = {"code": {"coding": [coding], "text": res.id.replace("_", " ")}}
        if isinstance(value, bool):
            comp["valueBoolean"] = value
        elif isinstance(value, str):
            comp["valueCodeableConcept"] = {
                "coding": [_own(f"{defn.id}.{res.id}.{value}", value.replace("_", " "))],
                "text": value.replace("_", " "),
            }
        else:
            comp["valueQuantity"] = {"value": value}
        out.append(comp)
    for sid, value in score.subscores.items():
        if value is not None:
            label = next(s.label for s in defn.subscores if s.id == sid)
            out.append({"code": {"coding": [_own(f"{defn.id}.{sid}", label)], "text": label}, "valueInteger": value})
    return out


def _notes(defn: MeasureDefinition, score: Score) -> list[dict[str, str]]:
    texts = list(score.notes)
    texts.extend(f"Rests on an unconfirmed source: {u}" for u in score.unconfirmed)
    for what, code in (("panel", defn.loinc_panel), ("total", defn.total.loinc if defn.total else None)):
        if code is not None and code.status in NOT_CONFIRMED:
            texts.append(
                f"The LOINC code {code.code} of the {what} is {code.status} ({code.source}); "
                "check it before relying on it"
            )
    if score.prorated:
        texts.append(
            f"The total is prorated under the {score.missing_policy} policy; missing: " + ", ".join(score.missing_items)
        )
    return [{"text": t} for t in texts]


def _interpretation(defn: MeasureDefinition, score: Score) -> list[dict[str, Any]]:
    out = []
    if score.band is not None:
        label = (
            next((b.label or b.name for b in (defn.bands.ranges or []) if b.name == score.band), None)
            if defn.bands and defn.bands.ranges
            else None
        )
        text = (label or score.band).replace("_", " ")
        out.append(
            {"coding": [{"system": BAND_SYSTEM, "code": f"{defn.id}.{score.band}", "display": text}], "text": text}
        )
    for flag in score.flags:
        out.append(
            {
                "coding": [{"system": FLAG_SYSTEM, "code": flag, "display": flag.replace("_", " ")}],
                "text": flag.replace("_", " "),
            }
        )
    return out


def _observation_code(defn: MeasureDefinition) -> dict[str, Any]:
    if defn.total is not None:
        text = f"{defn.name} total score"
        coding = _loinc_coding(defn.total.loinc) if defn.total.loinc else _own(f"{defn.id}.total", text)
        return {"coding": [coding], "text": text}
    coding = _loinc_coding(defn.loinc_panel) if defn.loinc_panel else _own(defn.id, defn.name)
    return {"coding": [coding], "text": defn.name}


def _panel_code(defn: MeasureDefinition) -> dict[str, Any]:
    coding = _loinc_coding(defn.loinc_panel) if defn.loinc_panel else _own(defn.id, defn.name)
    return {"coding": [coding], "text": defn.name}


def _base(code: dict[str, Any], patient: dict[str, str], effective: str, rid: str | None) -> dict[str, Any]:
    obs: dict[str, Any] = {"resourceType": "Observation"}
    if rid is not None:
        obs["id"] = rid
    obs.update(
        {
            "status": "final",
            "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}],
            "code": code,
            "subject": patient,
            "effectiveDateTime": effective,
        }
    )
    return obs


def _score_observation(
    defn: MeasureDefinition,
    score: Score,
    patient: dict[str, str],
    effective: str,
    rid: str | None,
    derived_from: Iterable[str],
    with_items: bool,
) -> dict[str, Any]:
    obs = _base(_observation_code(defn), patient, effective, rid)
    total = score.total
    if defn.total is None:
        obs.update(_absent("not-applicable"))
    elif total is None:
        obs.update(_absent("unknown"))  # not scorable: too many items missing
    elif isinstance(total, int):
        obs["valueInteger"] = total
    else:
        obs["valueQuantity"] = {"value": total, "unit": "{score}", "system": UCUM, "code": "{score}"}
    interpretation = _interpretation(defn, score)
    if interpretation:
        obs["interpretation"] = interpretation
    notes = _notes(defn, score)
    if notes:
        obs["note"] = notes
    source = {
        "items": "recomputed from the item answers",
        "prorated": "prorated from the item answers",
        "reported": "reported by the source, not recomputed from item answers",
    }.get(score.total_source or "", "not computed")
    obs["method"] = {"text": f"cocm_rules {defn.id} definition {score.definition_version}: total {source}"}
    refs = [{"reference": r} for r in derived_from]
    if refs:
        obs["derivedFrom"] = refs
    components = (_item_components(defn, score) if with_items else []) + _result_components(defn, score)
    if components:
        obs["component"] = components
    return obs


def score_to_observation(
    score: Score,
    patient_ref: str,
    effective: dt.date | dt.datetime | str,
    *,
    id: str | None = None,
    derived_from: Iterable[str] = (),
    library: MeasureLibrary | None = None,
) -> dict[str, Any]:
    """A computed :class:`~cocm_rules.Score` as one FHIR Observation (validated, R4B models).

    ``code`` is the total's LOINC code (PHQ-9 44261-6; the panel code for a measure without a
    total, e.g. C-SSRS 93373-9); the total is ``valueInteger`` (``valueQuantity`` in
    ``{score}`` when prorated); each answered item is a ``component`` with its LOINC code and
    LOINC answer (with its ordinalValue); derived results (C-SSRS level 93374-7, screens,
    provisional diagnoses) and subscores are components too; the band and flags are
    ``interpretation``. Elements resting on secondary or unconfirmed sources are marked (a
    ``urn:cocm-rules:source-status`` extension on the coding, and a ``note``).
    """
    lib = library if library is not None else load_measures()
    defn = lib.get_measure(score.measure)
    obs = _score_observation(defn, score, _patient(patient_ref), _effective(effective), id, derived_from, True)
    validate(obs)
    return obs


def score_to_bundle(
    score: Score,
    patient_ref: str,
    effective: dt.date | dt.datetime | str,
    *,
    items: Literal["component", "hasMember"] = "hasMember",
    bundle_type: Literal["collection", "transaction"] = "collection",
    derived_from: Iterable[str] = (),
    library: MeasureLibrary | None = None,
) -> dict[str, Any]:
    """A score as a Bundle: with ``items="hasMember"`` (US Core style) a panel Observation whose
    members are the total Observation and one Observation per answered item; with
    ``"component"`` the single Observation of :func:`score_to_observation`."""
    lib = library if library is not None else load_measures()
    defn = lib.get_measure(score.measure)
    patient = _patient(patient_ref)
    when = _effective(effective)
    seed = f"{patient_ref}|{score.measure}|{when}"
    if items == "component":
        resources = [_score_observation(defn, score, patient, when, _uid(seed, "total"), derived_from, True)]
    elif items == "hasMember":
        total = _score_observation(defn, score, patient, when, _uid(seed, "total"), derived_from, False)
        members = [total]
        for comp in _item_components(defn, score):
            item_obs = _base(comp["code"], patient, when, _uid(seed, comp["code"]["coding"][0]["code"]))
            item_obs.update({k: v for k, v in comp.items() if k != "code"})
            members.append(item_obs)
        panel = _base(_panel_code(defn), patient, when, _uid(seed, "panel"))
        panel["hasMember"] = [{"reference": f"urn:uuid:{m['id']}"} for m in members]
        if derived_from:
            panel["derivedFrom"] = [{"reference": r} for r in derived_from]
        resources = [panel, *members]
    else:
        raise InvalidInput("items must be 'component' or 'hasMember'", field="items", value=items)
    bundle = _bundle(resources, bundle_type)
    validate(bundle)
    return bundle


# -- alerts -> Flag, RiskAssessment, Task, DetectedIssue ------------------------------------------


def _uid(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "|".join(parts)))


def _bundle(resources: list[dict[str, Any]], bundle_type: str) -> dict[str, Any]:
    if bundle_type not in ("collection", "transaction"):
        raise InvalidInput("bundle_type must be 'collection' or 'transaction'", field="bundle_type", value=bundle_type)
    entries = []
    for r in resources:
        entry: dict[str, Any] = {"fullUrl": f"urn:uuid:{r['id']}", "resource": r}
        if bundle_type == "transaction":
            entry["request"] = {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}
        entries.append(entry)
    return {"resourceType": "Bundle", "type": bundle_type, "entry": entries}


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.date):
        return value.isoformat()
    return "unknown" if value is None else str(value)


def _rule_code(alert: Alert, text: str) -> dict[str, Any]:
    return {"coding": [{"system": RULE_SYSTEM, "code": alert.rule_id, "display": alert.title}], "text": text}


def _evidence_text(alert: Alert) -> str:
    return "; ".join(f"{k} = {_fmt(v)}" for k, v in alert.evidence.items())


def _alert_notes(alert: Alert) -> list[dict[str, str]]:
    notes = [
        {
            "text": f"Rule {alert.rule_id} ({alert.ruleset} {alert.ruleset_version}), as of {alert.as_of.isoformat()}; "
            f"category {alert.category}, severity {alert.severity}, priority {alert.priority}"
        },
        {"text": f"For: {', '.join(ROLE_LABELS.get(r, r) for r in alert.recipients)}"},
        {"text": f"Source: {alert.source}"},
    ]
    if alert.evidence:
        notes.append({"text": f"Evidence: {_evidence_text(alert)}"})
    return notes


def _identifier(alert: Alert, patient_ref: str) -> list[dict[str, str]]:
    return [{"system": RULE_SYSTEM, "value": f"{patient_ref}|{alert.rule_id}|{alert.as_of.isoformat()}"}]


def _flag(alert: Alert, patient: dict[str, str], rid: str) -> dict[str, Any]:
    return {
        "resourceType": "Flag",
        "id": rid,
        "identifier": _identifier(alert, patient["reference"]),
        "status": "active",
        "category": [
            {"coding": [{"system": FLAG_CATEGORY, "code": "safety", "display": "Safety"}]},
            {"coding": [{"system": CATEGORY_SYSTEM, "code": alert.category}]},
        ],
        "code": _rule_code(alert, alert.message),
        "subject": patient,
        "period": {"start": alert.as_of.isoformat()},
    }


def _risk_assessment(alert: Alert, patient: dict[str, str], rid: str) -> dict[str, Any]:
    prediction: dict[str, Any] = {"outcome": {"text": "suicide attempt or self-harm"}, "rationale": alert.message}
    level = alert.evidence.get("cssrs_screener.level")
    if level in RISK_LEVELS:
        prediction["qualitativeRisk"] = {
            "coding": [{"system": RISK_PROBABILITY, "code": level, "display": RISK_LEVELS[level]}],
            "text": f"C-SSRS screener: {level} risk",
        }
    return {
        "resourceType": "RiskAssessment",
        "id": rid,
        "identifier": _identifier(alert, patient["reference"]),
        "status": "final",
        "code": _rule_code(alert, alert.title),
        "method": {"text": f"cocm_rules rule {alert.rule_id} ({alert.ruleset} {alert.ruleset_version})"},
        "subject": patient,
        "occurrenceDateTime": alert.as_of.isoformat(),
        "prediction": [prediction],
        "mitigation": alert.action_text or alert.action,
        "note": _alert_notes(alert),
    }


def _detected_issue(alert: Alert, patient: dict[str, str], rid: str) -> dict[str, Any]:
    issue: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "id": rid,
        "identifier": _identifier(alert, patient["reference"]),
        "status": "final",
        "code": _rule_code(alert, alert.title),
        "severity": ISSUE_SEVERITY.get(alert.severity, "moderate"),
        "patient": patient,
        "identifiedDateTime": alert.as_of.isoformat(),
        "detail": alert.message,
    }
    if alert.evidence:
        issue["evidence"] = [{"code": [{"text": f"{k} = {_fmt(v)}"} for k, v in alert.evidence.items()]}]
    return issue


def _role(role: str) -> dict[str, Any]:
    label = ROLE_LABELS.get(role, role)
    return {"coding": [{"system": ROLE_SYSTEM, "code": role, "display": label}], "text": label}


def _task(alert: Alert, patient: dict[str, str], rid: str, reasons: list[str], roles: list[str]) -> dict[str, Any]:
    action: dict[str, Any] = {"system": ACTION_SYSTEM, "code": alert.action}
    if alert.action_text:
        action["display"] = alert.action_text
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": rid,
        "identifier": _identifier(alert, patient["reference"]),
        "status": "requested",
        "intent": "proposal",
        "priority": TASK_PRIORITY.get(alert.severity, "routine"),
        "code": {"coding": [action], "text": alert.action_text or alert.action.replace("_", " ")},
        "description": alert.message,
        "for": patient,
        "authoredOn": alert.as_of.isoformat(),
        "reasonCode": _rule_code(alert, alert.title),
        "performerType": [_role(role) for role in roles],
        "note": _alert_notes(alert),
    }
    if reasons:
        task["reasonReference"] = {"reference": f"urn:uuid:{reasons[0]}"}
    return task


def alerts_to_bundle(
    alerts: Iterable[Alert],
    patient_ref: str,
    *,
    bundle_type: Literal["collection", "transaction"] = "collection",
    consultant_actions: Iterable[str] = (),
) -> dict[str, Any]:
    """Alerts as FHIR resources a registry can store, in one Bundle (validated, R4B models).

    Every alert gives a ``Task``: its recommended action, with one ``performerType`` per
    recipient of the alert, in its order (the first is the one expected to act; code system
    ``urn:cocm-rules:role``: ``care_manager``, ``psychiatric_consultant``, ``pcp``), and the
    psychiatric consultant added when the action is in ``consultant_actions`` (e.g.
    :data:`CONSULTANT_ACTIONS`, for a host that routes by action). A ``suicide_risk``
    alert also gives a ``Flag`` (category safety) and a ``RiskAssessment`` (qualitativeRisk
    only when the alert's evidence holds a C-SSRS triage level); a ``treatment_to_target``
    alert gives a ``DetectedIssue``. The Task's reasonReference points to the Flag or
    DetectedIssue. Ids are stable UUIDs of (patient, rule, as_of, kind), so re-sending the
    same alerts (``bundle_type="transaction"``, PUT) does not duplicate them.
    """
    patient = _patient(patient_ref)
    consultant = set(consultant_actions)
    resources: list[dict[str, Any]] = []
    for alert in alerts:
        if not isinstance(alert, Alert):
            raise InvalidInput("alerts_to_bundle takes Alert objects", value=alert)
        seed = f"{patient_ref}|{alert.rule_id}|{alert.as_of.isoformat()}"
        reasons: list[str] = []
        if alert.category == SUICIDE_RISK:
            flag = _flag(alert, patient, _uid(seed, "Flag"))
            risk = _risk_assessment(alert, patient, _uid(seed, "RiskAssessment"))
            resources.extend([flag, risk])
            reasons.append(flag["id"])
        elif alert.category == "treatment_to_target":
            issue = _detected_issue(alert, patient, _uid(seed, "DetectedIssue"))
            resources.append(issue)
            reasons.append(issue["id"])
        roles: list[str] = list(alert.recipients)
        if alert.action in consultant and "psychiatric_consultant" not in roles:
            roles.append("psychiatric_consultant")
        resources.append(_task(alert, patient, _uid(seed, "Task"), reasons, roles))
    bundle = _bundle(resources, bundle_type)
    validate(bundle)
    return bundle

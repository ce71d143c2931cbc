"""Episode facts of medical outcomes: the latest vital signs and laboratory results (each in
one unit), the tobacco smoking status, and the antipsychotic treatment that sets the metabolic
monitoring schedule (how long since each check, where each check falls in the treatment, and
the weight gained since it started).

Values are converted from the unit the host sent to the unit in the fact's name
(:mod:`cocm_rules._units`); only observations dated on or before as_of count. Which checks are
due, and which values are out of range, is decided by rulesets (``rulesets/smi_medical.yaml``),
where every number has its source.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from .._units import CANONICAL_UNITS, to_canonical
from ..episode import SMOKING_STATUSES
from ..light_episode import AnyObservation
from .rows import ViewFn, episode_fact
from .spec import Fact, round_fact
from .view import EpisodeView

__all__ = ["CHECKS", "EPISODE_FACTS", "KINDS"]

#: Each numeric kind of observation: the stem of its fact names, the unit as written in a
#: name, and what it is in words.
KINDS: dict[str, tuple[str, str, str]] = {
    "body_weight": ("weight", "kg", "body weight"),
    "bmi": ("bmi", "kg_m2", "body mass index"),
    "systolic_bp": ("systolic_bp", "mm_hg", "systolic blood pressure"),
    "diastolic_bp": ("diastolic_bp", "mm_hg", "diastolic blood pressure"),
    "hba1c": ("hba1c", "percent", "HbA1c (NGSP %; IFCC mmol/mol is converted)"),
    "glucose": ("glucose", "mg_dl", "plasma glucose, random or not said to be fasting"),
    "fasting_glucose": ("fasting_glucose", "mg_dl", "fasting plasma glucose"),
    "ldl": ("ldl", "mg_dl", "LDL cholesterol (calculated or direct)"),
    "total_cholesterol": ("total_cholesterol", "mg_dl", "total cholesterol"),
    "hdl": ("hdl", "mg_dl", "HDL cholesterol"),
    "triglycerides": ("triglycerides", "mg_dl", "triglycerides"),
}
#: The checks of the metabolic monitoring schedule and the observations that count as each.
CHECKS: dict[str, tuple[tuple[str, ...], str]] = {
    "weight": (("body_weight", "bmi"), "a body weight or BMI"),
    "bp": (("systolic_bp", "diastolic_bp"), "a blood pressure"),
    "glucose": (("fasting_glucose", "glucose", "hba1c"), "a plasma glucose (fasting or not) or HbA1c"),
    "lipid": (("ldl", "total_cholesterol", "hdl", "triglycerides"), "a cholesterol (total, LDL, HDL) or triglycerides"),
}

Series = dict[str, list[AnyObservation]]


def _series_of(v: EpisodeView) -> Series:
    """Observations dated on or before as_of, by kind, in date order (same-date ones in the
    order sent: the later in the list is the latest)."""
    out: Series = {}
    observations: list[AnyObservation] = list(v.episode.observations)
    entries = sorted(((o.date, i, o) for i, o in enumerate(observations) if o.date <= v.as_of), key=lambda e: e[:2])
    for _, _, o in entries:
        out.setdefault(o.kind, []).append(o)
    return out


def _series(v: EpisodeView, kind: str) -> list[AnyObservation]:
    return v.memo("medical.series", _series_of).get(kind, [])


def _latest(v: EpisodeView, kind: str) -> AnyObservation | None:
    s = _series(v, kind)
    return s[-1] if s else None


def _value(o: AnyObservation | None) -> Any:
    if o is None:
        return None
    assert o.value is not None
    assert o.unit is not None
    return round_fact(to_canonical(o.kind, o.value, o.unit))


def _kind_facts() -> Iterator[Fact]:
    for kind, (stem, suffix, what) in KINDS.items():
        yield episode_fact(
            f"{stem}_latest_{suffix}",
            "number",
            f"the latest {what}, in {CANONICAL_UNITS[kind]}",
            _latest_value(kind),
            unit=CANONICAL_UNITS[kind],
            minimum=0,
            group="medical",
        )
        yield episode_fact(
            f"{stem}_latest_date", "date", f"date of the latest {what}", _latest_date(kind), group="medical"
        )
        yield episode_fact(
            f"days_since_{stem}",
            "integer",
            f"days since the latest {what}",
            _days_since(kind),
            unit="days",
            minimum=0,
            group="medical",
        )


def _latest_value(kind: str) -> ViewFn:
    return lambda v: _value(_latest(v, kind))


def _latest_date(kind: str) -> ViewFn:
    def date(v: EpisodeView) -> dt.date | None:
        o = _latest(v, kind)
        return None if o is None else o.date

    return date


def _days_since(kind: str) -> ViewFn:
    return lambda v: v.days(_latest_date(kind)(v))


# -- antipsychotic treatment and the monitoring schedule -------------------------------------------


def _antipsychotic_start(v: EpisodeView) -> dt.date | None:
    """Start of the current antipsychotic treatment: the latest start among antipsychotics
    started on or before as_of and not stopped by then (a switch or an added antipsychotic
    starts the schedule again)."""
    starts = [
        m.start_date
        for m in v.episode.medications
        if m.kind == "antipsychotic" and m.start_date <= v.as_of and (m.stop_date is None or m.stop_date > v.as_of)
    ]
    return max(starts) if starts else None


def _start(v: EpisodeView) -> dt.date | None:
    return v.memo("medical.antipsychotic_start", _antipsychotic_start)


def _check_date(v: EpisodeView, check: str) -> dt.date | None:
    dates = [o.date for kind in CHECKS[check][0] if (o := _latest(v, kind)) is not None]
    return max(dates) if dates else None


def _check_from_start(check: str) -> ViewFn:
    def days(v: EpisodeView) -> int | None:
        start, done = _start(v), _check_date(v, check)
        return None if start is None or done is None else (done - start).days

    return days


def _check_facts() -> Iterator[Fact]:
    for check, (_, what) in CHECKS.items():
        yield episode_fact(
            f"days_since_{check}_check",
            "integer",
            f"days since the latest {what} (any of them counts as the {check} check)",
            _days_since_check(check),
            unit="days",
            minimum=0,
            group="medical",
        )
    for check, (_, what) in CHECKS.items():
        if check == "weight":
            continue  # the weight schedule is read from days_since_weight_check alone
        yield episode_fact(
            f"{check}_check_days_from_antipsychotic_start",
            "integer",
            f"days from the start of the current antipsychotic treatment to the latest {what} "
            "(negative when it came before the start); missing when not on an antipsychotic or never checked",
            _check_from_start(check),
            unit="days",
            group="medical",
        )


def _days_since_check(check: str) -> ViewFn:
    return lambda v: v.days(_check_date(v, check))


def _weight_reference(v: EpisodeView) -> AnyObservation | None:
    """The weight the gain on an antipsychotic is measured from: the latest body weight dated
    on or before the start of the current treatment, else the first one after it."""
    start = _start(v)
    weights = _series(v, "body_weight")
    if start is None or not weights:
        return None
    before = [o for o in weights if o.date <= start]
    return before[-1] if before else weights[0]


def _reference(v: EpisodeView) -> AnyObservation | None:
    return v.memo("medical.weight_reference", _weight_reference)


def _weight_gain(v: EpisodeView) -> Any:
    ref, latest = _reference(v), _latest(v, "body_weight")
    if ref is None or latest is None or latest is ref:
        return None
    base = _value(ref)
    return round_fact((_value(latest) - base) / base)


def _reference_date(v: EpisodeView) -> dt.date | None:
    ref = _reference(v)
    return None if ref is None else ref.date


def _smoking(v: EpisodeView) -> AnyObservation | None:
    return _latest(v, "smoking_status")


def _smoking_date(v: EpisodeView) -> dt.date | None:
    o = _smoking(v)
    return None if o is None else o.date


EPISODE_FACTS = (
    *_kind_facts(),
    episode_fact(
        "smoking_status",
        "text",
        "the latest tobacco smoking status (current_every_day, current_some_days, current: frequency "
        "not known, former, never, unknown)",
        lambda v: None if (o := _smoking(v)) is None else o.status,
        allowed=SMOKING_STATUSES,
        group="medical",
    ),
    episode_fact(
        "smoking_status_date", "date", "date of the latest tobacco smoking status", _smoking_date, group="medical"
    ),
    episode_fact(
        "days_since_smoking_status",
        "integer",
        "days since the latest tobacco smoking status",
        lambda v: v.days(_smoking_date(v)),
        unit="days",
        minimum=0,
        group="medical",
    ),
    episode_fact(
        "on_antipsychotic",
        "boolean",
        "an antipsychotic listed in medications was started on or before as_of and not stopped by then "
        "(false when none is listed: a host may not send medications)",
        lambda v: _start(v) is not None,
        group="medical",
    ),
    episode_fact(
        "antipsychotic_start_date",
        "date",
        "start of the current antipsychotic treatment: the latest start among the antipsychotics "
        "taken as of as_of (a switch starts the monitoring schedule again)",
        _start,
        group="medical",
    ),
    episode_fact(
        "weeks_on_antipsychotic",
        "integer",
        "whole weeks since the start of the current antipsychotic treatment",
        lambda v: None if (d := v.days(_start(v))) is None else d // 7,
        unit="weeks",
        minimum=0,
        group="medical",
    ),
    *_check_facts(),
    episode_fact(
        "weight_at_antipsychotic_start_kg",
        "number",
        "the body weight the gain on the current antipsychotic is measured from: the latest on or "
        "before its start, else the first after it, in kg",
        lambda v: _value(_reference(v)),
        unit="kg",
        minimum=0,
        group="medical",
    ),
    episode_fact(
        "weight_at_antipsychotic_start_date",
        "date",
        "date of weight_at_antipsychotic_start_kg",
        _reference_date,
        group="medical",
    ),
    episode_fact(
        "weight_pct_gain_on_antipsychotic",
        "number",
        "(latest body weight - weight_at_antipsychotic_start_kg) / weight_at_antipsychotic_start_kg, a "
        "fraction: 0.05 when 5% heavier, negative after a loss; missing when not on an antipsychotic "
        "or without a later weight",
        _weight_gain,
        unit="fraction",
        minimum=-1,
        group="medical",
    ),
)

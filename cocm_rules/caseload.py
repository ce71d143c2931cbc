"""Caseload metrics for a Collaborative Care team, overall and per care manager.

The definitions, their numbers and sources are data (``metrics/caseload.yaml``); this module
only counts, and every metric carries a label that states its definition. Each rate carries
its numerator and denominator so a reader can check it:

* ``caseload_size`` - patients in the active caseload (active treatment or relapse prevention
  plan); per care manager it is compared with the AIMS Center's caseload size guidance for the
  team's payer mix, scaled by the care manager's FTE (``caseload_size_target``);
* ``contacted`` - active patients with a contact *with the patient* in the period (the 30 days
  up to ``as_of``): by contact kind, so a case review without the patient does not count;
* ``follow_up_measure`` - active patients with a follow-up administration (not their first) of a
  tracked measure in the period;
* per improvement measure (PHQ-9, GAD-7), in the **episode cohort** (patients enrolled in the
  365 days up to ``as_of``, whatever their status now: a discharged patient counts with the last
  measurements of the episode), among those with a baseline at or above the cut-off and a
  follow-up: ``improved_50`` (latest at least 50% below baseline, the measure's response
  target), ``significantly_improved`` (PHQ-9 < 10 or at least 50% below baseline, Bauer 2016),
  ``remission`` (latest below the remission target) and ``median_weeks_to_response``;
* ``cms159_remission_12m`` - a CMS159-style rate: patients whose first PHQ-9 or PHQ-A
  (PHQ-9M) > 9 (the index) is old enough that the 12 months +/- 60 days window has closed;
  remitted if the most recent PHQ-9 or PHQ-A in the window is below 5;
* ``smi`` - among the active patients of the serious-mental-illness program, the share at
  target on each SMI measure (ASRM, BPRS, psychosis dimensions, WHODAS-12, RAS-R), by the
  targets the definitions give (team choices where no source defines one, labelled so).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ._once import episodes_once
from ._text import join, show, suggest
from ._validation import StrictModel, problems_from
from ._yaml import Document, YamlError, load_file
from .episode import CONTACT_KINDS, PROGRAMS, STATUSES, Episode
from .errors import InvalidInput, MeasureDefinitionError, Problem
from .facts import EpisodeView, ScoredAssessment
from .facts.series import total_of
from .facts.targets import responded
from .measures import MeasureLibrary, data_dir, load_measures
from .records import RecordError

__all__ = [
    "CaseloadCounter",
    "CaseloadMetrics",
    "CaseloadPart",
    "CaseloadSizeCheck",
    "Cohort",
    "ImprovementMetrics",
    "MetricDefinitions",
    "PatientOutcome",
    "Rate",
    "SmiMetrics",
    "SmiTargetMetrics",
    "caseload_metrics",
    "load_metric_definitions",
]

Status = Literal["confirmed", "secondary", "unconfirmed", "team_choice"]


# -- the definitions (metrics/caseload.yaml) -------------------------------------------------------


class _Sourced(StrictModel):
    status: Status
    source: str = Field(min_length=1)


class _ListSetting(_Sourced):
    value: list[str] = Field(min_length=1)


class _DaysSetting(_Sourced):
    value: int = Field(ge=1, le=36_600)


class _TextSetting(_Sourced):
    value: str


class _SignificantImprovement(_Sourced):
    below: int
    min_reduction: float = Field(gt=0, le=1)


class _Improvement(_Sourced):
    measure: str
    baseline_at_least: int
    significant_improvement: _SignificantImprovement | None = None


class _Cohort(StrictModel):
    enrolled_within_days: _DaysSetting


class _Cms159(_Sourced):
    measures: list[str]  # one series: PHQ-9 and PHQ-9M (PHQ-A)
    index_above: int
    remission_below: int
    months: int
    window_days: int


class _SizeRange(StrictModel):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = Field(min_length=1)
    per_fte: list[int] = Field(min_length=2, max_length=2)

    @model_validator(mode="after")
    def _ordered(self) -> _SizeRange:
        low, high = self.per_fte
        if not 0 < low <= high:
            raise ValueError(f"per_fte must be [low, high] with 0 < low <= high (got {self.per_fte})")
        return self


class _CaseloadSize(_Sourced):
    payer_mix: _TextSetting
    ranges: list[_SizeRange] = Field(min_length=1)


class _SmiTarget(_Sourced):
    measure: str
    total_below: int | None = None
    total_at_most: int | None = None
    items: list[str] | None = Field(None, min_length=1)
    items_at_most: int | None = None
    not_worse_than_baseline: bool = False

    @model_validator(mode="after")
    def _one_kind(self) -> _SmiTarget:
        kinds = [
            self.total_below is not None,
            self.total_at_most is not None,
            self.items is not None or self.items_at_most is not None,
            self.not_worse_than_baseline,
        ]
        if sum(kinds) != 1:
            raise ValueError(
                "a target needs exactly one of: total_below, total_at_most, items with items_at_most, "
                "not_worse_than_baseline: true"
            )
        if (self.items is None) != (self.items_at_most is None):
            raise ValueError("items and items_at_most go together")
        return self


class _Smi(StrictModel):
    programs: _ListSetting
    targets: list[_SmiTarget]


class MetricDefinitions(StrictModel):
    """``metrics/caseload.yaml``: the sourced definitions the metrics use."""

    metrics: str
    version: str
    description: str
    active_statuses: _ListSetting
    period_days: _DaysSetting
    contact_kinds: _ListSetting
    tracked_measures: _ListSetting
    cohort: _Cohort
    improvement: list[_Improvement]
    cms159: _Cms159
    caseload_size: _CaseloadSize
    smi: _Smi


@cache
def load_metric_definitions(path: str | None = None) -> MetricDefinitions:
    """Load (and cache) the metric definitions; the bundled file by default.

    Raises :class:`~cocm_rules.MeasureDefinitionError` listing every mistake as
    ``file:line:column`` (a misspelt key, a status, contact kind, registry status or program
    that does not exist, a payer mix with no range).
    """
    file = Path(path) if path else data_dir("metrics") / "caseload.yaml"
    try:
        doc = load_file(file)
    except YamlError as e:
        raise MeasureDefinitionError(e.problems) from e
    try:
        defs = MetricDefinitions.model_validate(doc.data)
    except ValidationError as e:
        raise MeasureDefinitionError(problems_from(e, doc, MetricDefinitions)) from e
    problems = _check(defs, doc)
    if problems:
        raise MeasureDefinitionError(problems)
    return defs


def _check_values(
    doc: Document, path: tuple[str, ...], values: list[str], allowed: Iterable[str], why: dict[str, str] | None = None
) -> list[Problem]:
    allowed = list(allowed)
    return [
        doc.problem(
            (*path, i),
            f"{show(v)} is not allowed" + (f": {why[v]}" if why and v in why else ""),
            allowed=join(allowed),
            suggestion=suggest(v, allowed),
        )
        for i, v in enumerate(values)
        if v not in allowed
    ]


def _check(defs: MetricDefinitions, doc: Document) -> list[Problem]:
    """What the schema cannot say: values from the episode's vocabularies, the payer mix."""
    problems = _check_values(doc, ("active_statuses", "value"), defs.active_statuses.value, STATUSES)
    kinds = defs.contact_kinds.value
    with_patient = [k for k in CONTACT_KINDS if k != "case_review"]
    why = {
        "case_review": "a systematic case review is held without the patient, so it is not a contact with the patient"
    }
    problems += _check_values(doc, ("contact_kinds", "value"), kinds, with_patient, why)
    problems += _check_values(doc, ("smi", "programs", "value"), defs.smi.programs.value, PROGRAMS)
    problems += _check_measures(defs, doc)
    ids = [r.id for r in defs.caseload_size.ranges]
    for i, rid in enumerate(ids):
        if rid in ids[:i]:
            problems.append(doc.problem(("caseload_size", "ranges", i, "id"), f"range {rid!r} is defined twice"))
    mix = defs.caseload_size.payer_mix.value
    if mix not in ids:
        problems.append(
            doc.problem(
                ("caseload_size", "payer_mix", "value"),
                f"{show(mix)} is not a range id",
                allowed=join(ids),
                suggestion=suggest(mix, ids),
            )
        )
    return problems


def _check_measures(defs: MetricDefinitions, doc: Document) -> list[Problem]:
    """Measure ids and items against the bundled measures."""
    lib = load_measures()
    known = sorted(lib.ids)
    named: list[tuple[tuple[str | int, ...], str]] = [
        *((("tracked_measures", "value", i), m) for i, m in enumerate(defs.tracked_measures.value)),
        *((("improvement", i, "measure"), x.measure) for i, x in enumerate(defs.improvement)),
        *((("cms159", "measures", i), m) for i, m in enumerate(defs.cms159.measures)),
        *((("smi", "targets", i, "measure"), t.measure) for i, t in enumerate(defs.smi.targets)),
    ]
    problems = [
        doc.problem(path, f"{show(m)} is not a measure id", allowed=join(known), suggestion=suggest(m, known))
        for path, m in named
        if m not in lib.ids
    ]
    for i, t in enumerate(defs.smi.targets):
        defn = lib.get(t.measure)
        if defn is None or t.items is None:
            continue  # an unknown measure is reported above
        items = [it.id for it in defn.items]
        for j, item in enumerate(t.items):
            if item not in items:
                problems.append(
                    doc.problem(
                        ("smi", "targets", i, "items", j),
                        f"{show(item)} is not an item of {t.measure}",
                        allowed=join(items),
                        suggestion=suggest(item, items),
                    )
                )
    return problems


# -- the metrics -----------------------------------------------------------------------------------


class Rate(BaseModel):
    """A proportion with its parts (``percent`` is None when the denominator is 0) and the
    label that states its definition."""

    model_config = ConfigDict(frozen=True)

    numerator: int
    denominator: int
    percent: float | None
    label: str = ""

    @classmethod
    def of(cls, numerator: int, denominator: int, label: str = "") -> Rate:
        """Build a rate, rounding the percentage to one decimal."""
        return cls(
            numerator=numerator,
            denominator=denominator,
            percent=round(100 * numerator / denominator, 1) if denominator else None,
            label=label,
        )


class Cohort(BaseModel):
    """The episode cohort of the improvement metrics: patients enrolled from ``enrolled_from``
    to ``enrolled_to`` (``as_of``), whatever their status now."""

    model_config = ConfigDict(frozen=True)

    enrolled_from: dt.date
    enrolled_to: dt.date
    patients: int
    label: str


class ImprovementMetrics(BaseModel):
    """Improvement on one measure in the episode cohort, among patients who started at or above
    its cut-off and have a follow-up (``without_follow_up`` counts those who have none yet)."""

    model_config = ConfigDict(frozen=True)

    measure: str
    baseline_at_least: int
    label: str
    without_follow_up: int
    improved_50: Rate
    significantly_improved: Rate | None = None
    remission: Rate | None
    median_weeks_to_response: float | None
    median_weeks_to_response_label: str = ""
    unconfirmed: list[str] = Field(default_factory=list)


class SmiTargetMetrics(BaseModel):
    """The share at target on one SMI measure (``status`` is the target's), among the SMI
    patients measured; ``not_measured`` counts those without a usable measurement."""

    model_config = ConfigDict(frozen=True)

    measure: str
    status: Status
    at_target: Rate
    not_measured: int


class SmiMetrics(BaseModel):
    """The SMI metrics: the active patients of the SMI programs and their share at target."""

    model_config = ConfigDict(frozen=True)

    programs: list[str]
    patients: int
    targets: list[SmiTargetMetrics]


class CaseloadSizeCheck(BaseModel):
    """One care manager's caseload size against the range for the team's payer mix, scaled by
    the care manager's FTE (``fte_assumed``: no FTE was given, 1.0 was used)."""

    model_config = ConfigDict(frozen=True)

    payer_mix: str
    label: str
    fte: float
    fte_assumed: bool
    low: float
    high: float
    caseload_size: int
    position: Literal["below", "within", "above"]


class CaseloadMetrics(BaseModel):
    """Metrics for a caseload (or one care manager's part of it)."""

    model_config = ConfigDict(frozen=True)

    as_of: dt.date
    period_start: dt.date
    records: int = Field(description="records evaluated (valid episodes)")
    caseload_size: int = Field(description="patients in the active caseload")
    caseload_size_label: str = ""
    caseload_size_target: CaseloadSizeCheck | None = Field(
        None, description="per care manager: the caseload size against the guidance for the team's payer mix"
    )
    by_status: dict[str, int]
    by_program: dict[str, int] = Field(default_factory=dict)
    contacted: Rate
    follow_up_measure: Rate
    cohort: Cohort
    improvement: list[ImprovementMetrics]
    cms159_remission_12m: Rate
    smi: SmiMetrics
    per_care_manager: dict[str, CaseloadMetrics] = Field(default_factory=dict)
    errors: list[RecordError] = Field(default_factory=list)


def _days_before(d: dt.date, days: int) -> dt.date:
    """``d`` minus ``days`` days, clamped to the first representable date."""
    return d - dt.timedelta(days=days) if (d - dt.date.min).days >= days else dt.date.min


def _add_months(d: dt.date, months: int) -> dt.date | None:
    """``d`` plus ``months`` calendar months (the day clamped to the month's last), or None
    past the last representable date (year 9999)."""
    month = d.month - 1 + months
    year, month = d.year + month // 12, month % 12 + 1
    if year > dt.MAXYEAR:
        return None
    day = min(
        d.day,
        [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][
            month - 1
        ],
    )
    return dt.date(year, month, day)


def _words(values: Iterable[str], conj: str = "or") -> str:
    """``a, b or c`` (``conj``) with underscores as spaces."""
    items = [v.replace("_", " ") for v in values]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {conj} " + items[-1]


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


@dataclass(frozen=True)
class _ImprovementSpec:
    """One improvement measure, worked out: its numbers, notes and labels."""

    spec: _Improvement
    share: float | None  # the response target's reduction
    below: int | None  # the remission target
    lo: int  # the scale's floor
    notes: list[str]
    labels: dict[str, str]


@dataclass(frozen=True)
class _SmiSpec:
    """One SMI target, worked out: the measure's direction and the label."""

    spec: _SmiTarget
    higher_is_better: bool
    label: str


class _Prepared:
    """What every patient is measured against, worked out once per call."""

    def __init__(self, as_of: dt.date, lib: MeasureLibrary, defs: MetricDefinitions) -> None:
        self.as_of = as_of
        self.lib = lib
        self.defs = defs
        self.start = _days_before(as_of, defs.period_days.value - 1)
        self.cohort_start = _days_before(as_of, defs.cohort.enrolled_within_days.value - 1)
        self.active = frozenset(defs.active_statuses.value)
        self.contact_kinds = frozenset(defs.contact_kinds.value)
        self.tracked = tuple(defs.tracked_measures.value)
        self.smi_programs = frozenset(defs.smi.programs.value)
        for m in (*self.tracked, *defs.cms159.measures):
            lib.get_measure(m)  # an unknown measure is an error, not an empty series
        self.improvement = [self._improvement(spec) for spec in defs.improvement]
        self.smi = [self._smi(t) for t in defs.smi.targets]
        self.measures = frozenset(
            [*self.tracked, *defs.cms159.measures, *(s.measure for s in defs.improvement)]
            + [t.measure for t in defs.smi.targets]
        )
        self.labels = self._labels()

    def _labels(self) -> dict[str, str]:
        d = self.defs
        period = f"in the {d.period_days.value} days up to as_of ({self.start} to {self.as_of})"
        tracked = _words(self.lib.get_measure(m).label for m in self.tracked)
        index = _words(self.lib.get_measure(m).label for m in d.cms159.measures)
        return {
            "caseload_size": f"active caseload: patients with status {_words(d.active_statuses.value)}",
            "contacted": f"active patients with a contact with the patient ({_words(d.contact_kinds.value)}; "
            f"a case review without the patient is not one) {period}",
            "follow_up_measure": f"active patients with a follow-up {tracked} (not their first) {period}",
            "cohort": f"episode cohort: patients enrolled in the {d.cohort.enrolled_within_days.value} days up to "
            f"as_of ({self.cohort_start} to {self.as_of}), any status; discharged and inactive patients count "
            "with their last measurements",
            "cms159": f"CMS159-style remission at 12 months: first {index} "
            f"> {d.cms159.index_above}, most recent in {d.cms159.months} months +/- {d.cms159.window_days} days "
            f"< {d.cms159.remission_below} (registry data; the measure's exclusions are not applied)",
        }

    def _improvement(self, spec: _Improvement) -> _ImprovementSpec:
        defn = self.lib.get_measure(spec.measure)
        targets = defn.targets
        share = targets.response.min_reduction if targets and targets.response else None
        below = targets.remission.below if targets and targets.remission else None
        lo = defn.total.range[0] if defn.total else 0
        notes = []
        for name in ("response", "remission"):
            t = getattr(targets, name, None) if targets else None
            if t is not None and t.status in ("secondary", "unconfirmed"):
                notes.append(f"{spec.measure} {name} definition is {t.status} ({t.source})")
        sig = spec.significant_improvement
        if sig is not None and sig.status in ("secondary", "unconfirmed"):
            notes.append(f"{spec.measure} significant improvement definition is {sig.status} ({sig.source})")
        name = defn.label
        flag = " (definition unconfirmed)" if notes else ""
        who = f"baseline >= {spec.baseline_at_least}, a follow-up; episode cohort"
        labels = {
            "population": f"{name}: cohort patients with a baseline >= {spec.baseline_at_least}",
            "improved_50": f"{name} >= {_num(round(100 * share, 1))}% improvement at the latest ({who}){flag}"
            if share is not None
            else f"{name}: no response target defined",
            "remission": f"{name} remission: latest < {below} ({who}){flag}" if below is not None else "",
            "median": f"{name} median weeks from baseline to the first response ({who})",
        }
        if sig is not None:
            labels["significantly_improved"] = (
                f"{name} < {sig.below} or >= {_num(round(100 * sig.min_reduction, 1))}% improvement at the latest "
                f"({who}; clinically significant improvement, Bauer 2016){flag}"
            )
        return _ImprovementSpec(spec, share, below, lo, notes, labels)

    def _smi(self, t: _SmiTarget) -> _SmiSpec:
        defn = self.lib.get_measure(t.measure)
        if t.items is not None:
            known = [i.id for i in defn.items]
            wrong = [i for i in t.items if i not in known]
            if wrong:
                raise MeasureDefinitionError(
                    [
                        Problem(
                            f"smi target {t.measure!r}: {join(wrong)} is not an item of {t.measure}",
                            file="metrics/caseload.yaml",
                            allowed=join(known),
                            suggestion=suggest(wrong[0], known),
                        )
                    ]
                )
        better = defn.targets is not None and defn.targets.higher_is == "better"
        name = defn.label if defn.label != defn.id else defn.id.replace("_", " ")
        measured = f"a valid {name}"
        if t.total_below is not None:
            rule = f"total < {t.total_below}"
        elif t.total_at_most is not None:
            rule = f"total <= {t.total_at_most}"
        elif t.items is not None:
            every = set(t.items) == {i.id for i in defn.items}
            rule = (
                f"every item <= {t.items_at_most}" if every else f"{_words(t.items, 'and')} each <= {t.items_at_most}"
            )
        else:
            rule = f"latest total no {'lower' if better else 'higher'} than the baseline"
            measured = f"a valid baseline {name} and a later one"
        status = "team_choice: no published target" if t.status == "team_choice" else t.status
        label = f"{name} at target: {rule} ({status}); among active SMI-program patients with {measured}"
        return _SmiSpec(t, better, label)


@dataclass(frozen=True, slots=True)
class PatientOutcome:
    """What the caseload metrics count of one patient: a few flags and numbers, no episode.

    Made by :meth:`CaseloadCounter.outcome` and counted by :meth:`CaseloadCounter.add`. Its
    values are plain (text, booleans, whole numbers, tuples of them, None), so a host that
    reduces patients in other processes or machines can ship it: ``dataclasses.astuple(outcome)``
    there, ``PatientOutcome(*values)`` here (lists in place of tuples are read the same).
    """

    status: str
    care_manager: str | None
    #: in the active caseload (an active status)
    active: bool
    #: active, with a contact with the patient (a contact kind of the definitions) in the period
    contacted: bool
    #: active, with a follow-up administration of a tracked measure in the period
    follow_up: bool
    #: per improvement measure, in the definitions' order: None (not in the denominators: outside
    #: the episode cohort, no valid baseline, or a baseline below the cut-off) or (followed up,
    #: improved by the response target, significantly improved, remitted, days from baseline to
    #: the first response or None); all False and None when not followed up
    improvement: tuple[tuple[bool, bool, bool, bool, int | None] | None, ...]
    #: None (not in the CMS159 denominator) or whether remitted
    cms159: bool | None
    #: the episode's program (cocm, smi)
    program: str
    #: enrolled within the episode cohort's period
    in_cohort: bool
    #: None (not an active patient of an SMI program) or, per SMI target in the definitions'
    #: order, whether at target (None: no usable measurement)
    smi: tuple[bool | None, ...] | None


def _outcome(ep: Episode, p: _Prepared) -> PatientOutcome:
    """Reduce one patient to what the metrics count, from the series the facts read."""
    as_of, start = p.as_of, p.start
    active = ep.status in p.active
    view = EpisodeView(ep, as_of, p.lib)
    series: dict[str, list[ScoredAssessment]] = {}
    for m in view.administered & p.measures:
        s = view.series(m)
        if s is not None:
            series[m] = [a for a in s.admins if s.is_valid(a)]
    in_cohort = p.cohort_start <= ep.enrollment_date <= as_of
    kinds = p.contact_kinds
    return PatientOutcome(
        status=ep.status,
        care_manager=ep.care_manager,
        active=active,
        contacted=active and any(c.kind in kinds and start <= c.date <= as_of for c in ep.contacts),
        follow_up=active and any(start <= a.date <= as_of for m in p.tracked for a in series.get(m, [])[1:]),
        improvement=tuple(_improvement(series, spec) if in_cohort else None for spec in p.improvement),
        cms159=_cms159(series, as_of, p.defs.cms159),
        program=ep.program,
        in_cohort=in_cohort,
        smi=tuple(_at_target(series.get(t.spec.measure, []), t) for t in p.smi)
        if active and ep.program in p.smi_programs
        else None,
    )


def _improvement(
    series: dict[str, list[ScoredAssessment]], imp: _ImprovementSpec
) -> tuple[bool, bool, bool, bool, int | None] | None:
    spec, share, below, lo = imp.spec, imp.share, imp.below, imp.lo
    valid = series.get(spec.measure, [])  # valid administrations, in date order
    if not valid or total_of(valid[0]) < spec.baseline_at_least:
        return None
    if len(valid) < 2:
        return False, False, False, False, None
    base, latest = total_of(valid[0]), total_of(valid[-1])
    improved = share is not None and responded(latest, base, share, lo)
    sig = spec.significant_improvement
    significant = sig is not None and (latest < sig.below or responded(latest, base, sig.min_reduction, lo))
    remitted = below is not None and latest < below
    days = None
    if share is not None:
        first = next((a for a in valid[1:] if responded(total_of(a), base, share, lo)), None)
        days = None if first is None else (first.date - valid[0].date).days
    return True, improved, significant, remitted, days


def _at_target(valid: list[ScoredAssessment], t: _SmiSpec) -> bool | None:
    """Whether the latest valid administration is at the target (None: not measured, or, for a
    target against the baseline, no follow-up)."""
    spec = t.spec
    if not valid:
        return None
    latest = valid[-1]
    if spec.not_worse_than_baseline:
        if len(valid) < 2:
            return None
        base, last = total_of(valid[0]), total_of(latest)
        return bool(last >= base if t.higher_is_better else last <= base)
    if spec.items is not None:
        answers = latest.score.answers if latest.score is not None else {}
        limit = spec.items_at_most
        assert limit is not None
        return all((v := answers.get(i)) is not None and v <= limit for i in spec.items)
    total = total_of(latest)
    if spec.total_below is not None:
        return bool(total < spec.total_below)
    return bool(total <= spec.total_at_most)


def _cms159(series: dict[str, list[ScoredAssessment]], as_of: dt.date, spec: _Cms159) -> bool | None:
    valid = sorted([a for m in spec.measures for a in series.get(m, [])], key=lambda a: (a.date, a.index))
    index = next((a for a in valid if a.score.total > spec.index_above), None)  # type: ignore[union-attr,operator]
    if index is None:
        return None
    anniversary = _add_months(index.date, spec.months)
    if anniversary is None or (dt.date.max - anniversary).days < spec.window_days:
        return None  # the window would end after the last representable date: it has not closed
    lo, hi = _days_before(anniversary, spec.window_days), anniversary + dt.timedelta(days=spec.window_days)
    if hi > as_of:
        return None  # the window has not closed yet
    in_window = [a for a in valid if lo <= a.date <= hi]
    return bool(in_window) and in_window[-1].score.total < spec.remission_below  # type: ignore[union-attr,operator]


class _Tally:
    """Running counts of one group of patients (all of them, or one care manager's): a fixed
    number of integers, plus the days to response counted by value for the median."""

    def __init__(self, p: _Prepared) -> None:
        self.records = self.active = self.contacted = self.follow_up = self.cohort = 0
        self.by_status: Counter[str] = Counter()
        self.by_program: Counter[str] = Counter()
        #: per improvement measure: [baseline at or above the cut-off, followed up, improved,
        #: significantly improved, remitted]
        self.improvement = [[0, 0, 0, 0, 0] for _ in p.improvement]
        #: per improvement measure: days from baseline to response -> patients (a few hundred values at most)
        self.response_days: list[Counter[int]] = [Counter() for _ in p.improvement]
        self.cms159 = [0, 0]  # denominator, remitted
        self.smi_patients = 0
        self.smi = [[0, 0] for _ in p.smi]  # measured, at target

    def add(self, o: PatientOutcome) -> None:
        self.records += 1
        self.by_status[o.status] += 1
        self.by_program[o.program] += 1
        if o.active:
            self.active += 1
            self.contacted += o.contacted
            self.follow_up += o.follow_up
        self.cohort += o.in_cohort
        for counts, days, outcome in zip(self.improvement, self.response_days, o.improvement, strict=True):
            if outcome is not None:
                _count_improvement(counts, days, outcome)
        if o.cms159 is not None:
            self.cms159[0] += 1
            self.cms159[1] += o.cms159
        if o.smi is not None:
            self.smi_patients += 1
            for counts, at_target in zip(self.smi, o.smi, strict=True):
                if at_target is not None:
                    counts[0] += 1
                    counts[1] += at_target

    def merge(self, other: _Tally) -> None:
        """Add ``other``'s counts (of the same definitions) to these."""
        self.records += other.records
        self.active += other.active
        self.contacted += other.contacted
        self.follow_up += other.follow_up
        self.cohort += other.cohort
        self.by_status.update(other.by_status)
        self.by_program.update(other.by_program)
        for counts, theirs in zip(self.improvement, other.improvement, strict=True):
            counts[:] = [a + b for a, b in zip(counts, theirs, strict=True)]
        for days, their_days in zip(self.response_days, other.response_days, strict=True):
            days.update(their_days)
        self.cms159 = [a + b for a, b in zip(self.cms159, other.cms159, strict=True)]
        self.smi_patients += other.smi_patients
        for counts, theirs in zip(self.smi, other.smi, strict=True):
            counts[:] = [a + b for a, b in zip(counts, theirs, strict=True)]

    def metrics(self, p: _Prepared, errors: list[RecordError]) -> CaseloadMetrics:
        labels = p.labels
        return CaseloadMetrics(
            as_of=p.as_of,
            period_start=p.start,
            records=self.records,
            caseload_size=self.active,
            caseload_size_label=labels["caseload_size"],
            by_status=dict(sorted(self.by_status.items())),
            by_program=dict(sorted(self.by_program.items())),
            contacted=Rate.of(self.contacted, self.active, labels["contacted"]),
            follow_up_measure=Rate.of(self.follow_up, self.active, labels["follow_up_measure"]),
            cohort=Cohort(
                enrolled_from=p.cohort_start, enrolled_to=p.as_of, patients=self.cohort, label=labels["cohort"]
            ),
            improvement=[
                _improvement_metrics(imp, counts, days)
                for imp, counts, days in zip(p.improvement, self.improvement, self.response_days, strict=True)
            ],
            cms159_remission_12m=Rate.of(self.cms159[1], self.cms159[0], labels["cms159"]),
            smi=SmiMetrics(
                programs=sorted(p.smi_programs),
                patients=self.smi_patients,
                targets=[
                    SmiTargetMetrics(
                        measure=t.spec.measure,
                        status=t.spec.status,
                        at_target=Rate.of(at_target, measured, t.label),
                        not_measured=self.smi_patients - measured,
                    )
                    for t, (measured, at_target) in zip(p.smi, self.smi, strict=True)
                ],
            ),
            errors=errors,
        )


def _count_improvement(
    counts: list[int], days: Counter[int], outcome: tuple[bool, bool, bool, bool, int | None] | list[Any]
) -> None:
    followed_up, improved, significant, remitted, to_response = outcome
    counts[0] += 1
    if not followed_up:
        return
    counts[1] += 1
    counts[2] += improved
    counts[3] += significant
    counts[4] += remitted
    if to_response is not None:
        days[to_response] += 1


def _improvement_metrics(imp: _ImprovementSpec, counts: list[int], days: Counter[int]) -> ImprovementMetrics:
    patients, followed, improved, significant, remitted = counts
    median = _median_weeks(days)
    labels = imp.labels
    sig = imp.spec.significant_improvement
    return ImprovementMetrics(
        measure=imp.spec.measure,
        baseline_at_least=imp.spec.baseline_at_least,
        label=labels["population"],
        without_follow_up=patients - followed,
        improved_50=Rate.of(improved, followed, labels["improved_50"]),
        significantly_improved=Rate.of(significant, followed, labels["significantly_improved"])
        if sig is not None
        else None,
        remission=Rate.of(remitted, followed, labels["remission"]) if imp.below is not None else None,
        median_weeks_to_response=round(median, 1) if median is not None else None,
        median_weeks_to_response_label=labels["median"],
        unconfirmed=imp.notes,
    )


def _median_weeks(days: Counter[int]) -> float | None:
    """The median of the weeks (days / 7) counted in ``days``, as ``statistics.median`` of the
    full list of weeks would give it."""
    n = sum(days.values())
    if not n:
        return None
    wanted = [(n - 1) // 2, n // 2]  # the middle position(s), 0-based
    found: list[float] = []
    seen = 0
    for value in sorted(days):
        seen += days[value]
        while wanted and wanted[0] < seen:
            found.append(value / 7)
            wanted.pop(0)
    return found[0] if n % 2 else (found[0] + found[1]) / 2


# -- caseload size against the guidance ------------------------------------------------------------


def _fte_map(fte: Mapping[str, Any] | None) -> dict[str, float]:
    """The FTE of each care manager, checked: a number above 0 and at most 1."""
    if fte is None:
        return {}
    if not isinstance(fte, Mapping):
        raise TypeError(f"care_manager_fte must be a mapping of care manager id to FTE, not {type(fte).__name__}")
    out = {}
    for cm, value in fte.items():
        if not isinstance(cm, str) or not cm:
            raise InvalidInput("a care manager id must be non-empty text", field="care_manager_fte", value=cm)
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or not 0 < value <= 1:
            raise InvalidInput(
                f"the FTE of care manager {cm!r} must be a number above 0 and at most 1 (1.0 = full time)",
                field=f"care_manager_fte[{cm!r}]",
                value=value,
                allowed="0 < FTE <= 1",
            )
        out[cm] = float(value)
    return out


def _payer_mix(defs: MetricDefinitions, payer_mix: str | None) -> _SizeRange:
    ranges = {r.id: r for r in defs.caseload_size.ranges}
    mix = defs.caseload_size.payer_mix.value if payer_mix is None else payer_mix
    if mix not in ranges:
        raise InvalidInput(
            "unknown payer mix (a range of the AIMS caseload size guidance in metrics/caseload.yaml)",
            field="payer_mix",
            value=mix,
            allowed=join(ranges),
            suggestion=suggest(mix, list(ranges)) if isinstance(mix, str) else None,
        )
    return ranges[mix]


def _size_check(size_range: _SizeRange, fte: float | None, size: int) -> CaseloadSizeCheck:
    per_low, per_high = size_range.per_fte
    used = 1.0 if fte is None else fte
    low, high = round(per_low * used, 1), round(per_high * used, 1)
    position: Literal["below", "within", "above"] = "below" if size < low else "above" if size > high else "within"
    return CaseloadSizeCheck(
        payer_mix=size_range.id,
        label=f"active patients per care manager against ~{per_low}-{per_high} per 1.0 FTE for "
        f"{size_range.description} (AIMS Center caseload size guidance, 2020), scaled by FTE",
        fte=used,
        fte_assumed=fte is None,
        low=low,
        high=high,
        caseload_size=size,
        position=position,
    )


@dataclass(frozen=True)
class CaseloadPart:
    """The counts of some patients' outcomes (:meth:`CaseloadCounter.part`), as plain values a
    host can ship from the process that reduced them to the one that counts
    (:meth:`CaseloadCounter.merge`): one message for many patients."""

    overall: _Tally
    groups: dict[str, _Tally]


class CaseloadCounter:
    """The caseload metrics counted one patient at a time: :func:`caseload_metrics` in parts,
    for a host that reduces patients elsewhere (in worker processes, on Spark executors) and
    counts them in one place.

    :meth:`outcome` reduces a valid episode to its :class:`PatientOutcome` (where the
    episodes are); :meth:`add` counts an outcome or an error record (in one place, in any
    order for outcomes; error records are listed in the order added); :meth:`metrics` gives
    the metrics of what was added. The counter counts what it is given: a patient added twice
    counts twice, so apply the rule of :func:`caseload_metrics` (a later record of a
    ``patient_id`` already seen is an error record) before adding.

    ``care_manager_fte`` (care manager id -> FTE, above 0 and at most 1) and ``payer_mix`` (a
    range id of ``metrics/caseload.yaml``; its ``payer_mix`` by default) set the caseload size
    check per care manager; a care manager without an FTE is compared as 1.0 FTE, marked
    ``fte_assumed``, and one with an FTE but no patients is listed with a caseload of 0. Neither
    changes the outcomes.

    Raises :class:`~cocm_rules.InvalidInput` for an ``as_of`` that is not a date, an FTE out of
    range or an unknown payer mix.
    """

    def __init__(
        self,
        as_of: dt.date,
        *,
        library: MeasureLibrary | None = None,
        per_care_manager: bool = True,
        care_manager_fte: Mapping[str, float] | None = None,
        payer_mix: str | None = None,
    ) -> None:
        if not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime):
            raise InvalidInput("as_of must be a date (YYYY-MM-DD)", field="as_of", value=as_of)
        lib = library if library is not None else load_measures()
        defs = load_metric_definitions()
        #: the measure library the outcomes are scored with (parse episodes with it)
        self.library = lib
        self._fte = _fte_map(care_manager_fte)
        self._size_range = _payer_mix(defs, payer_mix)
        self._prepared = _Prepared(as_of, lib, defs)
        self._per_care_manager = per_care_manager
        self._overall = _Tally(self._prepared)
        self._groups: dict[str, _Tally] = {}
        self._errors: list[RecordError] = []

    def outcome(self, episode: Episode) -> PatientOutcome:
        """What the metrics count of ``episode`` (nothing is counted yet)."""
        if not isinstance(episode, Episode):
            raise TypeError(f"episode must be an Episode, not {type(episode).__name__}: parse it first")
        return _outcome(episode, self._prepared)

    def add(self, item: PatientOutcome | RecordError) -> None:
        """Count one patient's outcome, or list one error record."""
        if isinstance(item, RecordError):
            self._errors.append(item)
            return
        if not isinstance(item, PatientOutcome):
            raise TypeError(f"item must be a PatientOutcome or a RecordError, not {type(item).__name__}")
        self._count(self._overall, self._groups if self._per_care_manager else None, item)

    def _count(self, overall: _Tally, groups: dict[str, _Tally] | None, item: PatientOutcome) -> None:
        overall.add(item)
        if groups is not None and item.care_manager:
            group = groups.get(item.care_manager)
            if group is None:
                group = groups[item.care_manager] = _Tally(self._prepared)
            group.add(item)

    def part(self, outcomes: Iterable[PatientOutcome]) -> CaseloadPart:
        """The counts of ``outcomes`` (per care manager too), for another counter of the same
        ``as_of`` to :meth:`merge`; this counter is unchanged. The rule of one record per
        patient is the caller's, as for :meth:`add`."""
        overall = _Tally(self._prepared)
        groups: dict[str, _Tally] = {}
        for item in outcomes:
            if not isinstance(item, PatientOutcome):
                raise TypeError(f"outcomes must be PatientOutcome values, not {type(item).__name__}")
            self._count(overall, groups, item)
        return CaseloadPart(overall, groups)

    def merge(self, part: CaseloadPart) -> None:
        """Count the outcomes counted in ``part`` (made by :meth:`part` of a counter of the same
        as_of and definitions, in this or another process): as :meth:`add` of each."""
        if not isinstance(part, CaseloadPart):
            raise TypeError(f"part must be a CaseloadPart, not {type(part).__name__}")
        self._overall.merge(part.overall)
        if not self._per_care_manager:
            return
        for cm, tally in part.groups.items():
            group = self._groups.get(cm)
            if group is None:
                group = self._groups[cm] = _Tally(self._prepared)
            group.merge(tally)

    def metrics(self) -> CaseloadMetrics:
        """The metrics of everything added so far (per care manager unless turned off)."""
        p = self._prepared
        result = self._overall.metrics(p, list(self._errors))
        if not self._per_care_manager:
            return result
        per = {}
        for cm in sorted({*self._groups, *self._fte}):
            tally = self._groups.get(cm) or _Tally(p)
            check = _size_check(self._size_range, self._fte.get(cm), tally.active)
            per[cm] = tally.metrics(p, []).model_copy(update={"caseload_size_target": check})
        return result.model_copy(update={"per_care_manager": per})


def caseload_metrics(
    records: Iterable[Any],
    as_of: dt.date,
    *,
    library: MeasureLibrary | None = None,
    per_care_manager: bool = True,
    care_manager_fte: Mapping[str, float] | None = None,
    payer_mix: str | None = None,
) -> CaseloadMetrics:
    """Compute the caseload metrics as of ``as_of`` (and per care manager when the data names one).

    One pass over ``records``, which may be a stream (a generator, ``read_records(path)``):
    each patient is reduced to a few counts as it is read, so memory does not grow with the
    caseload, except by the ids seen (see below) and the error records.

    Records that are not valid episodes are listed in ``errors``, never dropped silently. A
    patient counts once: a later record with a ``patient_id`` already seen is an error record
    naming the first one, and is not counted. ``care_manager_fte`` and ``payer_mix`` set the
    caseload size check per care manager (see :class:`CaseloadCounter`).
    """
    counter = CaseloadCounter(
        as_of,
        library=library,
        per_care_manager=per_care_manager,
        care_manager_fte=care_manager_fte,
        payer_mix=payer_mix,
    )
    for _index, _line, item in episodes_once(records):
        counter.add(item if isinstance(item, RecordError) else counter.outcome(item))
    return counter.metrics()

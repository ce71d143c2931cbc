"""Caseload metrics for a Collaborative Care team, overall and per care manager.

The definitions and their sources are data (``metrics/caseload.yaml``); this module only
counts. Each rate carries its numerator and denominator so a reader can check it:

* ``caseload_size`` - patients in the active caseload (active treatment or relapse prevention plan);
* ``contacted`` - active patients with a contact in the period (the 30 days up to ``as_of``);
* ``follow_up_measure`` - active patients with a follow-up administration (not their first) of a
  tracked measure in the period;
* per improvement measure (PHQ-9, GAD-7): among active patients with a baseline at or above
  the significance cut-off and at least one follow-up, ``improved_50`` (latest at least 50%
  below baseline, the measure's response target), ``remission`` (latest below the measure's
  remission target) and ``median_weeks_to_response`` (baseline to the first response);
* ``cms159_remission_12m`` - a CMS159-style rate: patients whose first PHQ-9 or PHQ-A
  (PHQ-9M) > 9 (the index) is old enough that the 12 months +/- 60 days window has closed;
  remitted if the most recent PHQ-9 or PHQ-A in the window is below 5.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ._validation import StrictModel
from ._yaml import YamlError, load_file
from .engine import RecordError, iter_episodes
from .episode import Episode
from .errors import InvalidInput, MeasureDefinitionError
from .facts import ScoredAssessment, scored_assessments
from .measures import MeasureLibrary, _data_dir, load_measures

__all__ = ["CaseloadMetrics", "Rate", "caseload_metrics", "load_metric_definitions"]


class _Sourced(StrictModel):
    status: str
    source: str


class _ListSetting(_Sourced):
    value: list[str]


class _IntSetting(_Sourced):
    value: int


class _Improvement(_Sourced):
    measure: str
    baseline_at_least: int


class _Cms159(_Sourced):
    measures: list[str]  # one series: PHQ-9 and PHQ-9M (PHQ-A)
    index_above: int
    remission_below: int
    months: int
    window_days: int


class MetricDefinitions(StrictModel):
    """``metrics/caseload.yaml``: the sourced definitions the metrics use."""

    metrics: str
    version: str
    description: str
    active_statuses: _ListSetting
    period_days: _IntSetting
    tracked_measures: _ListSetting
    improvement: list[_Improvement]
    cms159: _Cms159


@cache
def load_metric_definitions(path: str | None = None) -> MetricDefinitions:
    """Load (and cache) the metric definitions; the bundled file by default."""
    file = Path(path) if path else _data_dir("metrics") / "caseload.yaml"
    try:
        doc = load_file(file)
        return MetricDefinitions.model_validate(doc.data)
    except YamlError as e:
        raise MeasureDefinitionError(e.problems) from e
    except Exception as e:  # a pydantic error: show where
        from pydantic import ValidationError

        from ._validation import problems_from

        if isinstance(e, ValidationError):
            raise MeasureDefinitionError(problems_from(e, doc, MetricDefinitions)) from e
        raise


class Rate(BaseModel):
    """A proportion with its parts (``percent`` is None when the denominator is 0)."""

    model_config = ConfigDict(frozen=True)

    numerator: int
    denominator: int
    percent: float | None

    @classmethod
    def of(cls, numerator: int, denominator: int) -> Rate:
        """Build a rate, rounding the percentage to one decimal."""
        return cls(
            numerator=numerator,
            denominator=denominator,
            percent=round(100 * numerator / denominator, 1) if denominator else None,
        )


class ImprovementMetrics(BaseModel):
    """Improvement on one measure among patients who started above its cut-off."""

    model_config = ConfigDict(frozen=True)

    measure: str
    baseline_at_least: int
    improved_50: Rate
    remission: Rate | None
    median_weeks_to_response: float | None
    unconfirmed: list[str] = Field(default_factory=list)


class CaseloadMetrics(BaseModel):
    """Metrics for a caseload (or one care manager's part of it)."""

    model_config = ConfigDict(frozen=True)

    as_of: dt.date
    period_start: dt.date
    records: int = Field(description="records evaluated (valid episodes)")
    caseload_size: int = Field(description="patients in the active caseload")
    by_status: dict[str, int]
    contacted: Rate
    follow_up_measure: Rate
    improvement: list[ImprovementMetrics]
    cms159_remission_12m: Rate
    per_care_manager: dict[str, CaseloadMetrics] = Field(default_factory=dict)
    errors: list[RecordError] = Field(default_factory=list)


def _valid(series: list[ScoredAssessment]) -> list[ScoredAssessment]:
    return [a for a in series if a.score is not None and a.score.valid and a.score.total is not None]


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


class _Patient:
    """What the metrics need from one episode, computed once."""

    def __init__(self, ep: Episode, as_of: dt.date, lib: MeasureLibrary, defs: MetricDefinitions) -> None:
        self.ep = ep
        self.active = ep.status in defs.active_statuses.value
        start = _days_before(as_of, defs.period_days.value - 1)
        self.contacted = any(start <= c.date <= as_of for c in ep.contacts)
        past = [a for a in ep.assessments if a.date <= as_of]
        scored = scored_assessments(ep.model_copy(update={"assessments": past}), lib)
        self.series: dict[str, list[ScoredAssessment]] = {}
        for sa in sorted(scored, key=lambda s: (s.date, s.index)):
            self.series.setdefault(sa.assessment.measure, []).append(sa)
        self.follow_up_in_period = False
        for m in defs.tracked_measures.value:
            valid = _valid(self.series.get(m, []))
            if any(start <= a.date <= as_of for a in valid[1:]):
                self.follow_up_in_period = True


def _improvement(patients: list[_Patient], lib: MeasureLibrary, spec: _Improvement) -> ImprovementMetrics:
    defn = lib.get_measure(spec.measure)
    targets = defn.targets
    share = targets.response.min_reduction if targets and targets.response else None
    below = targets.remission.below if targets and targets.remission else None
    lo = defn.total.range[0] if defn.total else 0
    denom = improved = remitted = 0
    weeks: list[float] = []
    for p in patients:
        if not p.active:
            continue
        valid = _valid(p.series.get(spec.measure, []))
        if len(valid) < 2 or valid[0].score.total < spec.baseline_at_least:  # type: ignore[union-attr,operator]
            continue
        denom += 1
        base = valid[0].score.total - lo  # type: ignore[union-attr,operator]
        latest = valid[-1].score.total - lo  # type: ignore[union-attr,operator]
        if share is not None and base > 0 and latest <= (1 - share) * base:
            improved += 1
        if below is not None and valid[-1].score.total < below:  # type: ignore[union-attr,operator]
            remitted += 1
        if share is not None and base > 0:
            for a in valid[1:]:
                if a.score.total - lo <= (1 - share) * base:  # type: ignore[union-attr,operator]
                    weeks.append((a.date - valid[0].date).days / 7)
                    break
    notes = []
    for name in ("response", "remission"):
        t = getattr(targets, name, None) if targets else None
        if t is not None and t.status in ("secondary", "unconfirmed"):
            notes.append(f"{spec.measure} {name} definition is {t.status} ({t.source})")
    return ImprovementMetrics(
        measure=spec.measure,
        baseline_at_least=spec.baseline_at_least,
        improved_50=Rate.of(improved, denom),
        remission=Rate.of(remitted, denom) if below is not None else None,
        median_weeks_to_response=round(statistics.median(weeks), 1) if weeks else None,
        unconfirmed=notes,
    )


def _cms159(patients: list[_Patient], as_of: dt.date, lib: MeasureLibrary, spec: _Cms159) -> Rate:
    for m in spec.measures:
        lib.get_measure(m)  # an unknown measure is an error, not an empty series
    denom = num = 0
    for p in patients:
        valid = sorted(_valid([a for m in spec.measures for a in p.series.get(m, [])]), key=lambda a: (a.date, a.index))
        index = next((a for a in valid if a.score.total > spec.index_above), None)  # type: ignore[union-attr,operator]
        if index is None:
            continue
        anniversary = _add_months(index.date, spec.months)
        if anniversary is None or (dt.date.max - anniversary).days < spec.window_days:
            continue  # the window would end after the last representable date: it has not closed
        lo, hi = _days_before(anniversary, spec.window_days), anniversary + dt.timedelta(days=spec.window_days)
        if hi > as_of:
            continue  # the window has not closed yet
        denom += 1
        in_window = [a for a in valid if lo <= a.date <= hi]
        if in_window and in_window[-1].score.total < spec.remission_below:  # type: ignore[union-attr,operator]
            num += 1
    return Rate.of(num, denom)


def _metrics(
    patients: list[_Patient], as_of: dt.date, lib: MeasureLibrary, defs: MetricDefinitions, errors: list[RecordError]
) -> CaseloadMetrics:
    active = [p for p in patients if p.active]
    return CaseloadMetrics(
        as_of=as_of,
        period_start=_days_before(as_of, defs.period_days.value - 1),
        records=len(patients),
        caseload_size=len(active),
        by_status=dict(sorted(Counter(p.ep.status for p in patients).items())),
        contacted=Rate.of(sum(p.contacted for p in active), len(active)),
        follow_up_measure=Rate.of(sum(p.follow_up_in_period for p in active), len(active)),
        improvement=[_improvement(patients, lib, spec) for spec in defs.improvement],
        cms159_remission_12m=_cms159(patients, as_of, lib, defs.cms159),
        errors=errors,
    )


def caseload_metrics(
    records: Iterable[Any],
    as_of: dt.date,
    *,
    library: MeasureLibrary | None = None,
    per_care_manager: bool = True,
) -> CaseloadMetrics:
    """Compute the caseload metrics as of ``as_of`` (and per care manager when the data names one).

    Records that are not valid episodes are listed in ``errors``, never dropped silently.
    """
    if not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime):
        raise InvalidInput("as_of must be a date (YYYY-MM-DD)", field="as_of", value=as_of)
    lib = library if library is not None else load_measures()
    defs = load_metric_definitions()
    patients: list[_Patient] = []
    errors: list[RecordError] = []
    for _index, item in iter_episodes(records):
        if isinstance(item, RecordError):
            errors.append(item)
        else:
            patients.append(_Patient(item, as_of, lib, defs))
    overall = _metrics(patients, as_of, lib, defs, errors)
    if not per_care_manager:
        return overall
    groups: dict[str, list[_Patient]] = {}
    for p in patients:
        if p.ep.care_manager:
            groups.setdefault(p.ep.care_manager, []).append(p)
    per = {cm: _metrics(ps, as_of, lib, defs, []) for cm, ps in sorted(groups.items())}
    return overall.model_copy(update={"per_care_manager": per})

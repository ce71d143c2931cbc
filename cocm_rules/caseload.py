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
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ._once import episodes_once
from ._validation import StrictModel
from ._yaml import YamlError, load_file
from .episode import Episode
from .errors import InvalidInput, MeasureDefinitionError
from .facts import EpisodeView, ScoredAssessment
from .facts.series import total_of
from .facts.targets import responded
from .measures import MeasureLibrary, data_dir, load_measures
from .records import RecordError

__all__ = [
    "CaseloadCounter",
    "CaseloadMetrics",
    "PatientOutcome",
    "Rate",
    "caseload_metrics",
    "load_metric_definitions",
]


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
    file = Path(path) if path else data_dir("metrics") / "caseload.yaml"
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


class _Prepared:
    """What every patient is measured against, worked out once per call."""

    def __init__(self, as_of: dt.date, lib: MeasureLibrary, defs: MetricDefinitions) -> None:
        self.as_of = as_of
        self.lib = lib
        self.defs = defs
        self.start = _days_before(as_of, defs.period_days.value - 1)
        self.active = frozenset(defs.active_statuses.value)
        self.tracked = tuple(defs.tracked_measures.value)
        self.improvement: list[tuple[_Improvement, float | None, int | None, int, list[str]]] = []
        for spec in defs.improvement:
            defn = lib.get_measure(spec.measure)  # an unknown measure is an error, not an empty series
            targets = defn.targets
            share = targets.response.min_reduction if targets and targets.response else None
            below = targets.remission.below if targets and targets.remission else None
            lo = defn.total.range[0] if defn.total else 0
            notes = []
            for name in ("response", "remission"):
                t = getattr(targets, name, None) if targets else None
                if t is not None and t.status in ("secondary", "unconfirmed"):
                    notes.append(f"{spec.measure} {name} definition is {t.status} ({t.source})")
            self.improvement.append((spec, share, below, lo, notes))
        for m in defs.cms159.measures:
            lib.get_measure(m)


@dataclass(frozen=True, slots=True)
class PatientOutcome:
    """What the caseload metrics count of one patient: a few flags and numbers, no episode.

    Made by :meth:`CaseloadCounter.outcome` and counted by :meth:`CaseloadCounter.add`. Its
    values are plain (text, booleans, whole numbers, tuples of them), so a host that reduces
    patients in other processes or machines can ship it: ``dataclasses.astuple(outcome)``
    there, ``PatientOutcome(*values)`` here (lists in place of tuples are read the same).
    """

    status: str
    care_manager: str | None
    #: in the active caseload (an active status)
    active: bool
    #: active, with a contact in the period
    contacted: bool
    #: active, with a follow-up administration of a tracked measure in the period
    follow_up: bool
    #: per improvement measure, in the definitions' order: None (not in the denominator) or
    #: (improved, remitted, days from baseline to the first response or None)
    improvement: tuple[tuple[bool, bool, int | None] | None, ...]
    #: None (not in the CMS159 denominator) or whether remitted
    cms159: bool | None


def _outcome(ep: Episode, p: _Prepared) -> PatientOutcome:
    """Reduce one patient to what the metrics count, from the series the facts read."""
    as_of, start = p.as_of, p.start
    active = ep.status in p.active
    view = EpisodeView(ep, as_of, p.lib)
    series: dict[str, list[ScoredAssessment]] = {}
    for m in view.administered:
        s = view.series(m)
        if s is not None:
            series[m] = [a for a in s.admins if s.is_valid(a)]
    return PatientOutcome(
        status=ep.status,
        care_manager=ep.care_manager,
        active=active,
        contacted=active and any(start <= c.date <= as_of for c in ep.contacts),
        follow_up=active and any(start <= a.date <= as_of for m in p.tracked for a in series.get(m, [])[1:]),
        improvement=tuple(
            _improvement(series, spec, share, below, lo) if active else None
            for spec, share, below, lo, _notes in p.improvement
        ),
        cms159=_cms159(series, as_of, p.defs.cms159),
    )


def _improvement(
    series: dict[str, list[ScoredAssessment]], spec: _Improvement, share: float | None, below: int | None, lo: int
) -> tuple[bool, bool, int | None] | None:
    valid = series.get(spec.measure, [])  # valid administrations, in date order
    if len(valid) < 2 or total_of(valid[0]) < spec.baseline_at_least:
        return None
    base, latest = total_of(valid[0]), total_of(valid[-1])
    improved = share is not None and responded(latest, base, share, lo)
    remitted = below is not None and latest < below
    days = None
    if share is not None:
        first = next((a for a in valid[1:] if responded(total_of(a), base, share, lo)), None)
        days = None if first is None else (first.date - valid[0].date).days
    return improved, remitted, days


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

    def __init__(self, measures: int) -> None:
        self.records = self.active = self.contacted = self.follow_up = 0
        self.by_status: Counter[str] = Counter()
        #: per improvement measure: [denominator, improved, remitted]
        self.improvement = [[0, 0, 0] for _ in range(measures)]
        #: per improvement measure: days from baseline to response -> patients (a few hundred values at most)
        self.response_days: list[Counter[int]] = [Counter() for _ in range(measures)]
        self.cms159 = [0, 0]  # denominator, remitted

    def add(self, o: PatientOutcome) -> None:
        self.records += 1
        self.by_status[o.status] += 1
        if o.active:
            self.active += 1
            self.contacted += o.contacted
            self.follow_up += o.follow_up
        for counts, days, outcome in zip(self.improvement, self.response_days, o.improvement, strict=True):
            if outcome is None:
                continue
            improved, remitted, to_response = outcome
            counts[0] += 1
            counts[1] += improved
            counts[2] += remitted
            if to_response is not None:
                days[to_response] += 1
        if o.cms159 is not None:
            self.cms159[0] += 1
            self.cms159[1] += o.cms159

    def metrics(self, p: _Prepared, errors: list[RecordError]) -> CaseloadMetrics:
        improvement = []
        for (spec, _share, below, _lo, notes), (denom, improved, remitted), days in zip(
            p.improvement, self.improvement, self.response_days, strict=True
        ):
            median = _median_weeks(days)
            improvement.append(
                ImprovementMetrics(
                    measure=spec.measure,
                    baseline_at_least=spec.baseline_at_least,
                    improved_50=Rate.of(improved, denom),
                    remission=Rate.of(remitted, denom) if below is not None else None,
                    median_weeks_to_response=round(median, 1) if median is not None else None,
                    unconfirmed=notes,
                )
            )
        return CaseloadMetrics(
            as_of=p.as_of,
            period_start=p.start,
            records=self.records,
            caseload_size=self.active,
            by_status=dict(sorted(self.by_status.items())),
            contacted=Rate.of(self.contacted, self.active),
            follow_up_measure=Rate.of(self.follow_up, self.active),
            improvement=improvement,
            cms159_remission_12m=Rate.of(self.cms159[1], self.cms159[0]),
            errors=errors,
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

    Raises :class:`~cocm_rules.InvalidInput` for an ``as_of`` that is not a date.
    """

    def __init__(self, as_of: dt.date, *, library: MeasureLibrary | None = None, per_care_manager: bool = True) -> None:
        if not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime):
            raise InvalidInput("as_of must be a date (YYYY-MM-DD)", field="as_of", value=as_of)
        lib = library if library is not None else load_measures()
        #: the measure library the outcomes are scored with (parse episodes with it)
        self.library = lib
        self._prepared = _Prepared(as_of, lib, load_metric_definitions())
        self._per_care_manager = per_care_manager
        self._overall = _Tally(len(self._prepared.improvement))
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
        self._overall.add(item)
        if self._per_care_manager and item.care_manager:
            group = self._groups.get(item.care_manager)
            if group is None:
                group = self._groups[item.care_manager] = _Tally(len(self._prepared.improvement))
            group.add(item)

    def metrics(self) -> CaseloadMetrics:
        """The metrics of everything added so far (per care manager unless turned off)."""
        result = self._overall.metrics(self._prepared, list(self._errors))
        if not self._per_care_manager:
            return result
        per = {cm: tally.metrics(self._prepared, []) for cm, tally in sorted(self._groups.items())}
        return result.model_copy(update={"per_care_manager": per})


def caseload_metrics(
    records: Iterable[Any],
    as_of: dt.date,
    *,
    library: MeasureLibrary | None = None,
    per_care_manager: bool = True,
) -> CaseloadMetrics:
    """Compute the caseload metrics as of ``as_of`` (and per care manager when the data names one).

    One pass over ``records``, which may be a stream (a generator, ``read_records(path)``):
    each patient is reduced to a few counts as it is read, so memory does not grow with the
    caseload, except by the ids seen (see below) and the error records.

    Records that are not valid episodes are listed in ``errors``, never dropped silently. A
    patient counts once: a later record with a ``patient_id`` already seen is an error record
    naming the first one, and is not counted.
    """
    counter = CaseloadCounter(as_of, library=library, per_care_manager=per_care_manager)
    for _index, _line, item in episodes_once(records):
        counter.add(item if isinstance(item, RecordError) else counter.outcome(item))
    return counter.metrics()

"""A patient's measure trajectories: each tracked measure's valid totals over weeks in
treatment, with the response and remission lines of the measure file's ``targets``.

Nothing here decides anything clinical: the measures charted are the caseload metrics'
``tracked_measures`` (``metrics/caseload.yaml``), the lines are the measure files' targets
(with their source and status), the totals are the scorer's and the baseline is the facts'
(the first valid administration). Weeks are counted from the initial assessment as the
``weeks_in_treatment`` fact counts them: whole weeks of a point are ``floor(weeks)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..caseload import load_metric_definitions
from ..episode import Episode
from ..facts import EpisodeView, MeasureSeries, catalog
from ..facts.series import total_of
from ..measures import NOT_CONFIRMED, MeasureDefinition, MeasureLibrary, Target, load_measures

__all__ = ["Point", "TargetLine", "Trajectory", "response_level", "trajectories"]

#: The fact whose date weeks in treatment are counted from (as ``weeks_in_treatment`` does).
START_FACT = "initial_assessment_date"


class Point(BaseModel):
    """One valid administration: its date, weeks since the initial assessment, total and band."""

    model_config = ConfigDict(frozen=True)

    date: dt.date
    weeks: float | None = Field(description="days since the initial assessment / 7 (None without one)")
    total: int | float
    band: str | None = None


class TargetLine(BaseModel):
    """A horizontal target line of a chart, from the measure file's ``targets``."""

    model_config = ConfigDict(frozen=True)

    target: Literal["response", "remission"]
    total: float = Field(description="the total at which the line is drawn")
    label: str = Field(description="what the line means, with its source and status")
    source: str
    status: str
    confirmed: bool = Field(description="False when the target's status is not confirmed (e.g. unconfirmed)")
    note: str | None = None


class Trajectory(BaseModel):
    """One measure's valid totals for one patient as of a date, and its target lines."""

    model_config = ConfigDict(frozen=True)

    measure: str
    name: str = Field(description="the measure's short name (e.g. PHQ-9)")
    range: tuple[int, int] | None = Field(description="the lowest and highest possible total")
    higher_is: str | None = Field(description="worse or better, from the measure's targets")
    start: dt.date | None = Field(description="the initial assessment date weeks are counted from")
    as_of: dt.date
    as_of_weeks: float | None = Field(description="weeks from the initial assessment to as_of")
    points: list[Point]
    lines: list[TargetLine]
    not_scored: int = Field(description="administrations on or before as_of that could not be scored (not plotted)")
    notes: list[str] = Field(default_factory=list, description="what a reader of the chart must know")

    @property
    def unconfirmed(self) -> list[TargetLine]:
        """The target lines whose definition is not confirmed."""
        return [line for line in self.lines if not line.confirmed]


def response_level(baseline: float, share: float, lo: float) -> float:
    """The highest total that is a response to ``baseline``: ``share`` below it, measured from
    the scale's floor ``lo``, as :func:`cocm_rules.facts.targets.responded` defines a response
    (a total at or below this level is one)."""
    return lo + (1 - share) * (baseline - lo)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}".rstrip("0")


def _status(target: Target) -> str:
    return f"{target.source}, {target.status.upper() if target.status in NOT_CONFIRMED else target.status}"


def _lines(defn: MeasureDefinition, baseline: Any, notes: list[str]) -> list[TargetLine]:
    targets = defn.targets
    response = targets.response if targets is not None else None
    remission = targets.remission if targets is not None else None
    lines: list[TargetLine] = []
    if response is None and remission is None:
        notes.append(f"{defn.label} has no response or remission target in its measure file: no target lines")
        return lines
    lo = defn.total.range[0] if defn.total is not None else 0
    if response is not None and response.min_reduction is not None and baseline is not None:
        share = response.min_reduction
        if baseline - lo > 0:
            level = response_level(baseline, share, lo)
            lines.append(
                TargetLine(
                    target="response",
                    total=round(level, 2),
                    label=f"response: at or below {_num(level)} ({share:.0%} below the baseline of "
                    f"{_num(baseline)}; {_status(response)})",
                    source=response.source,
                    status=response.status,
                    confirmed=response.status not in NOT_CONFIRMED,
                    note=response.note,
                )
            )
        else:
            notes.append(f"the {defn.label} baseline is at the scale's floor: it cannot fall by a share of itself")
    if remission is not None and remission.below is not None:
        lines.append(
            TargetLine(
                target="remission",
                total=remission.below,
                label=f"remission: below {_num(remission.below)} ({_status(remission)})",
                source=remission.source,
                status=remission.status,
                confirmed=remission.status not in NOT_CONFIRMED,
                note=remission.note,
            )
        )
    unconfirmed = [line for line in lines if not line.confirmed]
    if unconfirmed:
        what = " and ".join(line.target for line in unconfirmed)
        extra = "; ".join(dict.fromkeys(line.note for line in unconfirmed if line.note))
        notes.append(
            f"{defn.label} {what} {'targets are' if len(unconfirmed) > 1 else 'target is'} unconfirmed "
            f"(source: {', '.join(dict.fromkeys(line.source for line in unconfirmed))})"
            + (f": {extra}" if extra else "")
        )
    return lines


def _weeks(d: dt.date, start: dt.date | None) -> float | None:
    return None if start is None else round((d - start).days / 7, 2)


def _trajectory(series: MeasureSeries, start: dt.date | None, as_of: dt.date) -> Trajectory:
    defn = series.defn
    valid = [sa for sa in series.admins if series.is_valid(sa)]
    points = [
        Point(
            date=sa.date,
            weeks=_weeks(sa.date, start),
            total=total_of(sa),
            band=sa.score.band if sa.score is not None else None,
        )
        for sa in valid
    ]
    notes: list[str] = []
    if start is None:
        notes.append("no initial assessment recorded: weeks in treatment are unknown, so totals are plotted by date")
    not_scored = len(series.entries) - len(valid)
    if not_scored:
        notes.append(f"{not_scored} {defn.label} administration(s) could not be scored and are not plotted")
    baseline = total_of(series.baseline)
    lines = _lines(defn, baseline, notes)
    return Trajectory(
        measure=defn.id,
        name=defn.label,
        range=(defn.total.range[0], defn.total.range[1]) if defn.total is not None else None,
        higher_is=defn.targets.higher_is if defn.targets is not None else None,
        start=start,
        as_of=as_of,
        as_of_weeks=_weeks(as_of, start),
        points=points,
        lines=lines,
        not_scored=not_scored,
        notes=notes,
    )


def trajectories(
    episode: Episode,
    as_of: dt.date,
    *,
    library: MeasureLibrary | None = None,
    measures: Iterable[str] | None = None,
) -> list[Trajectory]:
    """The trajectories of ``episode`` as of ``as_of``: one per measure in ``measures`` (the
    caseload metrics' ``tracked_measures`` by default) that the patient has at least one
    administration of, in that order. Only administrations on or before ``as_of`` count."""
    if not isinstance(episode, Episode):
        raise TypeError(f"episode must be an Episode, not {type(episode).__name__}: parse it first")
    lib = library if library is not None else load_measures()
    wanted = list(measures) if measures is not None else load_metric_definitions().tracked_measures.value
    view = EpisodeView(episode, as_of, lib)
    start = catalog(lib).fns[START_FACT](view)
    out = []
    for measure in wanted:
        series = view.series(measure)
        if series is not None and series.entries:
            out.append(_trajectory(series, start, as_of))
    return out

"""Measure facts about the course of symptoms: how long a screen has stayed positive and how
long the items of a dimension scale have stayed at or above each level of their scale. (Whether
the consultant has discussed the patient since a screen: ``screens.py``.)

A run is counted over administrations in date order, walking back from the latest: an
administration where the result or the item could not be determined (unanswered) neither
extends nor breaks a run. Its length is in whole weeks from its first to its latest
administration, so a run of one administration is 0 weeks. The levels are the measure file's
own scale values (``moderate``, ``severe``): no clinical number is written here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..measures import MeasureDefinition
from .rows import SeriesFn, measure_fact
from .series import MeasureSeries
from .spec import Fact
from .view import EpisodeView

__all__ = ["measure_facts"]


def measure_facts(defn: MeasureDefinition) -> Iterator[Fact]:
    """How long each yes/no result has held and how long items have stayed at each level."""
    for res in defn.results:
        if res.kind == "condition":
            yield measure_fact(
                defn,
                f"{res.id}_weeks",
                "integer",
                f"whole weeks the current run of administrations with {res.id} true has lasted (first to "
                f"latest of the run); 0 when the latest is not {res.id}",
                _result_weeks(res.id),
                unit="weeks",
                minimum=0,
            )
    if defn.report_item_levels:
        yield from _level_runs(defn)


def _run_weeks(points: list[tuple[Any, bool | None]]) -> int | None:
    """Whole weeks of the run of ``True`` at the end of ``points`` ((date, holds) in date
    order; ``None`` = undetermined, skipped); 0 when the latest determined point does not
    hold; None when no point is determined."""
    latest = start = None
    for date, holds in reversed(points):
        if holds is None:
            continue
        if latest is None:
            if not holds:
                return 0
            latest = date
        elif not holds:
            break
        start = date
    if latest is None or start is None:
        return None
    return (latest - start).days // 7


def _result_weeks(result_id: str) -> SeriesFn:
    def weeks(s: MeasureSeries, v: EpisodeView) -> Any:
        points = [(a.date, None if a.score is None else a.score.results.get(result_id)) for a in s.admins]
        return _run_weeks([(d, None if r is None else bool(r)) for d, r in points])

    return weeks


def _level_runs(defn: MeasureDefinition) -> Iterator[Fact]:
    """Per level of the items' scale above the lowest: the longest current run of any item at
    or above it, and which items are at or above it now (with their runs)."""
    scales = {it.scale for it in defn.items}
    if len(scales) != 1:
        return  # items on different scales have no common levels
    values = sorted((v for v in defn.scales[scales.pop()].values if not v.missing and v.id), key=lambda v: v.value)
    items = [(it.id, it.id.replace("_", " ")) for it in defn.items]
    for level in values[1:]:
        name = level.id
        assert name is not None
        yield measure_fact(
            defn,
            f"weeks_at_or_above_{name}",
            "integer",
            f"the longest current run, over the items, of administrations rating the item {name} or "
            f"higher (value {level.value} or more), in whole weeks from its first to its latest "
            "administration; 0 when no item is rated so in the latest administration",
            _longest(items, level.value),
            unit="weeks",
            minimum=0,
        )
        yield measure_fact(
            defn,
            f"items_at_or_above_{name}",
            "text",
            f"the items rated {name} or higher in the latest administration, each with how long "
            "(e.g. 'hallucinations 20 weeks, delusions 0 weeks'); missing when there are none",
            _listed(items, level.value),
        )


def _item_runs(s: MeasureSeries, items: list[tuple[str, str]], level: int) -> list[tuple[str, bool, int | None]]:
    """(item label, rated at or above ``level`` now, run weeks) for each item rated in the
    latest scored administration; the run is 0 weeks when the item is below ``level`` now."""
    scored = [(a.date, a.score.answers) for a in s.admins if a.score is not None]
    if not scored:
        return []
    out = []
    for item_id, label in items:
        now = scored[-1][1].get(item_id)
        if now is None:
            continue
        points = [(d, None if (r := answers.get(item_id)) is None else r >= level) for d, answers in scored]
        out.append((label, now >= level, _run_weeks(points)))
    return out


def _longest(items: list[tuple[str, str]], level: int) -> SeriesFn:
    def weeks(s: MeasureSeries, v: EpisodeView) -> Any:
        runs = [w for _, _, w in _item_runs(s, items, level) if w is not None]
        return max(runs) if runs else None

    return weeks


def _listed(items: list[tuple[str, str]], level: int) -> SeriesFn:
    def listed(s: MeasureSeries, v: EpisodeView) -> Any:
        parts = [f"{label} {w} week{'' if w == 1 else 's'}" for label, now, w in _item_runs(s, items, level) if now]
        return ", ".join(parts) or None

    return listed

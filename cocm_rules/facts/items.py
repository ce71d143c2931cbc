"""Measure facts about the latest administration's parts: derived results (screens,
provisional diagnoses), subscores, and for clinician-rated dimension scales each item's
rating and how it moved since the previous administration."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..measures import MeasureDefinition
from .rows import SeriesFn, measure_fact
from .series import MeasureSeries
from .spec import Fact, FactType
from .view import EpisodeView

__all__ = ["measure_facts"]


def measure_facts(defn: MeasureDefinition) -> Iterator[Fact]:
    """The results, subscores and (where the measure reports them) item levels of one measure."""
    for res in defn.results:
        kw: dict[str, Any] = {}
        type_: FactType = "number"
        if res.kind == "condition":
            type_ = "boolean"
        elif res.kind == "first_match":
            type_ = "text"
            kw = {"allowed": (*(c.value for c in res.cases or []), res.otherwise)}
        yield measure_fact(
            defn,
            res.id,
            type_,
            f"{res.id} of the latest administration: {res.description.strip()}",
            _result(res.id),
            **kw,
        )
    for sub in defn.subscores:
        yield measure_fact(
            defn,
            sub.id,
            "integer",
            f"subscore {sub.label} of the latest valid administration",
            _subscore(sub.id),
            unit="points",
        )
    if defn.report_item_levels:
        yield from _levels(defn)


def _result(result_id: str) -> SeriesFn:
    def result(s: MeasureSeries, v: EpisodeView) -> Any:
        sc = s.latest_score()
        return None if sc is None else sc.results.get(result_id)

    return result


def _subscore(sub_id: str) -> SeriesFn:
    def subscore(s: MeasureSeries, v: EpisodeView) -> Any:
        return s.latest.score.subscores.get(sub_id) if s.latest and s.latest.score else None

    return subscore


def _levels(defn: MeasureDefinition) -> Iterator[Fact]:
    ids = [i.id for i in defn.items]
    for it in defn.items:
        vals = [v.value for v in defn.scales[it.scale].values if not v.missing]
        yield measure_fact(
            defn,
            f"{it.id}_latest",
            "integer",
            f"{it.label}: rating in the latest administration",
            _level(it.id),
            minimum=min(vals),
            maximum=max(vals),
        )
        yield measure_fact(
            defn,
            f"{it.id}_change",
            "integer",
            f"{it.label}: latest rating minus the previous one",
            _level_change(it.id),
            minimum=min(vals) - max(vals),
            maximum=max(vals) - min(vals),
        )

    def worsened(s: MeasureSeries, v: EpisodeView) -> Any:
        scored = [a.score for a in s.admins if a.score is not None]
        if len(scored) < 2:
            return None
        new, old = scored[-1].answers, scored[-2].answers
        return sum(1 for i in ids if new.get(i) is not None and old.get(i) is not None and new[i] > old[i])

    yield measure_fact(
        defn,
        "items_worsened",
        "integer",
        "number of items rated higher than in the previous administration",
        worsened,
        unit="count",
        minimum=0,
        maximum=len(ids),
    )


def _level(item_id: str) -> SeriesFn:
    def level(s: MeasureSeries, v: EpisodeView) -> Any:
        sc = s.latest_score()
        return None if sc is None else sc.answers.get(item_id)

    return level


def _level_change(item_id: str) -> SeriesFn:
    def change(s: MeasureSeries, v: EpisodeView) -> Any:
        scored = [a.score for a in s.admins if a.score is not None]
        if len(scored) < 2:
            return None
        new, old = scored[-1].answers.get(item_id), scored[-2].answers.get(item_id)
        return None if new is None or old is None else new - old

    return change

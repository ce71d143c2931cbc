"""How a fact family writes its table: one row per fact, a spec and a function.

Episode facts compute from the :class:`~cocm_rules.facts.EpisodeView`; measure facts compute
from one measure's :class:`~cocm_rules.facts.MeasureSeries` (and the view), and are missing
when the patient has no administration of that measure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..measures import MeasureDefinition
from .series import MeasureSeries
from .spec import Fact, FactSpec, FactType
from .view import EpisodeView

__all__ = ["SeriesFn", "ViewFn", "episode_fact", "measure_fact"]

ViewFn = Callable[[EpisodeView], Any]
SeriesFn = Callable[[MeasureSeries, EpisodeView], Any]


def episode_fact(name: str, type_: FactType, meaning: str, compute: ViewFn, **spec: Any) -> Fact:
    """A row of an episode fact table."""
    return Fact(FactSpec(name, type_, meaning, **spec), compute)


def measure_fact(defn: MeasureDefinition, stat: str, type_: FactType, meaning: str, fn: SeriesFn, **spec: Any) -> Fact:
    """A row of a measure fact table: ``<measure>.<stat>``, computed from the measure's series
    (missing when the patient has none)."""
    m = defn.id

    def compute(view: EpisodeView) -> Any:
        s = view.series(m)
        return None if s is None else fn(s, view)

    return Fact(FactSpec(f"{m}.{stat}", type_, meaning, measure=m, group=m, **spec), compute, series_of=m)

"""Measure facts about what followed a screen: the full instrument after a brief one, and a
discussion with the psychiatric consultant after a positive one.

Both compare dates the rule language cannot compare itself (a fact with a fact): they are
computed here and read by the co-morbidity rules (``rulesets/comorbidity.yaml``). "After"
includes the same day: a screen and the full instrument are usually given at one visit, and
a registry records case reviews by date only.

The brief screens and the full instruments that complete them are a fact of the instruments
(no number): the PHQ-2 is the first two items of the PHQ-9, and a positive PHQ-2 is followed
by the PHQ-9 (Kroenke, Spitzer & Williams 2003), or in adolescents by the PHQ-9 modified for
adolescents (Richardson et al. 2010); the GAD-2 is the first two items of the GAD-7, and a
positive GAD-2 calls for further evaluation (Kroenke et al. 2007), the full GAD-7 being the
instrument the registry tracks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..measures import MeasureDefinition
from .rows import SeriesFn, measure_fact
from .series import MeasureSeries
from .spec import Fact
from .view import EpisodeView

__all__ = ["FULL_INSTRUMENTS", "measure_facts"]

#: Brief screen -> (the full instruments that complete it, those instruments in words).
FULL_INSTRUMENTS: dict[str, tuple[tuple[str, ...], str]] = {
    "phq2": (("phq9", "phqa"), "a PHQ-9 or a PHQ-A (PHQ-9 modified for adolescents)"),
    "gad2": (("gad7",), "a GAD-7"),
}
#: The measure result whose latest value says a screen was positive.
POSITIVE_SCREEN = "positive_screen"


def measure_facts(defn: MeasureDefinition) -> Iterator[Fact]:
    """``followed_by_full_instrument`` for a brief screen; ``consultant_reviewed_since_latest``
    for every measure with a positive screen."""
    full = FULL_INSTRUMENTS.get(defn.id)
    if full is not None:
        measures, words = full
        yield measure_fact(
            defn,
            "followed_by_full_instrument",
            "boolean",
            f"{words} was completed (a valid administration) on or after the date of the latest "
            f"{defn.label} administration: the full instrument after the screen; false when none was",
            _followed_by(measures),
        )
    if any(r.id == POSITIVE_SCREEN for r in defn.results):
        yield measure_fact(
            defn,
            "consultant_reviewed_since_latest",
            "boolean",
            "the patient was discussed with the psychiatric consultant (a psychiatric consultation or a "
            f"systematic case review) on or after the date of the latest {defn.label} administration",
            _reviewed_since,
        )


def _followed_by(measures: tuple[str, ...]) -> SeriesFn:
    def followed(s: MeasureSeries, v: EpisodeView) -> Any:
        screen = s.latest_any
        if screen is None:
            return None
        for m in measures:
            full = v.series(m)
            if full is not None and full.latest is not None and full.latest.date >= screen.date:
                return True
        return False

    return followed


def _reviewed_since(s: MeasureSeries, v: EpisodeView) -> Any:
    screen = s.latest_any
    if screen is None:
        return None
    reviewed = v.last_contact("psychiatric_consultation", "case_review")
    return reviewed is not None and reviewed >= screen.date

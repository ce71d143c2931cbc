"""Measure facts: how many administrations, when, the totals and how they changed, the band.

``<measure>.baseline`` is the first valid administration's total, ``latest`` the last valid
one's, ``previous`` the one before; ``change`` and ``pct_reduction`` compare latest with
baseline (``pct_`` measured from the lowest possible total, as a fraction). Bands come from
the measure file's severity bands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..measures import MeasureDefinition
from .rows import measure_fact
from .series import MeasureSeries, total_of
from .spec import Fact, round_fact
from .view import EpisodeView

__all__ = ["measure_facts"]


def measure_facts(defn: MeasureDefinition) -> Iterator[Fact]:
    """The counts, dates, totals, changes and bands of one measure."""
    yield from _counts(defn)
    if defn.total is not None:
        yield from _totals(defn)
    yield from _bands(defn)
    if defn.total is not None:
        yield measure_fact(
            defn,
            "total_mismatch",
            "boolean",
            "the latest administration's reported total differs from the total recomputed from its items",
            _mismatch,
        )


def _counts(defn: MeasureDefinition) -> Iterator[Fact]:
    yield measure_fact(
        defn,
        "count",
        "integer",
        f"number of valid {defn.name} administrations so far",
        lambda s, v: s.valid_count,
        unit="count",
        minimum=0,
    )
    yield measure_fact(
        defn,
        "latest_date",
        "date",
        "date of the latest valid administration",
        lambda s, v: s.latest.date if s.latest else None,
    )
    yield measure_fact(
        defn,
        "days_since_latest",
        "integer",
        "days from the latest valid administration to as_of",
        lambda s, v: v.days(s.latest.date) if s.latest else None,
        unit="days",
        minimum=0,
    )
    yield measure_fact(
        defn,
        "last_administered_date",
        "date",
        "date of the latest administration, valid or not (safety facts and flags come from it)",
        lambda s, v: s.latest_any.date if s.latest_any else None,
    )
    yield measure_fact(
        defn,
        "invalid_count",
        "integer",
        "administrations that could not be scored (invalid answers)",
        lambda s, v: sum(1 for a in s.admins if a.score is None),
        unit="count",
        minimum=0,
    )


def _totals(defn: MeasureDefinition) -> Iterator[Fact]:
    assert defn.total is not None
    lo, hi = defn.total.range
    span = hi - lo
    rng: dict[str, Any] = {"minimum": lo, "maximum": hi, "unit": "points"}
    yield measure_fact(
        defn,
        "baseline",
        "number",
        "total of the first valid administration (the baseline)",
        lambda s, v: total_of(s.baseline),
        **rng,
    )
    yield measure_fact(
        defn,
        "baseline_date",
        "date",
        "date of the baseline administration",
        lambda s, v: s.baseline.date if s.baseline else None,
    )
    yield measure_fact(
        defn, "latest", "number", "total of the latest valid administration", lambda s, v: total_of(s.latest), **rng
    )
    yield measure_fact(
        defn,
        "previous",
        "number",
        "total of the valid administration before the latest",
        lambda s, v: total_of(s.previous),
        **rng,
    )
    yield measure_fact(
        defn,
        "previous_date",
        "date",
        "date of the previous valid administration",
        lambda s, v: s.previous.date if s.previous else None,
    )
    yield measure_fact(
        defn,
        "change",
        "number",
        "latest minus baseline, in points (negative when the score fell); missing until there is a follow-up",
        _change,
        unit="points",
        minimum=-span,
        maximum=span,
    )
    yield measure_fact(
        defn,
        "change_from_previous",
        "number",
        "latest minus previous, in points (positive when the score rose)",
        _change_from_previous,
        unit="points",
        minimum=-span,
        maximum=span,
    )
    floor_note = f" (measured from the lowest possible total, {lo})" if lo else ""
    yield measure_fact(
        defn,
        "pct_change_from_previous",
        "number",
        f"(latest - previous) / previous{floor_note}, a fraction: 0.25 when the score rose by a quarter; "
        "missing without a previous administration or with a previous one at the floor",
        _pct_from_previous(lo),
        unit="fraction",
        maximum=None,
    )
    yield measure_fact(
        defn,
        "pct_change",
        "number",
        f"(latest - baseline) / baseline{floor_note}, a fraction: -0.5 when the score "
        "halves; missing without a follow-up or with a baseline at the floor",
        _pct(1, lo),
        unit="fraction",
        maximum=None,
    )
    yield measure_fact(
        defn,
        "pct_reduction",
        "number",
        f"(baseline - latest) / baseline{floor_note}, a fraction: 0.5 when the "
        "score halves; missing without a follow-up or with a baseline at the floor",
        _pct(-1, lo),
        unit="fraction",
        maximum=1,
    )


def _change(s: MeasureSeries, v: EpisodeView) -> Any:
    if not s.has_follow_up:
        return None
    return round_fact(total_of(s.latest) - total_of(s.baseline))


def _change_from_previous(s: MeasureSeries, v: EpisodeView) -> Any:
    if s.previous is None:
        return None
    return round_fact(total_of(s.latest) - total_of(s.previous))


def _pct_from_previous(lo: Any) -> Callable[[MeasureSeries, EpisodeView], Any]:
    def pct(s: MeasureSeries, v: EpisodeView) -> Any:
        if s.previous is None:
            return None
        b = total_of(s.previous) - lo
        if b == 0:
            return None
        return round_fact((total_of(s.latest) - total_of(s.previous)) / b)

    return pct


def _pct(sign: int, lo: Any) -> Callable[[MeasureSeries, EpisodeView], Any]:
    def pct(s: MeasureSeries, v: EpisodeView) -> Any:
        if not s.has_follow_up:
            return None
        b = total_of(s.baseline) - lo
        if b == 0:
            return None
        return round_fact(sign * (total_of(s.latest) - total_of(s.baseline)) / b)

    return pct


def _bands(defn: MeasureDefinition) -> Iterator[Fact]:
    if defn.bands is None or not defn.band_names:
        return
    allowed = tuple(defn.band_names)
    if defn.bands.ranges:
        yield measure_fact(
            defn,
            "band",
            "text",
            "band of the latest valid administration",
            lambda s, v: s.latest.score.band if s.latest and s.latest.score else None,
            allowed=allowed,
        )
        yield measure_fact(
            defn,
            "baseline_band",
            "text",
            "band of the baseline administration",
            lambda s, v: s.baseline.score.band if s.baseline and s.baseline.score else None,
            allowed=allowed,
        )
    else:
        yield measure_fact(
            defn,
            "band",
            "text",
            "level of the latest administration (null while undetermined)",
            lambda s, v: s.latest_any.score.band if s.latest_any and s.latest_any.score else None,
            allowed=allowed,
        )


def _mismatch(s: MeasureSeries, v: EpisodeView) -> Any:
    sc = s.latest_score()
    return None if sc is None or sc.total_agrees is None else not sc.total_agrees

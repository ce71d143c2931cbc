"""Treatment-target facts: response, remission, how long each has lasted, reliable change, and
how the score moved since the psychiatric consultant last discussed the patient.

Every number comes from the measure file's ``targets`` (with its source and status, which the
fact's meaning repeats): a measure without a response definition has no ``response`` fact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..measures import MeasureDefinition
from .rows import SeriesFn, measure_fact
from .series import MeasureSeries, total_of
from .spec import Fact, round_fact
from .view import CONSULTANT_REVIEWS, EpisodeView

__all__ = ["measure_facts", "responded", "run_weeks"]


def responded(total: Any, baseline: Any, share: float, lo: Any) -> bool:
    """Whether ``total`` is a response to ``baseline``: at least ``share`` below it, both
    measured from the scale's floor ``lo`` (a baseline at the floor cannot fall by a share of
    itself). The response facts and the caseload metrics use this one definition."""
    return baseline - lo > 0 and total - lo <= (1 - share) * (baseline - lo)


def measure_facts(defn: MeasureDefinition) -> Iterator[Fact]:
    """Response, remission, their run lengths and reliable/meaningful improvement of one measure."""
    targets = defn.targets
    if targets is None:
        return
    lo = defn.total.range[0] if defn.total is not None else 0
    response = targets.response if targets.response is not None and targets.response.min_reduction is not None else None
    remission = targets.remission if targets.remission is not None and targets.remission.below is not None else None
    if response is not None:
        share = response.min_reduction
        assert share is not None
        yield measure_fact(
            defn,
            "response",
            "boolean",
            f"latest total at least {share:.0%} below the baseline "
            f"({response.source}, {response.status}); missing without a follow-up",
            _response(share, lo),
        )
    if remission is not None:
        below = remission.below
        yield measure_fact(
            defn,
            "remission",
            "boolean",
            f"latest total below {below} ({remission.source}, {remission.status})",
            lambda s, v: (total_of(s.latest) < below) if s.latest else None,
        )
        yield measure_fact(
            defn,
            "remission_weeks",
            "integer",
            f"whole weeks the current run of administrations below {below} has "
            "lasted (first to latest of the run); 0 when the latest is not in remission",
            run_weeks(lambda t, b: t < below),
            unit="weeks",
            minimum=0,
        )
    if response is not None:
        share = response.min_reduction
        assert share is not None
        yield measure_fact(
            defn,
            "response_weeks",
            "integer",
            "whole weeks the current run of follow-up administrations meeting the "
            "response definition has lasted; 0 when the latest is not a response",
            run_weeks(lambda t, b: responded(t, b, share, lo)),
            unit="weeks",
            minimum=0,
        )
    for name in ("reliable_change", "meaningful_change"):
        target = getattr(targets, name, None)
        if target is not None and target.points is not None:
            yield measure_fact(
                defn,
                f"{name.split('_')[0]}_improvement",
                "boolean",
                f"improved by at least {target.points} points from baseline ({name.replace('_', ' ')}; "
                f"{target.source}, {target.status})",
                _improved(target.points, higher_is_better=targets.higher_is == "better"),
            )
    if defn.total is not None:
        yield measure_fact(
            defn,
            "change_since_consultant_review",
            "number",
            "latest total minus the total known at the psychiatric consultant's last review (the latest "
            "valid administration dated on or before the last consultation or case review), in points "
            "(positive when the score rose since); 0 when nothing was measured after the review; missing "
            "when the patient was never reviewed or nothing was measured by then",
            _since_review,
            unit="points",
            minimum=-(defn.total.range[1] - defn.total.range[0]),
            maximum=defn.total.range[1] - defn.total.range[0],
        )


def _response(share: float, lo: Any) -> SeriesFn:
    def response(s: MeasureSeries, v: EpisodeView) -> Any:
        if not s.has_follow_up:
            return None
        baseline = total_of(s.baseline)
        if baseline - lo <= 0:
            return None  # a baseline at the floor cannot fall by a share of itself
        return responded(total_of(s.latest), baseline, share, lo)

    return response


def run_weeks(ok: Callable[[Any, Any], bool]) -> SeriesFn:
    """Whole weeks from the first to the latest administration of the current run of valid
    administrations meeting ``ok(total, baseline_total)``; 0 when the latest does not.
    Walks back from the latest, scoring only as far as the run goes."""

    def weeks(s: MeasureSeries, v: EpisodeView) -> Any:
        latest, first = s.latest, s.baseline
        if latest is None or first is None:
            return None
        base = total_of(first)
        start = None
        for k in range(len(s.entries) - 1, -1, -1):
            a = s.at(k)
            if not s.is_valid(a):
                continue
            if (a is first and start is not None) or not ok(total_of(a), base):
                break
            start = a.date
        return 0 if start is None else (latest.date - start).days // 7

    return weeks


def _since_review(s: MeasureSeries, v: EpisodeView) -> Any:
    review = v.last_contact(*CONSULTANT_REVIEWS)
    known = None if review is None else s.latest_by(review)
    if known is None:
        return None
    return round_fact(total_of(s.latest) - total_of(known))


def _improved(points: int, *, higher_is_better: bool) -> SeriesFn:
    def improved(s: MeasureSeries, v: EpisodeView) -> Any:
        if not s.has_follow_up:
            return None
        delta = total_of(s.latest) - total_of(s.baseline)
        return (delta >= points) if higher_is_better else (-delta >= points)

    return improved

"""A measure's administrations for one patient, in date order, scored only when read.

:class:`MeasureSeries` is what every measure fact reads (and what the caseload metrics read):
the baseline, latest and previous *valid* administrations, the latest administration of any
state (flags and safety items come from it, so an invalid latest safety screen fails closed),
and the administrations in between. Most facts need only the two ends, so scoring starts
from either end and stops at the first valid administration.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..episode import Episode
from ..errors import InvalidInput
from ..light_episode import AnyAssessment, AnyEpisode
from ..measures import MeasureDefinition, MeasureLibrary, load_measures
from ..scoring import Score, ScoreData, scorer_for
from ..vocabulary import SAFETY_ITEM_MISSING
from .spec import lazy

__all__ = ["MeasureSeries", "ScoredAssessment", "concern", "score_one", "scored_assessments", "total_of"]


@dataclass(frozen=True)
class ScoredAssessment:
    """An assessment and its score, or the reason it could not be scored."""

    index: int
    assessment: AnyAssessment
    score: Score | ScoreData | None
    error: str | None = None

    @property
    def date(self) -> dt.date:
        """Date of the administration."""
        return self.assessment.date


def total_of(a: ScoredAssessment | None) -> Any:
    """The total of a scored administration, or None."""
    return None if a is None or a.score is None else a.score.total


def _context_for(defn: MeasureDefinition, a: AnyAssessment, episode: AnyEpisode) -> dict[str, Any]:
    ctx = dict(a.context)
    if "sex" in defn.context and "sex" not in ctx and episode.sex is not None:
        ctx["sex"] = episode.sex
    return ctx


def score_one(
    i: int, a: AnyAssessment, episode: AnyEpisode, lib: MeasureLibrary, *, fast: bool = False, scorer: Any = None
) -> ScoredAssessment:
    """Score the ``i``-th assessment of ``episode``; invalid answers give the error in place
    of the score (naming the patient and ``assessments[i]``), never an exception. ``fast``
    returns the scorer's lighter :class:`~cocm_rules.scoring.ScoreData`."""
    try:
        if scorer is None:
            scorer = scorer_for(lib.get_measure(lib.resolve(a.measure) or a.measure))
        defn = scorer.defn
        ctx = _context_for(defn, a, episode) if (a.context or scorer.needs_context) else {}
        s = scorer.score_data(a.answers, ctx, a.total) if fast else scorer.score(a.answers, ctx, a.total)
        return ScoredAssessment(i, a, s)
    except InvalidInput as e:
        return ScoredAssessment(i, a, None, str(e.in_record(f"patient {episode.patient_id!r}", f"assessments[{i}]")))


def scored_assessments(
    episode: Episode, library: MeasureLibrary | None = None, *, measure: str | None = None
) -> list[ScoredAssessment]:
    """Score every assessment of the episode (or of one measure) through the measure library.

    Invalid answers do not raise: the entry carries the error, naming the record and field.
    """
    lib = library if library is not None else load_measures()
    out = []
    for i, a in enumerate(episode.assessments):
        if measure is not None and a.measure != measure and lib.resolve(a.measure) != measure:
            continue
        out.append(score_one(i, a, episode, lib))
    return out


class MeasureSeries:
    """A measure's administrations up to ``as_of``, in date order, scored only when read.

    Most facts need the first valid, the last valid and the latest administration; those are
    found by scoring from either end until a valid one appears.
    """

    def __init__(
        self,
        defn: MeasureDefinition,
        entries: list[tuple[int, AnyAssessment]],
        episode: AnyEpisode,
        library: MeasureLibrary,
    ) -> None:
        self.defn = defn
        self.entries = entries  # (index in the episode, assessment), sorted by (date, index)
        self.episode = episode
        self.library = library
        self.has_total = defn.total is not None
        self.scorer = scorer_for(defn)
        self._scored: list[ScoredAssessment | None] = [None] * len(entries)

    def at(self, k: int) -> ScoredAssessment:
        """The ``k``-th administration in date order, scored."""
        sa = self._scored[k]
        if sa is None:
            i, a = self.entries[k]
            sa = self._scored[k] = score_one(i, a, self.episode, self.library, fast=True, scorer=self.scorer)
        return sa

    def is_valid(self, sa: ScoredAssessment) -> bool:
        """Scored, valid, and with a total where the measure has one."""
        sc = sa.score
        return sc is not None and sc.valid and (sc.total is not None or not self.has_total)

    @lazy
    def valid_count(self) -> int:
        """Valid administrations, counted without scoring those whose answers are plainly
        valid (a complete list of allowed codes: see ``Scorer.plain``)."""
        plain = self.scorer.plain
        n = 0
        for k, (_, a) in enumerate(self.entries):
            sa = self._scored[k]
            if sa is None and not a.context and a.total is None and plain(a.answers):
                n += 1  # valid without scoring
            elif self.is_valid(sa if sa is not None else self.at(k)):
                n += 1
        return n

    @lazy
    def admins(self) -> list[ScoredAssessment]:
        """Every administration, scored, in date order."""
        return [self.at(k) for k in range(len(self.entries))]

    @lazy
    def latest_any(self) -> ScoredAssessment | None:
        """The latest administration, valid or not. When several share the latest date, the
        one of most concern counts (see :func:`concern`): their order in the record must not
        decide whether a suicide risk is seen."""
        n = len(self.entries)
        if not n:
            return None
        last = self.at(n - 1)
        if n == 1 or self.entries[n - 2][1].date != last.date:
            return last
        best, rank = last, concern(last, self.defn)
        k = n - 1
        while k and self.entries[k - 1][1].date == last.date:
            k -= 1
            sa = self.at(k)
            r = concern(sa, self.defn)
            if r > rank:
                best, rank = sa, r
        return best

    @lazy
    def baseline(self) -> ScoredAssessment | None:
        """The first valid administration."""
        for k in range(len(self.entries)):
            if self.is_valid(sa := self.at(k)):
                return sa
        return None

    def _from_end(self, skip: int) -> ScoredAssessment | None:
        for k in range(len(self.entries) - 1, -1, -1):
            if self.is_valid(sa := self.at(k)):
                if not skip:
                    return sa
                skip -= 1
        return None

    @lazy
    def latest(self) -> ScoredAssessment | None:
        """The latest valid administration."""
        return self._from_end(0)

    @lazy
    def previous(self) -> ScoredAssessment | None:
        """The valid administration before the latest valid one."""
        return self._from_end(1)

    def latest_by(self, day: dt.date) -> ScoredAssessment | None:
        """The latest valid administration dated on or before ``day`` (None if there is none)."""
        for k in range(len(self.entries) - 1, -1, -1):
            if self.entries[k][1].date <= day and self.is_valid(sa := self.at(k)):
                return sa
        return None

    @lazy
    def has_follow_up(self) -> bool:
        """At least two valid administrations (a baseline and a later one)."""
        return self.previous is not None

    def latest_score(self) -> Score | ScoreData | None:
        """The score of the latest administration of any state (None if it has none)."""
        last = self.latest_any
        return last.score if last is not None else None

    def totals(self) -> list[tuple[dt.date, Any]]:
        """(date, total) of every valid administration, in date order."""
        return [(sa.date, total_of(sa)) for sa in self.admins if self.is_valid(sa)]


def concern(sa: ScoredAssessment, defn: MeasureDefinition) -> tuple[bool, bool, bool, int, int]:
    """How much safety concern an administration shows, for choosing among same-day ones:
    urgent suicide risk, then suicide risk, then safety data missing or unreadable (which fails
    closed), then the higher band, then the higher safety answers."""
    sc = sa.score
    if sc is None:
        return (False, False, True, -1, 0)
    flags = sc.flags
    band = sc.band
    level = defn.band_names.index(band) if band is not None and band in defn.band_names else -1
    answers: Mapping[str, Any] = sc.answers
    safety = sum(answers.get(i) or 0 for i in defn.safety_items)
    return ("urgent_suicide_risk" in flags, "suicide_risk" in flags, SAFETY_ITEM_MISSING in flags, level, safety)

"""One patient's episode as of a date: what every fact function reads.

An :class:`EpisodeView` is built per (episode, ``as_of``) and computes what several facts
share once, when first needed: the administrations by measure (a :class:`MeasureSeries`
each), the contacts, SMI events, pending recommendations and records set aside dated on or
before ``as_of``. Only events dated on or before ``as_of`` count; no wall clock is read.
Fact families that need a value of their own computed once per patient keep it with
:meth:`EpisodeView.memo`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

from ..light_episode import AnyAssessment, AnyContact, AnyEpisode, AnyRecommendation, AnySetAside, AnySmiEvent
from ..measures import MeasureLibrary
from .series import MeasureSeries, ScoredAssessment
from .spec import lazy

__all__ = ["CONSULTANT_REVIEWS", "PATIENT_CONTACTS", "EpisodeView"]

#: Contact kinds that involve the patient (a case review is the team and consultant only).
PATIENT_CONTACTS = ("initial_assessment", "follow_up", "psychiatric_consultation", "other")
#: Contact kinds in which the psychiatric consultant discussed the patient.
CONSULTANT_REVIEWS = ("psychiatric_consultation", "case_review")

_date = attrgetter("date")


def _entry_key(entry: tuple[int, AnyAssessment]) -> tuple[dt.date, int]:
    return entry[1].date, entry[0]


class EpisodeView:
    """Everything the fact functions read about one episode as of one date, computed lazily."""

    def __init__(self, episode: AnyEpisode, as_of: dt.date, library: MeasureLibrary) -> None:
        self.episode = episode
        self.as_of = as_of
        self.library = library
        self._series: dict[str, MeasureSeries | None] = {}
        self._memo: dict[str, Any] = {}

    def days(self, d: dt.date | None) -> int | None:
        """Days from ``d`` to as_of (None for None)."""
        return None if d is None else (self.as_of - d).days

    def memo(self, key: str, compute: Callable[[EpisodeView], Any]) -> Any:
        """``compute(self)``, computed once per view under ``key`` (for values two facts share)."""
        try:
            return self._memo[key]
        except KeyError:
            value = self._memo[key] = compute(self)
            return value

    def series(self, measure: str) -> MeasureSeries | None:
        """The administrations of ``measure`` (a library id) on or before as_of; None if there
        are none or the library does not know the measure."""
        try:
            return self._series[measure]
        except KeyError:
            pass
        defn = self.library.get(measure)
        entries = self.by_measure.get(measure)
        result = None if defn is None or entries is None else MeasureSeries(defn, entries, self.episode, self.library)
        self._series[measure] = result
        return result

    @lazy
    def by_measure(self) -> dict[str, list[tuple[int, AnyAssessment]]]:
        """Administrations on or before as_of by measure id as sent (parsing turned aliases into
        ids), each list of (index in the episode, assessment) sorted by (date, index)."""
        as_of = self.as_of
        out: dict[str, list[tuple[int, AnyAssessment]]] = {}
        assessments: Sequence[AnyAssessment] = self.episode.assessments
        for i, a in enumerate(assessments):
            if a.date <= as_of:
                entries = out.get(a.measure)
                if entries is None:
                    out[a.measure] = [(i, a)]
                else:
                    if a.date < entries[-1][1].date:
                        entries.append((i, a))
                        entries.sort(key=_entry_key)
                        continue
                    entries.append((i, a))
        return out

    @lazy
    def administered(self) -> frozenset[str]:
        """Measures with at least one administration on or before as_of."""
        return frozenset(self.by_measure)

    @lazy
    def unrecognized(self) -> list[str]:
        """Measure ids administered on or before as_of that the library does not recognize, as
        written, in order."""
        return sorted(m for m in self.by_measure if m not in self.library.ids)

    @lazy
    def invalid(self) -> list[str]:
        """Recognized measures whose latest administration could not be scored, sorted."""
        out = []
        for measure in self.administered:
            s = self.series(measure)
            if s is not None and s.latest_any is not None and s.latest_any.score is None:
                out.append(measure)
        return sorted(out)

    def count_latest(self, test: Callable[[ScoredAssessment], bool]) -> int:
        """Number of measures whose latest administration passes ``test``."""
        n = 0
        for measure in self.administered:
            s = self.series(measure)
            if s is not None and s.latest_any is not None and test(s.latest_any):
                n += 1
        return n

    @lazy
    def contacts(self) -> list[AnyContact]:
        """Contacts on or before as_of, in date order."""
        as_of = self.as_of
        return sorted([c for c in self.episode.contacts if c.date <= as_of], key=_date)

    def last_contact(self, *kinds: str) -> dt.date | None:
        """Latest contact of these kinds (default: any contact with the patient)."""
        wanted = kinds or PATIENT_CONTACTS
        for c in reversed(self.contacts):
            if c.kind in wanted:
                return c.date
        return None

    def first_contact(self, kind: str) -> dt.date | None:
        """Earliest contact of this kind."""
        for c in self.contacts:
            if c.kind == kind:
                return c.date
        return None

    @lazy
    def smi(self) -> list[AnySmiEvent]:
        """SMI outcome events on or before as_of, in date order."""
        as_of = self.as_of
        return sorted([e for e in self.episode.smi_events if e.date <= as_of], key=_date)

    @lazy
    def pending(self) -> list[AnyRecommendation]:
        """Consultant recommendations made on or before as_of and not acted on by then."""
        return [
            r
            for r in self.episode.recommendations
            if r.date <= self.as_of
            and (r.status == "pending" or (r.resolved_date is not None and r.resolved_date > self.as_of))
        ]

    @lazy
    def set_aside(self) -> list[AnySetAside]:
        """Records set aside (see :class:`~cocm_rules.episode.SetAside`) dated on or before
        as_of, or undated."""
        as_of = self.as_of
        return [x for x in self.episode.set_aside if x.date is None or x.date <= as_of]

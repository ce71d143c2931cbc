"""What the report shows, as data: the review list, the caseload metrics and each listed
patient's trajectories, from one caseload as of one date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .._log import get_logger
from ..caseload import CaseloadMetrics, caseload_metrics
from ..engine import Engine
from ..episode import Episode
from ..errors import InvalidInput
from ..records import iter_records, refuse_one_record
from ..review import ReviewList, review_list
from ._trajectory import Trajectory, trajectories

__all__ = ["CaseloadReport", "PatientCharts", "build_report"]

log = get_logger(__name__)


class PatientCharts(BaseModel):
    """The trajectories of one patient on the review list."""

    model_config = ConfigDict(frozen=True)

    rank: int
    patient_id: str
    trajectories: list[Trajectory]


class CaseloadReport(BaseModel):
    """Everything the HTML report shows (render it with :func:`~cocm_rules.report.render_report`)."""

    model_config = ConfigDict(frozen=True)

    as_of: dt.date
    rulesets: list[str] = Field(description="the rulesets evaluated, as name@version")
    measure_names: dict[str, str] = Field(description="measure id -> the name shown (e.g. phq9 -> PHQ-9)")
    review: ReviewList
    metrics: CaseloadMetrics
    charts: list[PatientCharts] = Field(description="one per review-list entry, in rank order")

    @property
    def records(self) -> int:
        """Records read: evaluated plus those that could not be."""
        return self.review.patients_evaluated + len(self.review.errors)


def _episode(record: Any, engine: Engine) -> Episode:
    """The episode of a record the review list evaluated (so a valid one)."""
    _index, _line, item = next(iter_records([record], engine.library))
    if not isinstance(item, Episode):  # the same record was valid a moment ago: a defect
        raise AssertionError(f"a listed record could not be read again: {item.summary()}")
    return item


def build_report(engine: Engine, records: Iterable[Any], as_of: dt.date, *, limit: int | None = None) -> CaseloadReport:
    """The report's data for ``records`` as of ``as_of``: the review list (the first ``limit``
    entries when given), the caseload metrics and each listed patient's trajectories.

    The records are read into memory once (the report is a page for a team's caseload, not a
    stream): the review list and the metrics each read them, and the listed patients' records
    are read again for their charts. Records that cannot be evaluated are in
    ``review.errors`` (and ``metrics.errors``), never dropped. Raises TypeError for an
    ``engine`` that is not an :class:`~cocm_rules.Engine` or one record in place of an
    iterable, and :class:`~cocm_rules.InvalidInput` for an invalid ``as_of`` or ``limit``.
    """
    if not isinstance(engine, Engine):
        raise TypeError(f"engine must be an Engine, not {type(engine).__name__}: use Engine.load()")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise InvalidInput(
            "limit must be a whole number of at least 1, or None for every entry", field="limit", value=limit
        )
    refuse_one_record(records)
    items = list(records)
    review = review_list(engine, items, as_of, limit=limit)
    metrics = caseload_metrics(items, as_of, library=engine.library)
    charts = [
        PatientCharts(
            rank=e.rank,
            patient_id=e.patient_id,
            trajectories=trajectories(_episode(items[e.record], engine), as_of, library=engine.library),
        )
        for e in review.entries
    ]
    report = CaseloadReport(
        as_of=as_of,
        rulesets=[f"{rs.name}@{rs.version}" for rs in engine.rulesets.rulesets],
        measure_names={m: engine.library[m].label for m in engine.library},
        review=review,
        metrics=metrics,
        charts=charts,
    )
    log.info(
        "report.built",
        records=report.records,
        evaluated=review.patients_evaluated,
        listed=len(review.entries),
        charts=sum(len(c.trajectories) for c in charts),
        errors=len(review.errors),
    )
    return report

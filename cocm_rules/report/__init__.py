"""The caseload report: one self-contained HTML page with the review list, the caseload
metrics and each listed patient's measure trajectories, for the care team.

A reader of engine output: it decides nothing clinical. The review list and the metrics are
:mod:`cocm_rules.review`'s and :mod:`cocm_rules.caseload`'s; each chart plots a patient's valid
totals of the tracked measures (``metrics/caseload.yaml``) over weeks since the initial
assessment, with the response and remission lines of the measure file's ``targets``, labelled
with their source and status (an unconfirmed target says so on the chart)::

    import datetime as dt
    from cocm_rules import Engine
    from cocm_rules.batch import read_records
    from cocm_rules.report import caseload_report

    html = caseload_report(Engine.load(), read_records("examples/caseload.jsonl"), dt.date(2026, 11, 20))

Building the data (:func:`build_report`) needs nothing optional; rendering it
(:func:`render_report`, :func:`caseload_report`) needs the ``report`` extra (plotly and
Jinja2): ``pip install 'cocm-rules[report]'``; :func:`require` says so (BackendUnavailable
with that line) before any work is done. The page loads nothing from anywhere (plotly.js
is inlined, about 5 MB) and holds patient ids and scores by design; only counts are logged.

Layout::

    _trajectory.py  Trajectory: a measure's totals, weeks and target lines for one patient
    _build.py       CaseloadReport and build_report(): the data of the page
    _metrics.py     the metrics model as table rows, read generically
    _charts.py      a Trajectory as a plotly figure
    _html.py        the page (Jinja2, autoescaped; templates/report.html.j2)
    _require.py     the optional imports, with the install hint
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from ..engine import Engine
from ._build import CaseloadReport, PatientCharts, build_report
from ._html import render_report
from ._metrics import MetricRow, MetricsTable, metrics_table
from ._require import require
from ._trajectory import Point, TargetLine, Trajectory, response_level, trajectories

__all__ = [
    "CaseloadReport",
    "MetricRow",
    "MetricsTable",
    "PatientCharts",
    "Point",
    "TargetLine",
    "Trajectory",
    "build_report",
    "caseload_report",
    "metrics_table",
    "render_report",
    "require",
    "response_level",
    "trajectories",
]


def caseload_report(engine: Engine, records: Iterable[Any], as_of: dt.date, *, limit: int | None = None) -> str:
    """The caseload report of ``records`` as of ``as_of`` as one self-contained HTML page:
    :func:`build_report` then :func:`render_report`.

    Records that cannot be evaluated are listed in the page, never dropped. Raises
    :class:`~cocm_rules.BackendUnavailable` without the ``report`` extra, before any record
    is read.
    """
    require()
    return render_report(build_report(engine, records, as_of, limit=limit))

"""The report as one self-contained HTML page: Jinja2 with autoescaping, plotly.js inlined.

Everything from the data (patient ids, messages, labels) is escaped by the template engine;
the chart figures travel as JSON in a ``<script type="application/json">`` element (escaped
for HTML by Jinja's ``tojson``) and are drawn by one small script. The page loads nothing:
its Content-Security-Policy allows no source but its own two scripts (by hash), inline styles
and images from ``data:`` and ``blob:`` URLs (plotly's image export), so a script or font that
tried to load from elsewhere would be refused by the browser. No date or time of writing is
put in the page: the same data gives the same page.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from functools import cache
from typing import Any

from . import _require
from ._build import CaseloadReport
from ._charts import CHART_CONFIG, figure
from ._metrics import NONE, metrics_table

__all__ = ["BOOT_SCRIPT", "content_security_policy", "render_report"]

#: Draws every chart from the JSON data element; marks each drawn chart ``data-rendered``
#: and the body ``data-charts-rendered`` with their number once all are drawn.
BOOT_SCRIPT = """
(function () {
  "use strict";
  var specs = JSON.parse(document.getElementById("chart-data").textContent);
  var drawn = 0;
  function finished() {
    drawn += 1;
    if (drawn === specs.length) document.body.setAttribute("data-charts-rendered", String(drawn));
  }
  if (!specs.length) document.body.setAttribute("data-charts-rendered", "0");
  specs.forEach(function (spec) {
    var box = document.getElementById(spec.id);
    Plotly.newPlot(box, spec.figure.data, spec.figure.layout, spec.config).then(function () {
      box.setAttribute("data-rendered", "true");
      finished();
    }, function (error) {
      console.error("chart " + spec.id + " could not be drawn: " + error);
    });
  });
})();
"""


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


@cache
def content_security_policy() -> str:
    """The page's policy: nothing is loaded; only the page's own two scripts run."""
    scripts = " ".join(_sha256(s) for s in (_require.plotly_js(), BOOT_SCRIPT))
    return (
        f"default-src 'none'; script-src {scripts}; style-src 'unsafe-inline'; "
        "img-src data: blob:; base-uri 'none'; form-action 'none'"
    )


@cache
def _environment() -> Any:
    jinja2 = _require.jinja2()
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cocm_rules.report", "templates"),
        autoescape=True,  # every value is data: patient ids, messages, labels
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["text"] = _text
    return env


def _text(value: Any) -> str:
    """A value as shown in a cell: a date in ISO form, nothing as a dash, ``_`` as spaces in words."""
    if value is None:
        return NONE
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _first_last(row: Mapping[str, Any], measure: str) -> str:
    """``18 (2026-03-24) → 9 (2026-11-14)`` from a registry row's first and last columns."""
    first, last = row.get(f"{measure}_first"), row.get(f"{measure}_last")
    if first is None:
        return ""
    text = f"{_text(first)} ({_text(row.get(f'{measure}_first_date'))})"
    if row.get(f"{measure}_last_date") != row.get(f"{measure}_first_date"):
        text += f" \N{RIGHTWARDS ARROW} {_text(last)} ({_text(row.get(f'{measure}_last_date'))})"
    return text


def _row_measures(row: Mapping[str, Any]) -> list[str]:
    """The measures a registry row has first/last columns for (``phq9_first`` -> ``phq9``)."""
    return [key[: -len("_first")] for key in row if key.endswith("_first")]


def render_report(report: CaseloadReport) -> str:
    """The report as one self-contained HTML page (works offline; nothing is fetched).

    Raises :class:`~cocm_rules.BackendUnavailable` without plotly or Jinja2 (the ``report``
    extra: ``pip install 'cocm-rules[report]'``).
    """
    if not isinstance(report, CaseloadReport):
        raise TypeError(f"report must be a CaseloadReport, not {type(report).__name__}: use build_report()")
    _require.require()
    plotly_js = _require.plotly_js()
    charts = []
    for patient in report.charts:
        for t in patient.trajectories:
            charts.append({"id": f"chart-{patient.rank}-{t.measure}", "figure": figure(t), "config": CHART_CONFIG})
    rows = [e.row.model_dump() for e in report.review.entries]
    measures = _row_measures(rows[0]) if rows else []
    page: str = (
        _environment()
        .get_template("report.html.j2")
        .render(
            report=report,
            review=report.review,
            metrics=metrics_table(report.metrics, report.measure_names),
            entries=list(zip(report.review.entries, rows, report.charts, strict=True)),
            measures=measures,
            measure_names=report.measure_names,
            first_last=_first_last,
            charts=charts,
            csp=content_security_policy(),
            plotly_js=plotly_js,
            boot_script=BOOT_SCRIPT,
        )
    )
    return page

"""``cocm-rules report``: the caseload report as one self-contained HTML file (extra ``report``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..batch import read_records
from ..report import build_report, render_report, require
from ._app import app, fail, finish_batch
from ._caseload import CaseloadArg
from ._rules import AsOfOpt, BackendOpt, RulesetsOpt, as_of_date, load_engine


@app.command("report")
def report_command(
    caseload: CaseloadArg,
    as_of: AsOfOpt,
    out: Annotated[Path, typer.Option("--out", "-o", metavar="FILE.html", help="The HTML file to write.")],
    rulesets: RulesetsOpt = None,
    backend: BackendOpt = "compiled",
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=1, help="Show the first N patients of the review list.")
    ] = None,
) -> None:
    """Write the caseload report: one HTML file with the review list, the caseload metrics and
    a chart of each listed patient's PHQ-9 / GAD-7 / PCL-5 over weeks in treatment, with the
    response and remission lines of the measure files (needs the 'report' extra).

    The file works offline (nothing is fetched) and holds patient ids and scores: it is for
    the care team. Records that could not be evaluated are listed in it, and the exit status
    is then 3.

    Example: cocm-rules report examples/caseload.jsonl --as-of 2026-11-20 --out build/report.html
    """
    require()  # without the 'report' extra: exit 2 with the install line before reading anything
    engine = load_engine(rulesets, backend)
    records = read_records("-" if str(caseload) == "-" else caseload, lines_as_text=True)
    report = build_report(engine, records, as_of_date(as_of), limit=limit)
    page = render_report(report)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(page, encoding="utf-8")
    except OSError as e:
        fail(f"cannot write the report to {out}: {e.strerror or e}")
    review = report.review
    typer.echo(
        f"report written to {out}: {len(review.entries)} of {review.patients_evaluated} patients on the review list",
        err=True,
    )
    finish_batch(
        report.records, len(review.errors), review.errors, "listed in the report under 'Records not evaluated'"
    )

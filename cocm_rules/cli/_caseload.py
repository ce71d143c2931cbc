"""Caseload commands: ``review`` (the consultant's list), ``caseload`` (metrics) and ``synth``."""

from __future__ import annotations

import csv
import datetime as dt
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from .. import parallel
from ..batch import read_records
from ..caseload import CaseloadMetrics, Rate
from ..errors import InvalidInput
from ..review import ROW_FACTS, ReviewList
from ..synth import write_caseload
from ._app import CATEGORY_STYLE, app, console, finish_batch, record_errors_table
from ._rules import AsOfOpt, BackendOpt, JobsOpt, RulesetsOpt, as_of_date, load_engine

CaseloadArg = Annotated[Path, typer.Argument(metavar="CASELOAD", help="Episodes: .json, .jsonl, or - for stdin.")]


def _records(path: Path) -> Any:
    return read_records("-" if str(path) == "-" else path, lines_as_text=True)


def _first_last(first: Any, first_date: Any, last: Any, last_date: Any) -> str:
    if first is None:
        return ""
    text = f"{_num(first)} ({_d(first_date)})"
    if last_date != first_date:
        text += f" -> {_num(last)} ({_d(last_date)})"
    return text


def _num(v: Any) -> str:
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def _d(v: Any) -> str:
    return v.isoformat() if isinstance(v, dt.date) else ""


def _render_review(result: ReviewList) -> None:
    out = console()
    table = Table(
        "#",
        "patient",
        "status",
        "reasons",
        "PHQ-9",
        "GAD-7",
        "PCL-5",
        "weeks",
        "last follow-up",
        "last consultant",
        "plan",
        "sessions",
        "min/mo",
        title=f"Psychiatric case review list as of {result.as_of} ({len(result.entries)} of "
        f"{result.patients_evaluated} patients)",
        show_lines=True,
    )
    for e in result.entries:
        reasons = Text()
        for i, a in enumerate(e.reasons):
            if i:
                reasons.append("\n")
            reasons.append(a.title, style=CATEGORY_STYLE.get(a.category, ""))
        row = e.row
        consultant = max((d for d in (row.last_psych_consult_date, row.last_case_review_date) if d), default=None)
        table.add_row(
            str(e.rank),
            Text(e.patient_id),
            Text(row.status.replace("_", " ")),
            reasons,
            Text(_first_last(row.phq9_first, row.phq9_first_date, row.phq9_last, row.phq9_last_date)),
            Text(_first_last(row.gad7_first, row.gad7_first_date, row.gad7_last, row.gad7_last_date)),
            Text(_first_last(row.pcl5_first, row.pcl5_first_date, row.pcl5_last, row.pcl5_last_date)),
            "" if row.weeks_since_initial_assessment is None else str(row.weeks_since_initial_assessment),
            _d(row.last_follow_up_date),
            _d(consultant),
            _d(row.relapse_prevention_plan_date),
            str(row.sessions),
            str(row.minutes_this_month),
        )
    out.print(table)
    if result.errors:
        out.print(record_errors_table(result.errors))


#: What a review CSV row of a record that could not be evaluated says in ``reasons``.
NOT_EVALUATED = "NOT EVALUATED: see the error column"


def _review_csv(result: ReviewList) -> None:
    """The review list as CSV; each record that could not be evaluated is a row at the end with
    an empty rank, its record, line and error (a rejected patient is never silently absent)."""
    writer = csv.writer(sys.stdout)
    columns = list(ROW_FACTS)
    writer.writerow(
        ["rank", "patient_id", "priority", "severity", "reasons", "rule_ids", *columns, "record", "line", "error"]
    )
    for e in result.entries:
        row = e.row.model_dump()
        writer.writerow(
            [
                e.rank,
                e.patient_id,
                e.priority,
                e.severity,
                "; ".join(a.title for a in e.reasons),
                " ".join(a.rule_id for a in e.reasons),
                *("" if row[c] is None else row[c] for c in columns),
                e.record,
                "" if e.line is None else e.line,
                "",
            ]
        )
    blank = [""] * len(columns)
    for err in result.errors:
        line = "" if err.line is None else err.line
        writer.writerow(["", err.patient_id or "", "", "", NOT_EVALUATED, "", *blank, err.record, line, err.error])


@app.command("review")
def review(
    caseload: CaseloadArg,
    as_of: AsOfOpt,
    rulesets: RulesetsOpt = None,
    backend: BackendOpt = "compiled",
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Show the first N patients.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the review list as JSON.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print the review list as CSV.")] = False,
    jobs: JobsOpt = None,
) -> None:
    """The patients the psychiatric consultant should review, ranked, with their reasons and
    registry row (suicide risk first, then not-improving and worsening patients).

    A patient is listed once: a later record with the same patient_id is an error record
    naming the first. Records that could not be evaluated are in the output (a table after
    the list, 'errors' in --json, rows with an empty rank at the end of --csv) and the exit
    status is then 3. --jobs N: worker processes (default: one per core); the same list.

    Example: cocm-rules review examples/caseload.jsonl --as-of 2026-11-20
    """
    if as_json and as_csv:
        raise InvalidInput("choose one of --json and --csv", field="--csv")
    engine = load_engine(rulesets, backend)
    result = parallel.review_list(engine, _records(caseload), as_of_date(as_of), limit=limit, jobs=jobs)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        where = "listed under 'errors' in the JSON"
    elif as_csv:
        _review_csv(result)
        where = "rows with an empty rank at the end of the CSV"
    else:
        _render_review(result)
        where = "listed after the review list"
    errors = result.errors
    finish_batch(result.patients_evaluated + len(errors), len(errors), errors, where)


def _rate(r: Rate | None) -> str:
    if r is None:
        return "not defined"
    return f"{r.percent}% ({r.numerator}/{r.denominator})" if r.denominator else "no patients"


def _metric_rows(m: CaseloadMetrics) -> list[tuple[str, str]]:
    rows = [
        ("patients (records evaluated)", str(m.records)),
        ("active caseload", str(m.caseload_size)),
        ("by status", ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in m.by_status.items())),
        (f"contacted since {m.period_start}", _rate(m.contacted)),
        (f"follow-up measure since {m.period_start}", _rate(m.follow_up_measure)),
    ]
    for imp in m.improvement:
        name = imp.measure.upper().replace("PHQ9", "PHQ-9").replace("GAD7", "GAD-7")
        note = " (definition unconfirmed)" if imp.unconfirmed else ""
        rows += [
            (f"{name} >= 50% improvement (baseline >= {imp.baseline_at_least}){note}", _rate(imp.improved_50)),
            (f"{name} remission{note}", _rate(imp.remission)),
            (
                f"{name} median weeks to response",
                "" if imp.median_weeks_to_response is None else str(imp.median_weeks_to_response),
            ),
        ]
    rows.append(("CMS159-style remission at 12 months", _rate(m.cms159_remission_12m)))
    return rows


@app.command("caseload")
def caseload_command(
    caseload: CaseloadArg,
    as_of: AsOfOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    jobs: JobsOpt = None,
) -> None:
    """Caseload metrics: size, contacts and follow-up measures in the last 30 days, 50%
    improvement, remission, median weeks to response and a CMS159-style 12-month remission,
    overall and per care manager (definitions and sources: metrics/caseload.yaml).

    The caseload is read as a stream (memory does not grow with it). A patient counts once:
    a later record with the same patient_id is an error record naming the first. Records
    that could not be evaluated are in the output (a table after the metrics, 'errors' in
    --json) and the exit status is then 3. --jobs N: worker processes (default: one per
    core); the same metrics.

    Example: cocm-rules caseload examples/caseload.jsonl --as-of 2026-11-20
    """
    m = parallel.caseload_metrics(_records(caseload), as_of_date(as_of), jobs=jobs)
    if as_json:
        typer.echo(m.model_dump_json(indent=2))
        where = "listed under 'errors' in the JSON"
    else:
        managers = list(m.per_care_manager)
        table = Table("metric", "all", *managers, title=f"Caseload metrics as of {m.as_of}")
        per = [_metric_rows(m.per_care_manager[cm]) for cm in managers]
        for i, (label, value) in enumerate(_metric_rows(m)):
            table.add_row(Text(label), Text(value), *(Text(p[i][1]) for p in per))
        out = console()
        out.print(table)
        if m.errors:
            out.print(record_errors_table(m.errors))
        where = "listed after the metrics"
    finish_batch(m.records + len(m.errors), len(m.errors), m.errors, where)


@app.command("synth")
def synth(
    patients: Annotated[int, typer.Option("--patients", "-n", min=1, help="How many patients.")] = 100,
    seed: Annotated[int, typer.Option("--seed", "-s", help="Random seed (same seed, same caseload).")] = 0,
    as_of: Annotated[str, typer.Option("--as-of", metavar="YYYY-MM-DD", help="Nothing is dated after it.")] = (
        "2026-11-20"
    ),
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to a .jsonl or .json file instead of stdout.")
    ] = None,
    clean: Annotated[bool, typer.Option("--clean", help="No deliberate data errors (wrong totals, bad answers).")] = (
        False
    ),
) -> None:
    """Generate a synthetic caseload (responders, non-responders, drop-outs, suicide-item
    positives, SMI patients, ...) as JSON Lines.

    Example: cocm-rules synth --patients 500 --seed 7 -o caseload.jsonl
    """
    n = write_caseload(sys.stdout if out is None else out, patients, seed=seed, as_of=as_of_date(as_of), clean=clean)
    if out is not None:
        typer.echo(f"{n} patients written to {out}", err=True)

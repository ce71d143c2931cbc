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
from ..caseload import CaseloadMetrics, CaseloadSizeCheck, Rate
from ..errors import InvalidInput
from ..review import ROW_FACTS, ReviewList, review_list
from ..synth import write_caseload
from ._app import CATEGORY_STYLE, app, console, finish_batch, record_errors_table
from ._lifecycle import StoreOpt, state_text
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


def _render_review(result: ReviewList, *, with_state: bool = False) -> None:
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
            if with_state:
                reasons.append(f" [{state_text(a)}; {a.alert_id}]", style="dim" if a.state != "refired" else "bold")
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
    lead = ["rank", "patient_id", "priority", "severity", "reasons", "rule_ids", "states", "alert_ids"]
    writer.writerow([*lead, *columns, "record", "line", "error"])
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
                "; ".join(state_text(a) for a in e.reasons),
                " ".join(a.alert_id or "" for a in e.reasons),
                *("" if row[c] is None else row[c] for c in columns),
                e.record,
                "" if e.line is None else e.line,
                "",
            ]
        )
    blank = [""] * len(columns)
    for err in result.errors:
        line = "" if err.line is None else err.line
        first = ["", err.patient_id or "", "", "", NOT_EVALUATED, "", "", ""]
        writer.writerow([*first, *blank, err.record, line, err.error])


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
    store: StoreOpt = None,
) -> None:
    """The patients the psychiatric consultant should review, ranked, with their reasons and
    registry row (suicide risk first, then not-improving and worsening patients).

    A patient is listed once: a later record with the same patient_id is an error record
    naming the first. Records that could not be evaluated are in the output (a table after
    the list, 'errors' in --json, rows with an empty rank at the end of --csv) and the exit
    status is then 3. --jobs N: worker processes (default: one per core); the same list.

    With --store, each reason shows its state (new, acknowledged, snoozed until, refired) from
    the store's acknowledgements, and the alerts listed are recorded (for `cocm-rules ack`).

    Example: cocm-rules review examples/caseload.jsonl --as-of 2026-11-20
    """
    if as_json and as_csv:
        raise InvalidInput("choose one of --json and --csv", field="--csv")
    if store is None and str(caseload) != "-":
        parallel.prepare(jobs, caseload)  # the workers' server starts while the engine loads here
    engine, day = load_engine(rulesets, backend), as_of_date(as_of)
    if store is not None:  # acknowledgements are read and alerts recorded here: one process
        from ..store import AlertStore

        with AlertStore(store) as db:
            result = review_list(engine, _records(caseload), day, limit=limit, acknowledgements=db.acknowledgements())
            db.record_alerts([a for e in result.entries for a in (*e.reasons, *e.other_alerts)], day)
    else:
        result = parallel.review_list(engine, _records(caseload), day, limit=limit, jobs=jobs)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        where = "listed under 'errors' in the JSON"
    elif as_csv:
        _review_csv(result)
        where = "rows with an empty rank at the end of the CSV"
    else:
        _render_review(result, with_state=store is not None)
        where = "listed after the review list"
    errors = result.errors
    finish_batch(result.patients_evaluated + len(errors), len(errors), errors, where)


def _rate(r: Rate | None) -> str:
    if r is None:
        return "not defined"
    return f"{r.percent}% ({r.numerator}/{r.denominator})" if r.denominator else "no patients"


def _size(check: CaseloadSizeCheck | None) -> str:
    if check is None:
        return "per care manager"
    fte = f"{check.fte} FTE" + (" assumed: none given" if check.fte_assumed else "")
    return f"{check.caseload_size}: {check.position} {_num(check.low)}-{_num(check.high)} ({fte})"


def _size_label(m: CaseloadMetrics) -> str:
    """The caseload size row's label: the guidance and payer mix the care managers are compared with."""
    check = next((per.caseload_size_target for per in m.per_care_manager.values() if per.caseload_size_target), None)
    return check.label if check is not None else "caseload size against the AIMS Center guidance (per care manager)"


def _metric_rows(m: CaseloadMetrics, size_label: str) -> list[tuple[str, str]]:
    """(label, value) of every metric; each label states the metric's definition."""
    rows = [
        ("patients (records evaluated)", str(m.records)),
        ("by status", ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in m.by_status.items())),
        ("by program", ", ".join(f"{k} {v}" for k, v in m.by_program.items())),
        (m.caseload_size_label, str(m.caseload_size)),
        (size_label, _size(m.caseload_size_target)),
        (m.contacted.label, _rate(m.contacted)),
        (m.follow_up_measure.label, _rate(m.follow_up_measure)),
        (m.cohort.label, str(m.cohort.patients)),
    ]
    for imp in m.improvement:
        rows += [
            (f"{imp.label}: without a follow-up yet", str(imp.without_follow_up)),
            (imp.improved_50.label, _rate(imp.improved_50)),
        ]
        if imp.significantly_improved is not None:
            rows.append((imp.significantly_improved.label, _rate(imp.significantly_improved)))
        if imp.remission is not None:
            rows.append((imp.remission.label, _rate(imp.remission)))
        weeks = imp.median_weeks_to_response
        rows.append((imp.median_weeks_to_response_label, "" if weeks is None else str(weeks)))
    rows.append((m.cms159_remission_12m.label, _rate(m.cms159_remission_12m)))
    rows.append((f"SMI: active patients of the {', '.join(m.smi.programs)} program", str(m.smi.patients)))
    for target in m.smi.targets:
        if not target.at_target.denominator:
            value = f"none of {target.not_measured} measured" if target.not_measured else "no patients"
        else:
            value = _rate(target.at_target) + (f"; {target.not_measured} not measured" if target.not_measured else "")
        rows.append((target.at_target.label, value))
    return rows


def _fte(values: list[str] | None) -> dict[str, float]:
    """``--fte CM=FTE`` options as a mapping (the library checks the range)."""
    out: dict[str, float] = {}
    for text in values or []:
        cm, sep, number = text.rpartition("=")
        try:
            fte = float(number)
        except ValueError:
            fte = None
        if not sep or not cm or fte is None:
            raise InvalidInput(
                "--fte takes a care manager id and an FTE", field="--fte", value=text, allowed="CM=FTE, e.g. cm1=0.5"
            )
        if cm in out:
            raise InvalidInput(f"care manager {cm!r} is given twice", field="--fte", value=text)
        out[cm] = fte
    return out


@app.command("caseload")
def caseload_command(
    caseload: CaseloadArg,
    as_of: AsOfOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    fte: Annotated[
        list[str] | None,
        typer.Option(
            "--fte",
            metavar="CM=FTE",
            help="A care manager's FTE (above 0, at most 1), e.g. --fte cm1=0.5; repeat per care manager. "
            "Without one a care manager is compared as 1.0 FTE (the output says so).",
        ),
    ] = None,
    payer_mix: Annotated[
        str | None,
        typer.Option(
            "--payer-mix",
            help="The row of the AIMS caseload size guidance the team uses: commercial_behavioral (~90-120 per "
            "FTE), commercial_behavioral_medical (~80-100), medicaid_behavioral (~60-80, the default) or "
            "medicaid_behavioral_medical (~50-75).",
        ),
    ] = None,
    jobs: JobsOpt = None,
) -> None:
    """Caseload metrics, overall and per care manager, each labelled with its definition: the
    active caseload and its size per care manager against the AIMS Center guidance; contacts
    with the patient and follow-up measures in the last 30 days; in the episode cohort
    (enrolled in the last 365 days, followed to discharge) 50% improvement, PHQ-9 < 10 or 50%
    improvement, remission and median weeks to response; a CMS159-style 12-month remission;
    and the share of SMI patients at target on each SMI measure (definitions and sources:
    metrics/caseload.yaml).

    The caseload is read as a stream (memory does not grow with it). A patient counts once:
    a later record with the same patient_id is an error record naming the first. Records
    that could not be evaluated are in the output (a table after the metrics, 'errors' in
    --json) and the exit status is then 3. --jobs N: worker processes (default: one per
    core); the same metrics.

    Example: cocm-rules caseload examples/caseload.jsonl --as-of 2026-11-20 --fte cm1=0.5
    """
    if str(caseload) != "-":
        parallel.prepare(jobs, caseload)  # the workers' server starts while this process reads the definitions
    m = parallel.caseload_metrics(
        _records(caseload), as_of_date(as_of), jobs=jobs, care_manager_fte=_fte(fte), payer_mix=payer_mix
    )
    if as_json:
        typer.echo(m.model_dump_json(indent=2))
        where = "listed under 'errors' in the JSON"
    else:
        managers = list(m.per_care_manager)
        table = Table("metric", "all", *managers, title=f"Caseload metrics as of {m.as_of}", show_lines=True)
        size_label = _size_label(m)
        per = [_metric_rows(m.per_care_manager[cm], size_label) for cm in managers]
        for i, (label, value) in enumerate(_metric_rows(m, size_label)):
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
    medical: Annotated[
        bool,
        typer.Option("--medical", help="Give SMI patients antipsychotics, vital signs, labs and a smoking status."),
    ] = False,
) -> None:
    """Generate a synthetic caseload (responders, non-responders, drop-outs, suicide-item
    positives, SMI patients, ...) as JSON Lines.

    Example: cocm-rules synth --patients 500 --seed 7 -o caseload.jsonl
    """
    n = write_caseload(
        sys.stdout if out is None else out, patients, seed=seed, as_of=as_of_date(as_of), clean=clean, medical=medical
    )
    if out is not None:
        typer.echo(f"{n} patients written to {out}", err=True)

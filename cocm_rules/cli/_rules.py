"""Rule commands: ``validate``, ``test``, ``facts``, ``schema`` and ``evaluate``.

``validate`` and ``test`` are meant for a clinical team's own CI: they print every problem
and exit 1 when there is one (exit 2 stays reserved for a wrong command line).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from .. import parallel
from ..alerts import Alert
from ..batch import read_records, write_jsonl
from ..engine import BACKENDS, Engine, RecordError, ruleset_coverage, run_tests
from ..episode import episode_json_schema
from ..errors import InvalidInput, Problem, RulesetError, SafetyFloorError
from ..facts import catalog, catalog_markdown, describe_allowed
from ..facts import derive_facts as build_facts
from ..measures import MeasureDefinition
from ..profile import RulesProfile, profile_rules
from ..rules import load_rulesets
from ..rules.coverage import Coverage
from ..rules.language import ruleset_json_schema
from ..rules.safety import SAFETY_CASES
from ..scoring import Score
from ._app import CATEGORY_STYLE, SHOWN_ON_STDERR, app, console, finish_batch, log, record_errors_table
from ._lifecycle import StoreOpt, state_text

#: Exit status of ``validate`` / ``test`` when a ruleset is wrong or a test fails.
EXIT_FAILED = 1

PathsArg = Annotated[
    list[Path] | None,
    typer.Argument(metavar="PATHS...", help="Ruleset files or directories (default: the bundled rulesets)."),
]
RulesetsOpt = Annotated[
    list[Path] | None,
    typer.Option("--rulesets", "-r", metavar="PATH", help="Ruleset file or directory; repeatable (default: bundled)."),
]
BackendOpt = Annotated[str, typer.Option("--backend", "-b", metavar="compiled|durable", help="Rule backend.")]
AsOfOpt = Annotated[
    str, typer.Option("--as-of", metavar="YYYY-MM-DD", help="The date to evaluate on (required: no clock is read).")
]
JobsOpt = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        "-j",
        min=1,
        metavar="N",
        help="Worker processes (default: every core; 1: this process only). The output is the same.",
    ),
]
NoFloorOpt = Annotated[
    bool,
    typer.Option("--no-safety-floor", help="Skip the built-in suicide-risk cases (only for a partial set)."),
]


def as_of_date(text: str) -> dt.date:
    """Parse ``--as-of``; an InvalidInput names the option."""
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
    except ValueError:
        pass
    raise InvalidInput("expected a date YYYY-MM-DD", field="--as-of", value=text)


def _backend(name: str) -> str:
    if name not in BACKENDS:
        raise InvalidInput("unknown backend", field="--backend", value=name, allowed=", ".join(BACKENDS))
    return name


def _report_problems(error: RulesetError) -> None:
    out = console()
    for problem in error.problems:
        out.print(Text(str(problem)))
    out.print(Text(error.summary or str(error).splitlines()[-1], style="bold red"))


def load_engine(paths: list[Path] | None, backend: str = "compiled", *, safety_floor: bool = True) -> Engine:
    """An Engine over ``paths`` (bundled when empty); definition errors propagate."""
    return Engine.load(list(paths) if paths else None, backend=_backend(backend), safety_floor=safety_floor)


def _report_warnings(warnings: tuple[Problem, ...]) -> None:
    out = console()
    for problem in warnings:
        label = f"warning: {problem.context}" if problem.context else "warning"
        out.print(Text(str(dataclasses.replace(problem, context=label)), style="yellow"))


@app.command("validate")
def validate(paths: PathsArg = None, no_safety_floor: NoFloorOpt = False) -> None:
    """Check rulesets: every mistake in every file at once, as file:line:column.

    Also runs the safety floor on the set (PHQ-9/PHQ-A item 9, C-SSRS moderate and high,
    missing or invalid safety answers must raise a suicide_risk alert). Exit status 1 if
    anything is wrong. Warnings (a priority that tries to outrank suicide risk, which it
    cannot) are printed but do not fail.
    """
    try:
        rulesets = load_rulesets(list(paths) if paths else None)
    except RulesetError as error:
        _report_problems(error)
        raise typer.Exit(EXIT_FAILED) from error
    rules = sum(len(rs.rules) for rs in rulesets.rulesets)
    _report_warnings(rulesets.warnings)
    floor = "skipped (--no-safety-floor)"
    if not no_safety_floor:
        try:
            Engine(rulesets)
        except SafetyFloorError as error:
            _report_problems(error)
            raise typer.Exit(EXIT_FAILED) from error
        floor = "passed"
    out = console()
    for rs in rulesets.rulesets:
        out.print(Text(f"ok  {rs.file}: {rs.name} {rs.version}, {len(rs.rules)} rules, {len(rs.tests)} tests"))
    n = len(rulesets.warnings)
    warned = f", {n} warning{'s' if n != 1 else ''}" if n else ""
    out.print(
        Text(f"{len(rulesets.rulesets)} rulesets, {rules} rules: valid{warned}; safety floor {floor}.", style="green")
    )


@app.command("test")
def run_ruleset_tests(
    paths: PathsArg = None,
    backend: BackendOpt = "compiled",
    no_safety_floor: NoFloorOpt = False,
    with_coverage: Annotated[
        bool,
        typer.Option(
            "--coverage", help="Also report which rules and condition parts the cases exercise; exit 1 on a gap."
        ),
    ] = False,
) -> None:
    """Run the test cases embedded in rulesets, and the safety floor.

    A failing case shows its file:line:column, which rules fired that should not have, which
    should have fired and did not, and the facts those rules read. Exit status 1 on any failure.

    With --coverage: for each rule, the cases that fire it and its near misses (cases one
    threshold away from firing it), and the parts of its condition the cases make true and
    false. A rule without a firing case or without a near miss is a gap (exit status 1).
    """
    try:
        rulesets = load_rulesets(list(paths) if paths else None)
    except RulesetError as error:
        _report_problems(error)
        raise typer.Exit(EXIT_FAILED) from error
    results = run_tests(rulesets, backend=_backend(backend))
    out = console()
    failed = [r for r in results if not r.passed]
    for r in failed:
        out.print(Text(f"FAIL {r.location}: {r.ruleset}: {r.name}", style="bold red"))
        if r.error:
            out.print(Text(f"  could not evaluate: {r.error}"))
            continue
        if r.missing:
            out.print(Text(f"  expected to fire but did not: {', '.join(r.missing)}"))
        if r.unexpected:
            out.print(Text(f"  fired but not expected: {', '.join(r.unexpected)}"))
        for name, value in r.facts.items():
            out.print(Text(f"    {name} = {_shown(value)}"))
    floor_ok = True
    if no_safety_floor:
        floor_line = "safety floor: skipped (--no-safety-floor)"
    else:
        try:
            Engine(rulesets, backend=backend)
            floor_line = f"safety floor: passed ({len(SAFETY_CASES)} cases, every program and status)"
        except SafetyFloorError as error:
            floor_ok = False
            _report_problems(error)
            floor_line = "safety floor: FAILED"
    covered = _print_coverage(ruleset_coverage(rulesets)) if with_coverage else True
    style = "green" if not failed and floor_ok else "bold red"
    out.print(
        Text(
            f"{len(results) - len(failed)} passed, {len(failed)} failed ({backend} backend); {floor_line}", style=style
        )
    )
    if failed or not floor_ok or not covered:
        raise typer.Exit(EXIT_FAILED)


def _print_coverage(cov: Coverage) -> bool:
    """Print the coverage table and its gaps; whether every rule has a firing case and a near miss."""
    out = console()
    table = Table("rule", "ruleset", "firing cases", "near misses", "branches", "gaps", title="Test coverage")
    for r in cov.rules:
        style = "" if r.complete else "bold red"
        table.add_row(
            Text(r.rule_id, style=style),
            Text(r.ruleset),
            str(len(r.firing)),
            str(len(r.near_misses)),
            f"{r.branches_covered}/{r.branches_total}",
            Text(", ".join(r.gaps), style=style),
        )
    out.print(table)
    for r in cov.incomplete:
        out.print(Text(f"GAP {r.location}: rule {r.rule_id}: {' and '.join(r.gaps)}", style="bold red"))
    for r in cov.rules:
        for b in r.branches:
            if not (b.seen_true and b.seen_false):
                never = "true" if not b.seen_true else "false"
                where = f"part {b.path}" if b.path else "the whole condition"
                out.print(Text(f"  {r.rule_id}: no case makes {where} {never}: {b.text}"))
    for ruleset, case, reason in cov.errors:
        out.print(Text(f"could not evaluate {ruleset}: {case}: {reason}", style="bold red"))
    complete = sum(r.complete for r in cov.rules)
    out.print(
        Text(
            f"coverage: {complete} of {len(cov.rules)} rules have a firing case and a near miss; "
            f"branches {cov.branch_share:.1%}",
            style="green" if cov.complete else "bold red",
        )
    )
    return cov.complete


def _shown(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, dt.date):
        return value.isoformat()
    return json.dumps(value) if isinstance(value, str) else str(value)


def pick_episode(path: Path, patient: str | None) -> Any:
    """The one record of ``path``, or the record of ``patient`` in it (InvalidInput otherwise)."""
    records = list(read_records(path))
    if patient is None:
        if len(records) != 1:
            raise InvalidInput(f"the file holds {len(records)} records; name one with --patient ID", field=str(path))
        return records[0]
    for record in records:
        if isinstance(record, dict) and record.get("patient_id") == patient:
            return record
    raise InvalidInput("no record with this patient id", field="--patient", value=patient)


@app.command("facts")
def facts_command(
    episode: Annotated[
        Path | None, typer.Argument(metavar="EPISODE", help="An episode (.json) or a caseload (.json/.jsonl).")
    ] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", metavar="YYYY-MM-DD", help="The date to evaluate on.")] = None,
    patient: Annotated[str | None, typer.Option("--patient", metavar="ID", help="The patient, in a caseload.")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Also list the facts that are missing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the facts as JSON.")] = False,
    show_catalog: Annotated[bool, typer.Option("--catalog", help="Print the fact catalog instead.")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="With --catalog: as Markdown (docs/facts.md).")] = False,
) -> None:
    """Print a patient's facts as of a date, or the fact catalog (--catalog).

    Example: cocm-rules facts examples/episode_phq9_not_improving.json --as-of 2026-11-20
    """
    cat = catalog()
    if show_catalog:
        if markdown:
            typer.echo(catalog_markdown(), nl=False)
        elif as_json:
            typer.echo(json.dumps([spec.__dict__ for spec in cat.specs.values()], indent=2, default=list))
        else:
            table = Table("fact", "type", "meaning", title=f"{len(cat)} facts", show_lines=False)
            for spec in cat.specs.values():
                table.add_row(Text(spec.name), Text(describe_allowed(spec)), Text(" ".join(spec.meaning.split())))
            console().print(table)
        return
    if episode is None or as_of is None:
        raise InvalidInput("give an EPISODE file and --as-of (or --catalog)", field="EPISODE")
    record = pick_episode(episode, patient)
    values = build_facts(record, as_of_date(as_of))
    if as_json:
        typer.echo(json.dumps(values, indent=2, default=str))
        return
    table = Table("fact", "value", "meaning", title=f"facts as of {as_of}")
    missing = 0
    for name, value in values.items():
        if value is None and not show_all:
            missing += 1
            continue
        table.add_row(Text(name), Text(_shown(value)), Text(" ".join(cat[name].meaning.split())))
    out = console()
    out.print(table)
    if missing:
        out.print(Text(f"{missing} facts are missing (not computable for this patient); --all lists them."))


_SCHEMAS = {
    "episode": episode_json_schema,
    "ruleset": ruleset_json_schema,
    "measure": MeasureDefinition.model_json_schema,
    "score": Score.model_json_schema,
    "alert": Alert.model_json_schema,
}


@app.command("schema")
def schema(
    kind: Annotated[str, typer.Argument(metavar="episode|ruleset|measure|score|alert", help="Which schema.")],
) -> None:
    """Print the JSON Schema of an input (episode, ruleset, measure) or output (score, alert)."""
    if kind not in _SCHEMAS:
        raise InvalidInput("unknown schema", field="KIND", value=kind, allowed=", ".join(_SCHEMAS))
    typer.echo(json.dumps(_SCHEMAS[kind](), indent=2))


@app.command("evaluate")
def evaluate(
    caseload: Annotated[Path, typer.Argument(metavar="CASELOAD", help="Episodes: .json, .jsonl, or - for stdin.")],
    as_of: AsOfOpt,
    rulesets: RulesetsOpt = None,
    backend: BackendOpt = "compiled",
    table: Annotated[bool, typer.Option("--table", help="Show the alerts as a table instead of JSON Lines.")] = False,
    jobs: JobsOpt = None,
    profile: Annotated[
        bool,
        typer.Option("--profile-rules", help="Instead of the alerts, time each rule over the batch (costliest first)."),
    ] = False,
    store: StoreOpt = None,
) -> None:
    """Evaluate every patient of a caseload: one JSON line per input record on stdout, a
    result with its alerts or an error record (a record is never dropped). Each record is
    evaluated on its own: a patient sent twice gets two results.

    Exit status 3 when some records could not be evaluated: their error records are in the
    output, and stderr says how many and where (record, line, field).

    The records are evaluated in --jobs worker processes (default: one per core); the output
    is the same, in input order, whatever the number.

    With --store (a SQLite file or PostgreSQL URL), each alert's state comes from the store's
    acknowledgements, and the alerts shown are recorded there (for `cocm-rules ack`).

    Example: cocm-rules evaluate examples/caseload.jsonl --as-of 2026-11-20 > alerts.jsonl
    """
    day = as_of_date(as_of)
    if not (profile or store is not None or str(caseload) == "-"):
        parallel.prepare(jobs, caseload)  # the workers' server starts while the engine loads here
    engine = load_engine(rulesets, backend)
    source = "-" if str(caseload) == "-" else caseload
    if profile:
        _profile_table(profile_rules(engine, read_records(source, lines_as_text=True), day))
        return
    if store is not None:  # acknowledgements are read and alerts recorded here: one process
        from ..store import AlertStore

        with AlertStore(store) as db:
            shown: list[Any] = []
            _evaluate(engine, source, day, table, db.acknowledgements(), shown)
            db.record_alerts(shown, day)
        return
    records = read_records(source, lines_as_text=True)
    if table:
        _alerts_table(parallel.evaluate_many(engine, records, day, jobs=jobs), day)
        return
    counts = {"results": 0, "errors": 0, "alerts": 0}
    first: list[RecordError] = []
    out = sys.stdout
    for block in parallel.evaluate_text(engine, records, day, jobs=jobs):  # in input order, whatever the jobs
        counts["errors"] += len(block.errors)
        first.extend(block.errors[: SHOWN_ON_STDERR - len(first)])
        counts["results"] += block.results
        counts["alerts"] += block.alerts
        out.write(block.text)
    _evaluated(counts, first)


def _evaluated(counts: dict[str, int], first: list[RecordError]) -> None:
    """Log and tell how the batch went; exit 3 when records failed."""
    log.info("cli.evaluate", **counts)
    typer.echo(
        f"{counts['results']} patients evaluated, {counts['alerts']} alerts, {counts['errors']} records with errors",
        err=True,
    )
    finish_batch(counts["results"] + counts["errors"], counts["errors"], first, "their error records are in the output")


def _evaluate(
    engine: Engine, source: Any, day: dt.date, table: bool, acks: Any = None, shown: list[Any] | None = None
) -> None:
    def results() -> Any:
        for r in engine.evaluate_many(read_records(source, lines_as_text=True), day, acks):
            if shown is not None and not isinstance(r, RecordError):
                shown.extend(r.alerts)
            yield r

    if table:
        _alerts_table(results(), day, with_state=acks is not None)
        return
    counts = {"results": 0, "errors": 0, "alerts": 0}
    first: list[RecordError] = []

    def counted(results: Any) -> Any:
        for r in results:
            if isinstance(r, RecordError):
                counts["errors"] += 1
                if len(first) < SHOWN_ON_STDERR:
                    first.append(r)
            else:
                counts["results"] += 1
                counts["alerts"] += len(r.alerts)
            yield r

    write_jsonl(counted(results()), sys.stdout)
    _evaluated(counts, first)


def _profile_table(result: RulesProfile) -> None:
    """Per-rule times, costliest first (milliseconds over the batch)."""
    view = Table(
        "rule",
        "ruleset",
        "total ms",
        "condition ms",
        "facts ms",
        "fired",
        "facts read",
        title=f"Rule costs over {result.patients} patients as of {result.as_of} (times vary between runs)",
    )
    for t in result.rules:
        view.add_row(
            Text(t.rule_id),
            Text(t.ruleset),
            f"{t.seconds * 1000:.2f}",
            f"{t.condition_seconds * 1000:.2f}",
            f"{t.facts_seconds * 1000:.2f}",
            str(t.fired),
            Text(", ".join(t.facts)),
        )
    out = console()
    out.print(view)
    if result.records_with_errors:
        out.print(Text(f"{result.records_with_errors} records could not be evaluated and are not counted."))


#: Who an alert is for, as the table's "for" column says it.
_FOR = {"care_manager": "care manager", "psychiatric_consultant": "psychiatric consultant", "pcp": "PCP"}


def _alerts_table(results: Any, day: dt.date, *, with_state: bool = False) -> None:
    out = console()
    view = Table(
        "patient",
        "priority",
        "severity",
        "category",
        "alert",
        "message",
        "action",
        "for",
        *(["state", "alert id"] if with_state else []),
        title=f"Alerts as of {day}",
        show_lines=True,
    )
    errors = []
    records = 0
    for r in results:
        records += 1
        if isinstance(r, RecordError):
            errors.append(r)
            continue
        for a in r.alerts:
            style = CATEGORY_STYLE.get(a.category, "")
            view.add_row(
                Text(r.patient_id),
                str(a.priority),
                Text(a.severity, style=style),
                Text(a.category, style=style),
                Text(a.title),
                Text(a.message),
                Text(a.action_text or a.action),
                Text(", ".join(_FOR.get(r, r) for r in a.recipients)),
                *([Text(state_text(a)), Text(a.alert_id or "")] if with_state else []),
            )
    out.print(view)
    if errors:
        out.print(record_errors_table(errors))
    finish_batch(records, len(errors), errors, "listed after the alerts")

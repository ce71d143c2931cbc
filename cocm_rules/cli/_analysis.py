"""Commands that look into the rules: ``explain`` (why a rule fired or did not for a patient)
and ``diff`` (what a ruleset change would do to a caseload)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from ..batch import read_records
from ..diff import EXAMPLES, RulesetDiff, diff_rulesets
from ..errors import InvalidInput
from ._app import app, console
from ._rules import AsOfOpt, BackendOpt, RulesetsOpt, as_of_date, load_engine, pick_episode

__all__ = ["diff", "explain"]


@app.command("explain")
def explain(
    episode: Annotated[
        Path, typer.Argument(metavar="FILE", help="An episode (.json) or a caseload (.json/.jsonl) with --patient.")
    ],
    rule: Annotated[str, typer.Option("--rule", metavar="ID", help="The rule to explain.")],
    as_of: AsOfOpt,
    patient: Annotated[str | None, typer.Option("--patient", metavar="ID", help="The patient, in a caseload.")] = None,
    rulesets: RulesetsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the explanation as JSON.")] = False,
) -> None:
    """Why a rule fires, or does not, for one patient: each part of its condition with the
    fact's value (or 'missing'), the comparison, the threshold (and the ruleset parameter it
    came from) and whether it holds.

    Example: cocm-rules explain examples/caseload.jsonl --patient P000001
    --rule t2t-phq9-not-improving --as-of 2026-11-20
    """
    day = as_of_date(as_of)
    engine = load_engine(rulesets)
    record = pick_episode(episode, patient)
    result = engine.explain(record, day, rule)
    if as_json:
        typer.echo(json.dumps(result.model_dump(mode="json"), indent=2))
        return
    out = console()
    for i, line in enumerate(result.lines()):
        style = ("green" if result.fired else "yellow") if i == 1 else ""
        out.print(Text(line, style=style), soft_wrap=True)


@app.command("diff")
def diff(
    old: Annotated[Path, typer.Argument(metavar="OLD_RULES", help="The rules in use: a ruleset file or directory.")],
    new: Annotated[Path, typer.Argument(metavar="NEW_RULES", help="The proposed rules: a file or directory.")],
    caseload: Annotated[
        Path, typer.Option("--caseload", metavar="FILE", help="Episodes: .json, .jsonl, or - for stdin.")
    ],
    as_of: AsOfOpt,
    backend: BackendOpt = "compiled",
    examples: Annotated[
        int, typer.Option("--examples", metavar="N", help="Example patient ids per change.", min=0)
    ] = EXAMPLES,
    as_json: Annotated[bool, typer.Option("--json", help="Print the diff as JSON.")] = False,
    html: Annotated[
        Path | None, typer.Option("--html", metavar="FILE", help="Also write the diff as an HTML page to FILE.")
    ] = None,
) -> None:
    """What replacing OLD_RULES with NEW_RULES would do to a caseload: per rule, the patients
    who would newly alert and would stop alerting, and the patients whose place on the
    review list changes, with a few example patient ids for each.

    Example: cocm-rules diff rulesets/ my-rulesets/ --caseload examples/caseload.jsonl
    --as-of 2026-11-20 --html diff.html
    """
    day = as_of_date(as_of)
    before = load_engine([old], backend)
    after = load_engine([new], backend)
    source = "-" if str(caseload) == "-" else caseload
    result = diff_rulesets(before, after, read_records(source, lines_as_text=True), day, examples=examples)
    if html is not None:
        try:
            html.write_text(result.html(), encoding="utf-8")
        except OSError as e:
            raise InvalidInput(f"cannot write the HTML page: {e.strerror}", field="--html", value=str(html)) from e
    if as_json:
        typer.echo(json.dumps(result.model_dump(mode="json"), indent=2))
        return
    _print_diff(result)


def _ids(n: int, ids: list[str]) -> str:
    if not n:
        return ""
    more = f", +{n - len(ids)}" if n > len(ids) else ""
    return f"{n}" + (f" ({', '.join(ids)}{more})" if ids else "")


def _print_diff(result: RulesetDiff) -> None:
    out = console()
    changed = result.changed_rules
    table = Table(
        "rule",
        "status",
        "what changed",
        "would newly alert",
        "would stop alerting",
        "alert changes",
        "alerts before -> after",
        title=f"What the new rules would change, {result.patients_evaluated} patients as of {result.as_of}",
        show_lines=True,
    )
    for r in changed:
        table.add_row(
            Text(r.rule_id),
            Text(r.status),
            Text("\n".join(r.changes)),
            Text(_ids(r.gained, r.gained_examples), style="yellow"),
            Text(_ids(r.lost, r.lost_examples), style="cyan"),
            Text(_ids(r.altered, r.altered_examples)),
            f"{r.old_alerts} -> {r.new_alerts}",
        )
    if changed:
        out.print(table)
    else:
        out.print(Text("No rule changes, and no patient would be alerted differently."))
    moves = [
        ("would join the review list", result.joined_review, result.joined_examples),
        ("would leave the review list", result.left_review, result.left_examples),
        ("would move on the review list", result.moved_up + result.moved_down, result.moved_examples),
    ]
    out.print(Text(f"review list: {result.old_review} patients now, {result.new_review} with the new rules"))
    for label, n, rows in moves:
        shown = ", ".join(f"{c.patient_id} ({_place(c.old_rank)} -> {_place(c.new_rank)})" for c in rows)
        out.print(Text(f"  {n} {label}" + (f": {shown}" + (" ..." if n > len(rows) else "") if n else "")))
    if result.records_with_errors:
        out.print(Text(f"{result.records_with_errors} records could not be evaluated and are not counted."))


def _place(rank: int | None) -> str:
    return "-" if rank is None else f"#{rank}"

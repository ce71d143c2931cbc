"""Commands that look into the rules: ``explain`` (why a rule fired or did not for a patient)
and ``diff`` (what a ruleset change would do to a caseload)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from ._app import app, console
from ._rules import AsOfOpt, RulesetsOpt, as_of_date, load_engine, pick_episode

__all__ = ["explain"]


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

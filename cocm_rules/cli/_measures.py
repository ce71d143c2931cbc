"""``cocm-rules measures`` and ``cocm-rules score``: the measure library on the command line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..errors import InvalidInput
from ..measures import NOT_CONFIRMED, Condition, MeasureDefinition, MeasureLibrary, load_measures
from ..scoring import SAFETY_ITEM_MISSING, Score
from ..scoring import score as score_measure
from ..vocabulary import safety_flags
from ._app import app, console, log, measures_app

UNANSWERED = frozenset({"", "-", "null", "na", "n/a", "none"})
_YES_NO = {"yes": "yes", "y": "yes", "no": "no", "n": "no"}
_STATUS_STYLE = {
    "confirmed": "green",
    "secondary": "yellow",
    "unconfirmed": "bold red",
    "derived": "cyan",
    "policy": "blue",
}


# -- input parsing --------------------------------------------------------------------------


def parse_answers(text: str) -> list[int | str | None]:
    """Parse ``--answers``: comma-separated, in item order.

    A token is a whole number, ``yes``/``no`` (or ``y``/``n``; passed on as ``"yes"``/``"no"``,
    which the scorer accepts only on yes/no items), or empty, ``-``, ``null``, ``na`` for an
    unanswered item (``None``). Anything else raises :class:`~cocm_rules.InvalidInput` naming
    the position (1-based) and the token.
    """
    out: list[int | str | None] = []
    for position, raw in enumerate(text.split(","), start=1):
        token = raw.strip().lower()
        if token in UNANSWERED:
            out.append(None)
        elif token in _YES_NO:
            out.append(_YES_NO[token])
        else:
            try:
                out.append(int(token, 10))
            except ValueError:
                raise InvalidInput(
                    f"position {position} is not an answer",
                    field="--answers",
                    value=raw.strip(),
                    allowed="a whole number, yes/no (y/n), or empty, -, null, na for unanswered",
                ) from None
    return out


def _number(text: str) -> int | float | None:
    try:
        return int(text, 10)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return value


def parse_params(pairs: Iterable[str]) -> dict[str, int | float | str]:
    """Parse repeated ``--param NAME=VALUE``: numbers become int or float, other values stay text.

    The scorer validates names and values against the measure (documented limits, allowed
    context values); here only the ``NAME=VALUE`` shape and repeated names are checked.
    """
    params: dict[str, int | float | str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise InvalidInput("expected NAME=VALUE, e.g. cut_point=31", field="--param", value=pair)
        if name in params:
            raise InvalidInput(f"{name!r} is given twice", field="--param", value=pair)
        number = _number(value)
        params[name] = number if number is not None else value
    return params


# -- presentation helpers ---------------------------------------------------------------------


def _status(status: str, source: str | None = None) -> Text:
    """``[status] source`` with the status coloured (unconfirmed in red)."""
    text = Text(f"[{status}]", style=_STATUS_STYLE.get(status, ""))
    if source:
        text.append(f" {source}", style="dim")
    return text


def _range(lo: float, hi: float) -> str:
    return f"{lo}-{hi}"


def _is_suicide_flag(name: str) -> bool:
    """A safety flag, as the measure definitions mark them (``safety: true``)."""
    return name in safety_flags(load_measures().values())


def _flag_text(names: Sequence[str]) -> Text:
    if not names:
        return Text("none", style="dim")
    text = Text()
    for n, name in enumerate(names):
        if n:
            text.append(", ")
        text.append(name, style="bold red" if _is_suicide_flag(name) else "bold yellow")
    return text


def sourced_elements(defn: MeasureDefinition) -> list[tuple[str, str, str]]:
    """Every element of a definition that carries a status: ``(element, status, source key)``."""
    out: list[tuple[str, str, str]] = []
    if defn.loinc_panel:
        out.append(("LOINC panel", defn.loinc_panel.status, defn.loinc_panel.source))
    out.extend((f"item {it.id} LOINC", it.loinc.status, it.loinc.source) for it in defn.items if it.loinc)
    if defn.total:
        out.append(("total", defn.total.status, defn.total.source))
        if defn.total.loinc:
            out.append(("total LOINC", defn.total.loinc.status, defn.total.loinc.source))
    if defn.bands:
        out.append(("bands", defn.bands.status, defn.bands.source))
    out.append(("missing-item policy", defn.missing.status, defn.missing.source))
    out.extend((f"parameter {name}", p.status, p.source) for name, p in defn.parameters.items())
    out.extend((f"flag {f.name}", f.status, f.source) for f in defn.flags)
    for res in defn.results:
        out.append((f"result {res.id}", res.status, res.source))
        if res.loinc:
            out.append((f"result {res.id} LOINC", res.loinc.status, res.loinc.source))
    if defn.targets:
        for name in ("response", "remission", "reliable_change", "meaningful_change"):
            target = getattr(defn.targets, name)
            if target is not None:
                out.append((f"target {name}", target.status, target.source))
    return out


def _not_confirmed(defn: MeasureDefinition) -> list[tuple[str, str, str]]:
    return [e for e in sourced_elements(defn) if e[1] in NOT_CONFIRMED]


def _describe_bands(defn: MeasureDefinition, sep: str = ", ") -> str:
    if defn.bands is None:
        return "none"
    if defn.bands.ranges is not None:
        return sep.join(f"{b.name} {_range(b.min, b.max)}" for b in defn.bands.ranges)
    return sep.join(defn.band_names) + f" (from result {defn.bands.from_result})"


def _operand(value: Any, defn: MeasureDefinition) -> str:
    if isinstance(value, str) and value in defn.parameters:
        return f"{value} ({defn.parameters[value].value})"
    return str(value)


def describe_condition(cond: Condition, defn: MeasureDefinition) -> str:
    """A condition in words, e.g. ``item9 >= 1`` or ``at least 5 of item1..item9 present``."""
    if cond.all is not None:
        return "(" + " and ".join(describe_condition(c, defn) for c in cond.all) + ")"
    if cond.any is not None:
        return "(" + " or ".join(describe_condition(c, defn) for c in cond.any) + ")"
    if cond.not_ is not None:
        return f"not {describe_condition(cond.not_, defn)}"
    if cond.count_present is not None:
        items = cond.count_present
        names = f"{items[0]}..{items[-1]}" if len(items) > 3 else ", ".join(items)
        parts = []
        if cond.at_least is not None:
            parts.append(f"at least {_operand(cond.at_least, defn)}")
        if cond.at_most is not None:
            parts.append(f"at most {_operand(cond.at_most, defn)}")
        return f"{' and '.join(parts)} of {names} present"
    name = cond.of
    tests = []
    if cond.at_least is not None:
        tests.append(f"{name} >= {_operand(cond.at_least, defn)}")
    if cond.at_most is not None:
        tests.append(f"{name} <= {_operand(cond.at_most, defn)}")
    if cond.equals is not None:
        tests.append(f"{name} = {cond.equals}")
    if cond.in_ is not None:
        tests.append(f"{name} in {{{', '.join(str(v) for v in cond.in_)}}}")
    return " and ".join(tests)


def _describe_result(res: Any, defn: MeasureDefinition) -> str:
    if res.kind == "condition":
        return f"yes when {describe_condition(res.when, defn)}"
    if res.kind == "first_match":
        lines = [f"{case.value} if {describe_condition(case.when, defn)}" for case in res.cases]
        return "\n".join([*lines, f"otherwise {res.otherwise}"])
    formula = res.of
    if res.subtract:
        formula = f"({formula} - {res.subtract:g})"
    if res.divide != 1:
        formula += f" / {res.divide:g}"
    if res.multiply != 1:
        formula += f" x {res.multiply:g}"
    return f"{formula}, rounded to {res.decimals} decimal{'s' if res.decimals != 1 else ''}"


def _describe_missing(defn: MeasureDefinition) -> str:
    if defn.missing.policy == "prorate":
        return (
            f"prorate: with up to {defn.missing.max_missing} scored item(s) missing, the total is "
            "sum x items / answered; with more, not scored"
        )
    return "incomplete: any required item missing means no valid score (never counted as 0)"


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", show_lines=False, expand=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _values_text(defn: MeasureDefinition, scale_id: str) -> Text:
    scale = defn.scales[scale_id]
    text = Text()
    for n, v in enumerate(scale.values):
        if n:
            text.append("\n")
        text.append(f"{v.value} = {v.label}")
        if v.missing:
            text.append(" (not assessed: missing)", style="yellow")
        if v.loinc:
            text.append(f" {v.loinc}", style="dim")
    if scale.yes_no:
        text.append("\n(also yes/no)", style="dim")
    if scale.note:
        text.append(f"\n{scale.note}", style="dim italic")
    return text


def _item_markers(defn: MeasureDefinition, item: Any) -> Text:
    text = Text()

    def add(word: str, style: str = "") -> None:
        if text:
            text.append("\n")
        text.append(word, style=style)

    if item.safety:
        add("SAFETY", "bold red")
    add("required" if item.required else "optional", "" if item.required else "dim")
    if defn.total is not None:
        scored = item.id in defn.total_items
        add("scored" if scored else "not scored", "" if scored else "dim")
    if item.present_at is not None:
        add(f"symptom at >= {item.present_at}", "dim")
    if item.asked_when is not None:
        add(f"asked when {describe_condition(item.asked_when, defn)}", "cyan")
    return text


def _render_items(defn: MeasureDefinition) -> Table:
    table = _table("Items", "id", "label", "allowed values", "markers", "LOINC")
    previous_scale = None
    for item in defn.items:
        label = Text(item.label)
        if item.note:
            label.append(f"\n{item.note}", style="dim italic")
        if item.scale == previous_scale:
            values = Text(f"as above ({item.scale})", style="dim")
        else:
            values = _values_text(defn, item.scale)
        previous_scale = item.scale
        loinc = (
            Text(item.loinc.code).append("\n") + _status(item.loinc.status) if item.loinc else Text("-", style="dim")
        )
        table.add_row(Text(item.id, style="bold"), label, values, _item_markers(defn, item), loinc)
    return table


def _shown_path(path: str | None) -> str:
    """A definition file's path, relative to the working directory when it is below it."""
    if not path:
        return "(not from a file)"
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path


def _render_header(defn: MeasureDefinition, library: MeasureLibrary) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("description", Text(" ".join(defn.description.split())))
    grid.add_row("instrument", Text(defn.instrument_version))
    grid.add_row("definition", Text(f"version {defn.definition_version}, {_shown_path(library.files.get(defn.id))}"))
    grid.add_row("recall period", Text(defn.recall_period or "not stated"))
    grid.add_row("respondent", Text(defn.respondent))
    if defn.loinc_panel:
        grid.add_row("LOINC panel", Text(defn.loinc_panel.code + " ") + _status(defn.loinc_panel.status))
    grid.add_row(
        "examples", Text(f"{len(defn.examples)} worked examples (answers -> expected score), run by the tests")
    )
    return Panel(grid, title=Text(f"{defn.name} ({defn.id})", style="bold"), title_align="left")


def _render_scoring(defn: MeasureDefinition) -> RenderableType:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    if defn.total is not None:
        items = defn.total_items
        summed = f"{items[0]}..{items[-1]}" if len(items) > 3 else ", ".join(items)
        grid.add_row(
            "total",
            Text(f"sum of {summed} ({len(items)} items), range {_range(*defn.total.range)} ")
            + _status(defn.total.status, defn.total.source),
        )
        if defn.total.loinc:
            grid.add_row("total LOINC", Text(defn.total.loinc.code + " ") + _status(defn.total.loinc.status))
    else:
        grid.add_row("total", Text("none: this measure has no total", style="dim"))
    missing = Text(_describe_missing(defn) + " ") + _status(defn.missing.status, defn.missing.source)
    if defn.missing.note:
        missing.append("\n" + " ".join(defn.missing.note.split()), style="dim italic")
    grid.add_row("missing items", missing)
    if defn.safety_items:
        grid.add_row(
            "safety items",
            Text(
                f"{', '.join(defn.safety_items)}: unanswered or unreadable sets {SAFETY_ITEM_MISSING} (fails closed)",
                style="red",
            ),
        )
    return Panel(grid, title=Text("Scoring", style="bold"), title_align="left")


def _render_bands(defn: MeasureDefinition) -> RenderableType | None:
    if defn.bands is None:
        return None
    if defn.bands.ranges is None:
        text = Text(f"bands are the values of result {defn.bands.from_result}: {', '.join(defn.band_names)} ")
        text += _status(defn.bands.status, defn.bands.source)
        return Panel(text, title=Text("Bands", style="bold"), title_align="left")
    labels = any(band.label for band in defn.bands.ranges)
    table = _table("Bands", "band", "total", *(["label"] if labels else []))
    for band in defn.bands.ranges:
        row = [Text(band.name, style="bold"), Text(_range(band.min, band.max))]
        table.add_row(*row, *([Text(band.label or "")] if labels else []))
    caption = Text("source ") + _status(defn.bands.status, defn.bands.source)
    if defn.bands.note:
        caption.append(" " + " ".join(defn.bands.note.split()))
    table.caption = caption
    table.caption_justify = "left"
    return table


def _render_context_and_parameters(defn: MeasureDefinition) -> list[RenderableType]:
    out: list[RenderableType] = []
    if defn.context:
        table = _table("Context (besides the answers)", "name", "allowed", "required", "description")
        for name, var in defn.context.items():
            table.add_row(
                Text(name, style="bold"),
                Text(", ".join(var.allowed)),
                "yes" if var.required else "no",
                Text(var.description),
            )
        out.append(table)
    if defn.parameters:
        table = _table("Parameters (--param NAME=VALUE)", "name", "default", "limits", "description", "status")
        for name, p in defn.parameters.items():
            if p.min is None and p.max is None:
                limits = Text("fixed", style="dim")
            else:
                limits = Text(f"{'-' if p.min is None else p.min} to {'-' if p.max is None else p.max}")
            table.add_row(
                Text(name, style="bold"),
                str(p.value),
                limits,
                Text(" ".join(p.description.split())),
                _status(p.status, p.source),
            )
        out.append(table)
    return out


def _render_flags(defn: MeasureDefinition) -> RenderableType | None:
    if not defn.flags and not defn.safety_items:
        return None
    table = _table("Flags", "flag", "set when", "description", "status")
    for flag in defn.flags:
        style = "bold red" if _is_suicide_flag(flag.name) else "bold yellow"
        table.add_row(
            Text(flag.name, style=style),
            Text(describe_condition(flag.when, defn)),
            Text(" ".join(flag.description.split())),
            _status(flag.status, flag.source),
        )
    if defn.safety_items:
        table.add_row(
            Text(SAFETY_ITEM_MISSING, style="bold red"),
            Text(f"a safety item ({', '.join(defn.safety_items)}) is due but unanswered"),
            Text("built in: cannot rule out risk, so it fails closed"),
            Text("built in", style="dim"),
        )
    return table


def _render_results(defn: MeasureDefinition) -> RenderableType | None:
    if not defn.results and not defn.subscores:
        return None
    parts: list[RenderableType] = []
    if defn.results:
        table = _table("Results", "result", "rule", "description", "status")
        for res in defn.results:
            description = Text(" ".join(res.description.split()))
            if res.note:
                description.append("\n" + " ".join(res.note.split()), style="dim italic")
            status = _status(res.status, res.source)
            if res.loinc:
                status.append(f"\nLOINC {res.loinc.code} ")
                status += _status(res.loinc.status)
            table.add_row(Text(res.id, style="bold"), Text(_describe_result(res, defn)), description, status)
        parts.append(table)
    if defn.subscores:
        table = _table("Subscores", "subscore", "label", "items")
        for sub in defn.subscores:
            table.add_row(Text(sub.id, style="bold"), Text(sub.label), Text(", ".join(sub.items)))
        parts.append(table)
    return Group(*parts)


def _render_targets(defn: MeasureDefinition) -> RenderableType | None:
    if defn.targets is None:
        return None
    table = _table(f"Treatment targets (higher total is {defn.targets.higher_is})", "target", "definition", "status")
    for name in ("response", "remission", "reliable_change", "meaningful_change"):
        target = getattr(defn.targets, name)
        if target is None:
            continue
        if target.min_reduction is not None:
            rule = f"total at least {target.min_reduction:.0%} lower than baseline"
        elif target.below is not None:
            rule = f"total below {target.below}"
        else:
            rule = f"a change of at least {target.points} points"
        text = Text(rule)
        if target.note:
            text.append("\n" + " ".join(target.note.split()), style="dim italic")
        table.add_row(Text(name, style="bold"), text, _status(target.status, target.source))
    return table if table.row_count else Text(f"Treatment targets: higher total is {defn.targets.higher_is}")


def _render_footer(defn: MeasureDefinition) -> list[RenderableType]:
    out: list[RenderableType] = []
    flagged = _not_confirmed(defn)
    if flagged:
        table = _table("Not confirmed (secondary or unconfirmed sources)", "element", "status")
        for element, status, source in flagged:
            table.add_row(Text(element), _status(status, source))
        out.append(table)
    if defn.notes:
        out.append(
            Panel(
                Text("\n".join("- " + " ".join(n.split()) for n in defn.notes)),
                title=Text("Notes", style="bold"),
                title_align="left",
            )
        )
    sources = _table("Sources", "key", "source")
    for key, text in defn.sources.items():
        sources.add_row(Text(key, style="bold"), Text(text))
    out.append(sources)
    out.append(
        Text(
            "statuses: confirmed = seen in a public source; secondary = only in a secondary or vendor source "
            "(re-check before relying on it); unconfirmed = not verified; derived = follows from confirmed "
            "elements; policy = a cocm_rules project choice",
            style="dim",
        )
    )
    return out


def render_measure(defn: MeasureDefinition, library: MeasureLibrary) -> Group:
    """Everything a clinician needs about one measure, as one rich renderable."""
    parts: list[RenderableType | None] = [
        _render_header(defn, library),
        _render_items(defn),
        _render_scoring(defn),
        _render_bands(defn),
        *_render_context_and_parameters(defn),
        _render_flags(defn),
        _render_results(defn),
        _render_targets(defn),
        *_render_footer(defn),
    ]
    return Group(*(p for p in parts if p is not None))


def render_measure_list(library: MeasureLibrary) -> Table:
    """One row per measure: id, name, items, total range and bands; measures with elements
    resting on secondary or unconfirmed sources are marked ``! N unconfirmed``."""
    table = Table(title="Measures", title_justify="left", title_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("id", no_wrap=True, style="bold")
    table.add_column("name", min_width=16)
    table.add_column("items", justify="right", no_wrap=True)
    table.add_column("total", no_wrap=True)
    table.add_column("bands", min_width=14)
    for measure_id, defn in library.items():
        name = Text(defn.name)
        flagged = _not_confirmed(defn)
        if flagged:
            name.append(f"\n! {len(flagged)} unconfirmed", style="bold yellow")
        table.add_row(
            Text(measure_id),
            name,
            str(len(defn.items)),
            _range(*defn.total.range) if defn.total else Text("none", style="dim"),
            Text(_describe_bands(defn), style="" if defn.bands else "dim"),
        )
    table.caption = Text(
        "! N unconfirmed: N elements rest on secondary or unconfirmed sources; `cocm-rules measures show ID` lists them"
    )
    table.caption_justify = "left"
    return table


def render_score(result: Score, defn: MeasureDefinition) -> Panel:
    """A score as a readable panel: total and range, band, flags (suicide flags in red), validity."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    if result.total is None:
        total = Text("not scored", style="yellow")
    else:
        total = Text(str(result.total), style="bold")
        if result.total_range:
            total.append(f" of {_range(*result.total_range)}")
        how = {"prorated": " (prorated)", "reported": " (reported by the host, no items)"}.get(
            result.total_source or ""
        )
        if how:
            total.append(how, style="yellow")
    if defn.total is not None:
        grid.add_row("total", total)
    if defn.bands is not None:
        grid.add_row("band", Text(result.band or "-"))
    grid.add_row("flags", _flag_text(result.flags))
    if result.undetermined_flags:
        grid.add_row(
            "cannot rule out",
            Text(", ".join(result.undetermined_flags), style="yellow")
            + Text(" (an item they read is unanswered)", style="dim"),
        )
    grid.add_row("valid", Text("yes", style="green") if result.valid else Text("no", style="bold yellow"))
    grid.add_row("complete", Text("yes") if result.complete else Text("no", style="yellow"))
    if result.missing_items:
        grid.add_row("missing items", Text(", ".join(result.missing_items), style="yellow"))
    if result.provisional_diagnosis is not None:
        grid.add_row("provisional diagnosis", Text(result.provisional_diagnosis))
    if result.positive_screen is not None:
        grid.add_row("positive screen", Text("yes" if result.positive_screen else "no"))
    if result.subscores:
        grid.add_row(
            "subscores", Text(", ".join(f"{k} {'-' if v is None else v}" for k, v in result.subscores.items()))
        )
    others = {k: v for k, v in result.results.items() if k not in ("provisional_diagnosis", "positive_screen")}
    if others:
        grid.add_row("results", Text(", ".join(f"{k} {'-' if v is None else v}" for k, v in others.items())))
    if result.reported_total is not None and result.total_agrees is not None:
        agrees = Text("agrees", style="green") if result.total_agrees else Text("DIFFERS", style="bold yellow")
        grid.add_row("reported total", Text(f"{result.reported_total} ") + agrees)
    if result.unconfirmed:
        grid.add_row("unconfirmed", Text("\n".join(result.unconfirmed), style="yellow"))
    if result.notes:
        grid.add_row("notes", Text("\n".join(result.notes)))
    urgent = any(_is_suicide_flag(f) for f in result.flags)
    border = "red" if urgent else ("yellow" if not result.valid else "green")
    title = Text(f"{defn.name} ({defn.id})", style="bold")
    subtitle = Text(f"definition {result.definition_version}", style="dim")
    return Panel(grid, title=title, title_align="left", subtitle=subtitle, subtitle_align="right", border_style=border)


# -- commands ---------------------------------------------------------------------------------


@measures_app.callback()
def measures(ctx: typer.Context) -> None:
    """List the bundled measures; `measures show ID` explains one.

    One row per measure: id, name, items, total range, bands; measures with elements resting
    on secondary or unconfirmed sources are marked.
    """
    if ctx.invoked_subcommand is None:
        console().print(render_measure_list(load_measures()))


@measures_app.command("show")
def measures_show(
    measure_id: Annotated[str, typer.Argument(metavar="ID", help="measure id, e.g. phq9")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the definition as JSON.")] = False,
) -> None:
    """Everything about one measure, each element with its source and status.

    Items and allowed values, total, bands, missing-item policy, context, parameters, flags,
    results, targets, notes and sources.
    """
    library = load_measures()
    defn = library.get_measure(measure_id)
    if as_json:
        typer.echo(defn.model_dump_json(indent=2, by_alias=True))
        return
    console().print(render_measure(defn, library))


@app.command("score")
def score_command(
    measure: Annotated[
        str | None,
        typer.Argument(metavar="MEASURE", help="measure id, e.g. phq9 (see `cocm-rules measures`); omit with --fhir"),
    ] = None,
    answers: Annotated[
        str | None,
        typer.Option(
            "--answers",
            "-a",
            metavar="1,0,2,...",
            help="Comma-separated answers in item order: numbers, yes/no; empty, -, null or na = unanswered.",
        ),
    ] = None,
    sex: Annotated[
        str | None, typer.Option(metavar="female|male", help="Sex, for measures that need it (AUDIT-C).")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            metavar="NAME=VALUE",
            help="A documented parameter (e.g. cut_point=31) or context value; repeatable.",
        ),
    ] = None,
    reported_total: Annotated[
        str | None,
        typer.Option("--reported-total", metavar="N", help="A total reported by the host, checked against the items."),
    ] = None,
    fhir: Annotated[
        Path | None,
        typer.Option(
            "--fhir",
            metavar="FILE",
            help="Score the FHIR QuestionnaireResponses/Observations in this JSON file (a resource or a Bundle).",
        ),
    ] = None,
    questionnaire: Annotated[
        list[Path] | None,
        typer.Option("--questionnaire", metavar="FILE", help="With --fhir: a Questionnaire giving answer weights."),
    ] = None,
    item_map: Annotated[
        list[str] | None,
        typer.Option(
            "--item-map",
            metavar="LINKID=ITEM",
            help="With --fhir: map a form's linkId to a measure item (e.g. T1.1=phq9.item1); repeatable.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Score as JSON.")] = False,
) -> None:
    """Score one administration of a measure, or the FHIR resources in a file (--fhir).

    Example: cocm-rules score phq9 --answers 0,0,0,0,0,0,0,0,1 --json
    """
    if fhir is not None:
        if measure is not None or answers is not None:
            raise InvalidInput(
                "--fhir reads the measure and answers from the file; give no MEASURE or --answers", field="--fhir"
            )
        _score_fhir(fhir, questionnaire or [], _pairs(item_map or [], "--item-map"), sex, as_json)
        return
    if measure is None:
        raise InvalidInput("give a MEASURE (or --fhir FILE)", field="MEASURE")
    library = load_measures()
    defn = library.get_measure(measure)
    values = parse_answers(answers) if answers is not None else None
    context: dict[str, Any] = parse_params(param or [])
    if sex is not None:
        if "sex" in context:
            raise InvalidInput("sex is given twice, as --sex and --param sex=...", field="--sex")
        context["sex"] = sex
    total: int | float | None = None
    if reported_total is not None:
        total = _number(reported_total.strip())
        if total is None:
            raise InvalidInput("a reported total must be a number", field="--reported-total", value=reported_total)
    log.info("cli.score", measure=defn.id, answers_given=len(values) if values is not None else 0)
    result = score_measure(defn.id, values, reported_total=total, library=library, **context)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    console().print(render_score(result, defn))


def _pairs(pairs: Iterable[str], option: str) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InvalidInput("expected KEY=VALUE", field=option, value=pair)
        out[key.strip()] = value.strip()
    return out


def _score_fhir(
    path: Path, questionnaires: list[Path], item_map: dict[str, str], sex: str | None, as_json: bool
) -> None:
    from ..fhir import load_resource, score_fhir

    context: dict[str, Any] = {"sex": sex} if sex else {}
    report = score_fhir(
        path, definitions=[load_resource(q) for q in questionnaires], item_map=item_map or None, **context
    )
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    out = console()
    table = Table("resource", "measure", "date", "total", "band", "flags", "reported total", title=str(path))
    for s in report.scores:
        sc = s.score
        if sc.reported_total is None:
            agrees = ""
        elif sc.total_agrees is None:
            agrees = f"{sc.reported_total} (not checked: no items)"
        else:
            agrees = f"{sc.reported_total} (agrees)" if sc.total_agrees else f"{sc.reported_total} DIFFERS"
        table.add_row(
            Text(s.source),
            Text(s.measure),
            Text(s.date.isoformat() if s.date else ""),
            Text("" if sc.total is None else str(sc.total)),
            Text(sc.band or ""),
            _flag_text(sc.flags),
            Text(agrees, style="bold red" if sc.total_agrees is False else ""),
        )
    out.print(table)
    for s in report.disagreements:
        out.print(
            Text(
                f"{s.source}: reported total {s.score.reported_total} differs from the items' total {s.score.total}",
                style="bold red",
            )
        )
    for note in [*report.unrecognized, *report.skipped]:
        out.print(Text(f"not scored: {note}"))
    if any(s.score.total_source == "reported" for s in report.scores):
        out.print(
            Text(
                "scored as a total only where no item could be identified: item-level flags are unknown. "
                "If the form's items carry no codes, map them with --item-map LINKID=ITEM."
            )
        )

"""The ``cocm-rules`` application and what every command shares: the error path (exit 2),
the end of a batch (exit 3), logging on stderr and the output console.

The commands live in ``_measures``, ``_rules``, ``_caseload`` and ``_service``; each
registers itself on :data:`app` when imported (the package ``__init__`` imports them all).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any, NoReturn

import structlog
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from .. import __version__
from ..engine import RecordError
from ..errors import CocmRulesError
from ..vocabulary import SUICIDE_RISK

log = structlog.get_logger("cocm_rules.cli")

#: Exit status for invalid input or definitions (the same as for usage errors).
EXIT_INVALID = 2
#: Exit status of ``evaluate``, ``review`` and ``caseload`` when every output was written but
#: some records could not be evaluated.
EXIT_RECORDS_FAILED = 3
#: How many failed records stderr lists by place (all of them are in the output).
SHOWN_ON_STDERR = 10


# -- the application and its error path -------------------------------------------------------


def fail(message: str) -> NoReturn:
    """Print ``error: <message>`` as ONE line on stderr and exit with status 2.

    A multi-line message (a definition error lists one problem per line) is joined with
    ``"; "`` so the error stays one line; plain text, never wrapped by rich.
    """
    one_line = "; ".join(part.strip() for part in str(message).splitlines() if part.strip())
    typer.echo(f"error: {one_line}", err=True)
    raise typer.Exit(EXIT_INVALID)


class _Application(TyperGroup):
    """The top-level group: turns every :class:`CocmRulesError` a command raises into :func:`fail`."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]  # typer vendors click's Context
        try:
            return super().invoke(ctx)
        except CocmRulesError as error:
            fail(str(error))


app = typer.Typer(
    cls=_Application,
    name="cocm-rules",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold patients' answers
)
measures_app = typer.Typer(
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(measures_app, name="measures")


def configure_logging(verbosity: int = 0) -> None:
    """Configure structlog for the command line: human-readable events on stderr.

    ``verbosity`` 0 logs WARNING and above, 1 INFO, 2 or more DEBUG. The library itself never
    configures logging; only a host (this command line, a service) does.
    """
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    # sys.stderr is looked up on each use, so a replaced stream (tests, pipes) is honoured.
    return structlog.PrintLogger(sys.stderr)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"cocm-rules {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="Log more on stderr: -v info, -vv debug.")
    ] = 0,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Clinical decision rules for Collaborative Care (CoCM) registries: validated measure scoring.

    Invalid input exits with status 2 and one line on stderr starting with 'error: '.
    evaluate, review and caseload exit with status 3 when some records could not be
    evaluated: all output is written, the error records are in it, and stderr says how many
    and where they are (record, line, field; never a value).
    """
    configure_logging(verbose)


def main() -> None:
    """Entry point of the ``cocm-rules`` console script and ``python -m cocm_rules``."""
    configure_logging(0)
    app(prog_name="cocm-rules")


def finish_batch(records: int, failed: int, first: Sequence[RecordError], where: str) -> None:
    """End a batch command: when ``failed`` of ``records`` could not be evaluated, say so on
    stderr with the place of the first few (record, line, field: never a value) and exit with
    :data:`EXIT_RECORDS_FAILED`; otherwise return. ``where`` says where the output has them."""
    if not failed:
        return
    typer.echo(f"{failed} of {_records(records)} could not be evaluated ({where}):", err=True)
    for e in first[:SHOWN_ON_STDERR]:
        typer.echo(f"  {e.summary()}", err=True)
    if failed > SHOWN_ON_STDERR:
        typer.echo(f"  ... and {failed - SHOWN_ON_STDERR} more", err=True)
    typer.echo(
        f"exit status {EXIT_RECORDS_FAILED}: the output is complete, but not every record is in it as a result",
        err=True,
    )
    raise typer.Exit(EXIT_RECORDS_FAILED)


def _records(n: int) -> str:
    return f"{n} record" if n == 1 else f"{n} records"


def record_errors_table(errors: Sequence[RecordError]) -> Table:
    """The records that could not be evaluated, with the full reasons (for stdout, next to the
    results: a reason may quote the offending value)."""
    title = f"{_records(len(errors))} could not be evaluated"
    table = Table("record", "line", "patient", "field", "error", title=title)
    for e in errors:
        table.add_row(
            str(e.record),
            "" if e.line is None else str(e.line),
            Text(e.patient_id or ""),
            Text(e.field or ""),
            Text(e.error),
        )
    return table


def console() -> Console:
    """The console of a command's output (stdout). Piped or captured output gets room for the
    wide tables (the review list) unless COLUMNS says otherwise."""
    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, width=160 if wide else None)


#: How alert categories are shown in tables (presentation only; the order is the engine's).
CATEGORY_STYLE = {SUICIDE_RISK: "bold red", "treatment_to_target": "yellow", "smi": "magenta"}

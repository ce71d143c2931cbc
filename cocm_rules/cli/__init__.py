"""The ``cocm-rules`` command line: an adapter at the edge (typer + rich), no clinical logic.

Commands::

    cocm-rules measures                          the bundled measures, one row each
    cocm-rules measures show ID [--json]         everything about one measure, with sources and statuses
    cocm-rules score MEASURE --answers 1,0,2,... [--sex female] [--param NAME=VALUE] [--json]
    cocm-rules score --fhir FILE [--json]         score FHIR QuestionnaireResponses / Observations
    cocm-rules validate PATHS...                  check rulesets; every mistake as file:line:column
    cocm-rules test PATHS... [--backend]          run the rulesets' embedded tests and the safety floor
    cocm-rules facts EPISODE --as-of DATE         a patient's facts (or --catalog: every fact)
    cocm-rules schema episode|ruleset|measure     JSON Schema of an input
    cocm-rules evaluate CASELOAD --as-of DATE     alerts for every patient (JSON Lines)
    cocm-rules review CASELOAD --as-of DATE       the psychiatric consultant's review list
    cocm-rules caseload CASELOAD --as-of DATE     caseload metrics, overall and per care manager
    cocm-rules synth --patients N --seed S        a synthetic caseload
    cocm-rules serve [--host --port --config]     the CDS Hooks service (extra 'service')

Exit status: 0 on success; 1 when ``validate`` or ``test`` finds a problem; 2 on invalid
input or an invalid definition, with one line ``error: ...`` on stderr and no traceback (usage
errors, such as an unknown option, also exit 2); 3 when ``evaluate``, ``review`` or
``caseload`` wrote all of its output but some records could not be evaluated (their error
records are in the output; stderr says how many and where they are in the input). Any other
failure is a defect and shows a traceback.

Where input values may appear: the full reason of an error record (which may quote the
offending value) goes only to the command's output, next to the results (a JSON line, the
``errors`` of ``--json``, the error rows of ``--csv``, the table of records that could not be
evaluated). stderr and the log events name the record, its line and the field, never a value.

This package is the only place that imports typer and rich (this module holds the
application and its error path; the commands live in ``_measures``, ``_rules``,
``_caseload`` and ``_service``). The command line is a *host* of the
library, so it configures structlog (the library never does): events go to stderr, level
WARNING, ``-v`` for INFO and ``-vv`` for DEBUG; stdout carries only the command's output, so
``--json`` output can be piped. Answers are never logged.

Adding a command: decorate a function with ``@app.command()`` (or add a group with
``app.add_typer``) and let :class:`~cocm_rules.CocmRulesError` propagate, or call
:func:`fail`: the application's group turns either into the one-line exit-2 error. Build
output from rich renderables with data wrapped in :class:`~rich.text.Text` (never as markup:
labels and sources may contain brackets); the ``_render_*``/``_describe_*`` helpers below are
the presentation layer.
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

__all__ = [
    "EXIT_INVALID",
    "EXIT_RECORDS_FAILED",
    "app",
    "configure_logging",
    "fail",
    "finish_batch",
    "main",
    "parse_answers",
    "parse_params",
    "record_errors_table",
]

log = structlog.get_logger(__name__)

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

    def invoke(self, ctx: typer.Context) -> Any:
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


def _console() -> Console:
    # Piped or captured output gets room for the wide tables (the review list) unless COLUMNS says otherwise.
    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, width=160 if wide else None)


# The commands register themselves on ``app`` when their modules are imported.
from . import _caseload, _measures, _rules, _service  # noqa: E402, F401
from ._measures import parse_answers, parse_params  # noqa: E402

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

Exit status: 0 on success; 2 on invalid input or an invalid definition, with one line
``error: ...`` on stderr and no traceback (usage errors, such as an unknown option, also exit
2). Any other failure is a defect and shows a traceback.

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
from typing import Annotated, Any, NoReturn

import structlog
import typer
from rich.console import Console
from typer.core import TyperGroup

from .. import __version__
from ..errors import CocmRulesError

__all__ = ["EXIT_INVALID", "app", "configure_logging", "fail", "main", "parse_answers", "parse_params"]

log = structlog.get_logger(__name__)

#: Exit status for invalid input or definitions (the same as for usage errors).
EXIT_INVALID = 2


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
    """
    configure_logging(verbose)


def main() -> None:
    """Entry point of the ``cocm-rules`` console script and ``python -m cocm_rules``."""
    configure_logging(0)
    app(prog_name="cocm-rules")


def _console() -> Console:
    # Piped or captured output gets room for the wide tables (the review list) unless COLUMNS says otherwise.
    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, width=160 if wide else None)


# The commands register themselves on ``app`` when their modules are imported.
from . import _caseload, _measures, _rules, _service  # noqa: E402, F401
from ._measures import parse_answers, parse_params  # noqa: E402

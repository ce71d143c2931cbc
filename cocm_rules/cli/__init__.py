"""The ``cocm-rules`` command line: an adapter at the edge (typer + rich), no clinical logic.

Commands::

    cocm-rules measures                          the bundled measures, one row each
    cocm-rules measures show ID [--json]         everything about one measure, with sources and statuses
    cocm-rules score MEASURE --answers 1,0,2,... [--sex female] [--param NAME=VALUE] [--json]
    cocm-rules score --fhir FILE [--json]         score FHIR QuestionnaireResponses / Observations
    cocm-rules validate PATHS...                  check rulesets; every mistake as file:line:column
    cocm-rules test PATHS... [--backend]          run the rulesets' embedded tests and the safety floor
                                                  (--coverage: firing case and near miss per rule)
    cocm-rules explain FILE --rule ID --as-of DATE why a rule fires or not for one patient
    cocm-rules diff OLD NEW --caseload F --as-of D what a ruleset change would do (table, --json, --html)
    cocm-rules facts EPISODE --as-of DATE         a patient's facts (or --catalog: every fact)
    cocm-rules schema episode|ruleset|measure     JSON Schema of an input
    cocm-rules evaluate CASELOAD --as-of DATE     alerts for every patient (JSON Lines; --profile-rules: rule costs)
    cocm-rules review CASELOAD --as-of DATE       the psychiatric consultant's review list
    cocm-rules caseload CASELOAD --as-of DATE     caseload metrics, overall and per care manager
    cocm-rules report CASELOAD --as-of DATE --out FILE.html   the caseload report (extra 'report')
    cocm-rules synth --patients N --seed S        a synthetic caseload
    cocm-rules serve [--host --port --config]     the CDS Hooks service (extra 'service')

Exit status: 0 on success; 1 when ``validate`` or ``test`` finds a problem; 2 on invalid
input or an invalid definition, with one line ``error: ...`` on stderr and no traceback (usage
errors, such as an unknown option, also exit 2); 3 when ``evaluate``, ``review``,
``caseload`` or ``report`` wrote all of its output but some records could not be evaluated (their error
records are in the output; stderr says how many and where they are in the input). Any other
failure is a defect and shows a traceback.

Where input values may appear: the full reason of an error record (which may quote the
offending value) goes only to the command's output, next to the results (a JSON line, the
``errors`` of ``--json``, the error rows of ``--csv``, the table of records that could not be
evaluated). stderr and the log events name the record, its line and the field, never a value.

This package is the only place that imports typer and rich (``_app`` holds the
application, its error path and what the commands share; the commands live in
``_measures``, ``_rules``, ``_analysis``, ``_caseload``, ``_report`` and ``_service``). The
command line is a *host* of the library, so it configures structlog (the library never does): events go to stderr, level
WARNING, ``-v`` for INFO and ``-vv`` for DEBUG; stdout carries only the command's output, so
``--json`` output can be piped. Answers are never logged.

Adding a command: in a module of this package imported below, decorate a function with
``@app.command()`` (``app`` from ``._app``; or add a group with ``app.add_typer``) and let
:class:`~cocm_rules.CocmRulesError` propagate, or call :func:`fail`: the application's group
turns either into the one-line exit-2 error. Build output from rich renderables with data
wrapped in :class:`~rich.text.Text` (never as markup: labels and sources may contain
brackets); the ``render_*``/``_describe_*`` helpers of the command modules are the
presentation layer.
"""

from __future__ import annotations

# The commands register themselves on ``app`` when their modules are imported.
from . import _analysis, _caseload, _lifecycle, _measures, _report, _rules, _service  # noqa: F401
from ._app import (
    EXIT_INVALID,
    EXIT_RECORDS_FAILED,
    app,
    configure_logging,
    fail,
    finish_batch,
    main,
    record_errors_table,
)
from ._measures import parse_answers, parse_params

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

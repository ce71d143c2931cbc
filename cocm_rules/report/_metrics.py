"""The caseload metrics as a table, read from the metrics model generically: a metric added to
:class:`~cocm_rules.caseload.CaseloadMetrics` appears in the report without a change here.

Every field becomes a row (a nested model or list of models becomes a group of rows), labelled
by the field's description, else a label below, else its name; a :class:`~cocm_rules.caseload.Rate`
shows its percentage with its numerator and denominator. The columns are the whole caseload,
then each care manager.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..caseload import CaseloadMetrics, Rate

__all__ = ["SHOWN_ELSEWHERE", "MetricRow", "MetricsTable", "metrics_table"]

#: Fields of the metrics model the report shows in other places (the heading, the columns,
#: the table of records that could not be evaluated).
SHOWN_ELSEWHERE = frozenset({"as_of", "per_care_manager", "errors"})

#: Labels for field names that carry no description; any other field is labelled by its name.
LABELS = {
    "records": "patients evaluated",
    "caseload_size": "active caseload",
    "by_status": "by status",
    "period_start": "period starts",
    "contacted": "contacted in the period",
    "follow_up_measure": "follow-up measure in the period",
    "baseline_at_least": "baseline at least",
    "improved_50": "at least 50% improvement",
    "median_weeks_to_response": "median weeks to response",
    "unconfirmed": "definitions unconfirmed",
    "cms159_remission_12m": "CMS159-style remission at 12 months",
}

#: The field that names an item of a list of models (its value heads the item's rows).
ITEM_NAME_FIELDS = ("measure", "name", "id")

#: What an empty value shows.
NONE = "\N{EM DASH}"


@dataclass(frozen=True)
class MetricRow:
    """One row of the metrics table: a key (the field path), a label, an optional
    explanation (the field's description) and one text per column."""

    key: str
    label: str
    help: str | None
    values: tuple[str, ...]


@dataclass(frozen=True)
class MetricsTable:
    """The metrics table: column headings (the caseload, then each care manager) and rows."""

    columns: tuple[str, ...]
    rows: tuple[MetricRow, ...]


def rate_text(rate: Rate) -> str:
    """``45.0% (9/20)``; a rate with no patients says so."""
    if not rate.denominator:
        return f"{NONE} (0/0)"
    return f"{rate.percent}% ({rate.numerator}/{rate.denominator})"


def _scalar(value: Any) -> str:
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(_scalar(v) for v in value) if value else NONE
    return str(value)


def _label(name: str) -> str:
    return LABELS.get(name, name.replace("_", " "))


def _item_name(item: BaseModel, index: int, names: Mapping[str, str]) -> tuple[str, str | None]:
    """How an item of a list of models is headed, and the field that gave the heading."""
    for field in ITEM_NAME_FIELDS:
        value = getattr(item, field, None)
        if isinstance(value, str):
            return names.get(value, value), field
    return f"#{index + 1}", None


def _cells(value: Any, key: str, label: str, help: str | None, names: Mapping[str, str]) -> Iterator[MetricRow]:
    """The rows of one value (one column): a scalar is one row, a model or mapping a group."""
    if isinstance(value, Rate):
        yield MetricRow(key, label, help, (rate_text(value),))
    elif isinstance(value, BaseModel):
        yield from _model_rows(value, key, label, names)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _cells(v, f"{key}.{k}", f"{label} \N{MIDDLE DOT} {_label(str(k))}", help, names)
    elif isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
        for i, item in enumerate(value):
            heading, field = _item_name(item, i, names)
            sub = f"{label} \N{MIDDLE DOT} {heading}" if label else heading
            yield from _model_rows(item, f"{key}.{heading}", sub, names, skip=field)
    else:
        yield MetricRow(key, label, help, (_scalar(value),))


def _model_rows(
    model: BaseModel, key: str, label: str, names: Mapping[str, str], skip: str | None = None
) -> Iterator[MetricRow]:
    for name, field in type(model).model_fields.items():
        if name == skip or (not key and name in SHOWN_ELSEWHERE):
            continue
        sub_label = f"{label} \N{MIDDLE DOT} {_label(name)}" if label else _label(name)
        sub_key = f"{key}.{name}" if key else name
        yield from _cells(getattr(model, name), sub_key, sub_label, field.description, names)


def metrics_table(metrics: CaseloadMetrics, measure_names: Mapping[str, str] | None = None) -> MetricsTable:
    """The metrics as rows, one column for the caseload and one per care manager.

    ``measure_names`` maps measure ids to the names shown (e.g. ``phq9`` to ``PHQ-9``). A row
    one column lacks (a status no patient of a care manager has) is empty in that column.
    """
    names = measure_names or {}
    columns = {"all": metrics, **metrics.per_care_manager}
    cells: dict[str, dict[str, str]] = {}
    meta: dict[str, tuple[str, str | None]] = {}
    for column, m in columns.items():
        for row in _model_rows(m, "", "", names):
            meta.setdefault(row.key, (row.label, row.help))
            cells.setdefault(row.key, {})[column] = row.values[0]
    rows = tuple(
        MetricRow(key, label, help, tuple(cells[key].get(column, "") for column in columns))
        for key, (label, help) in meta.items()
    )
    return MetricsTable(tuple(columns), rows)

"""``cocm-rules ack``: acknowledge or snooze an alert in the alert-state store, or list them.

``evaluate --store`` and ``review --store`` read the store's acknowledgements (so each alert
has its state) and record the alerts they showed (so ``ack ALERT_ID`` knows its patient and
rule). The store is a SQLite file path or a PostgreSQL URL (``--store`` or ``COCM_RULES_STORE``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from ..alerts import Acknowledgement, Alert
from ..errors import InvalidInput
from ..rules import load_rulesets
from ._app import app, console

__all__ = ["StoreOpt", "state_text"]

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar="COCM_RULES_STORE",
        metavar="PATH|URL",
        help="Alert-state store: a SQLite file path, or a PostgreSQL URL (postgresql://user@host/db).",
    ),
]


def state_text(alert: Alert) -> str:
    """An alert's state in words: ``new``, ``acknowledged by cm1``, ``snoozed until 2026-11-20``, ``refired``."""
    if alert.state == "snoozed":
        return f"snoozed until {alert.state_until}"
    if alert.state == "acknowledged" and alert.acknowledgement is not None:
        return f"acknowledged by {alert.acknowledgement.by}"
    return alert.state


def _date(text: str | None, option: str) -> dt.date | None:
    if text is None:
        return None
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
    except ValueError:
        pass
    raise InvalidInput("expected a date YYYY-MM-DD", field=option, value=text)


def _cap(rule_id: str, rulesets: list[Path] | None) -> int | None:
    loaded = load_rulesets(list(rulesets) if rulesets else None)
    for rs in loaded.rulesets:
        if any(r.rule_id == rule_id for r in rs.rules):
            return rs.max_snooze_days
    return None


@app.command("ack")
def ack(
    alert_id: Annotated[str | None, typer.Argument(metavar="ALERT_ID", help="The alert's alert_id.")] = None,
    by: Annotated[str | None, typer.Option("--by", metavar="WHO", help="Who acknowledges it (a user id).")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (required for a suicide-risk alert).")] = None,
    until: Annotated[
        str | None, typer.Option("--until", metavar="YYYY-MM-DD", help="Snooze until this day (inclusive).")
    ] = None,
    on: Annotated[
        str | None, typer.Option("--on", metavar="YYYY-MM-DD", help="The day it is recorded (default: today).")
    ] = None,
    store: StoreOpt = None,
    rulesets: Annotated[
        list[Path] | None,
        typer.Option("--rulesets", "-r", metavar="PATH", help="Rulesets whose max_snooze_days caps --until."),
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the acknowledgements in the store.")] = False,
    patient: Annotated[str | None, typer.Option("--patient", help="With --list: only this patient's.")] = None,
) -> None:
    """Acknowledge (or, with --until, snooze) an alert shown by evaluate/review --store, or list them.

    A suicide-risk alert needs --reason; --until is capped by the ruleset's max_snooze_days.

    Example: cocm-rules ack 057305b61b0616883a5e --by cm1 --reason "safety plan reviewed" --store alerts.db
    """
    if store is None:
        raise InvalidInput("give the store: --store PATH|URL (or COCM_RULES_STORE)", field="--store")
    from ..store import AlertStore

    with AlertStore(store) as db:
        if list_:
            _list(db, patient)
            return
        if alert_id is None or by is None:
            raise InvalidInput("give the ALERT_ID and --by WHO (or --list)", field="ALERT_ID" if by else "--by")
        seen = db.seen_alert(alert_id)
        if seen is None:
            raise InvalidInput(
                "this alert id is not in the store: run `cocm-rules evaluate ... --store` or `review ... --store` "
                "first (they record the alerts they show)",
                field="ALERT_ID",
                value=alert_id,
            )
        day = _date(on, "--on") or dt.date.today()
        end = _date(until, "--until")
        cap = _cap(seen.rule_id, rulesets)
        if end is not None and cap is not None and end > day + dt.timedelta(days=cap):
            raise InvalidInput(
                f"--until is beyond the ruleset's max_snooze_days ({cap} days from {day})",
                field="--until",
                value=until,
                allowed=f"a day up to {day + dt.timedelta(days=cap)}",
            )
        record = Acknowledgement(
            alert_id=alert_id,
            patient_id=seen.patient_id,
            rule_id=seen.rule_id,
            by=by,
            at=day,
            reason=reason,
            until=end,
            severity=seen.severity,
        )
        db.acknowledge(record, category=seen.category, source="cli")
    what = f"snoozed until {end}" if end else "acknowledged"
    typer.echo(f"{alert_id} ({seen.rule_id}, patient {seen.patient_id}) {what} by {by}", err=True)


def _list(db: object, patient: str | None) -> None:
    from ..store import AlertStore

    assert isinstance(db, AlertStore)
    view = Table("alert", "patient", "rule", "by", "on", "until", "reason", "source", title="Acknowledgements")
    for s in db.stored_acknowledgements([patient] if patient else None):
        a = s.acknowledgement
        view.add_row(
            Text(a.alert_id),
            Text(a.patient_id),
            Text(a.rule_id),
            Text(a.by),
            a.at.isoformat(),
            a.until.isoformat() if a.until else "",
            Text(a.reason or ""),
            Text(s.source),
        )
    console().print(view)

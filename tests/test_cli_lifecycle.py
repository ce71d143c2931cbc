"""``cocm-rules ack`` and ``evaluate``/``review --store``: acknowledgements kept in a real store
(SQLite and PostgreSQL) and read back into the alerts' states."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cocm_rules.cli import app

pytestmark = pytest.mark.usefixtures("restore_structlog")

EXAMPLE = str(Path(__file__).parent.parent / "examples" / "episode_phq9_not_improving.json")
SUICIDE = {
    "patient_id": "s1",
    "program": "cocm",
    "enrollment_date": "2026-10-01",
    "status": "active_treatment",
    "assessments": [{"measure": "phq9", "date": "2026-11-02", "answers": [0, 0, 0, 0, 0, 0, 0, 0, 1]}],
}


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250", "NO_COLOR": "1"})


def alerts_of(output: str) -> list[dict[str, Any]]:
    return [a for line in output.splitlines() if line.startswith("{") for a in json.loads(line)["alerts"]]


def test_ack_then_evaluate_shows_the_snooze(store_target: str) -> None:
    """evaluate --store records the alerts; ack snoozes one; the next evaluate reads it back."""
    first = invoke("evaluate", EXAMPLE, "--as-of", "2026-11-20", "--store", store_target)
    assert 0 == first.exit_code, first.output
    alert = next(a for a in alerts_of(first.stdout) if a["rule_id"] == "t2t-phq9-not-improving")
    assert "new" == alert["state"]
    done = invoke(
        "ack", alert["alert_id"], "--by", "cm1", "--reason", "discussed", "--until", "2026-12-01",
        "--on", "2026-11-20", "--store", store_target,
    )  # fmt: skip
    assert 0 == done.exit_code, done.output
    again = invoke("evaluate", EXAMPLE, "--as-of", "2026-11-21", "--store", store_target)
    states = {a["rule_id"]: (a["state"], a["state_until"]) for a in alerts_of(again.stdout)}
    assert ("snoozed", "2026-12-01") == states["t2t-phq9-not-improving"]
    listed = invoke("ack", "--list", "--store", store_target)
    assert alert["alert_id"] in listed.stdout


def test_ack_until_beyond_the_cap_is_refused(store_target: str) -> None:
    """--until past the ruleset's max_snooze_days exits 2 naming the latest allowed day."""
    first = invoke("evaluate", EXAMPLE, "--as-of", "2026-11-20", "--store", store_target)
    alert_id = alerts_of(first.stdout)[0]["alert_id"]
    done = invoke(
        "ack", alert_id, "--by", "cm1", "--until", "2027-01-01", "--on", "2026-11-20", "--store", store_target
    )
    assert 2 == done.exit_code
    assert "max_snooze_days (28 days" in done.stderr
    assert "2026-12-18" in done.stderr


def test_ack_of_a_suicide_alert_needs_a_reason(store_target: str, tmp_path: Path) -> None:
    """Acknowledging a suicide-risk alert without --reason exits 2 and records nothing."""
    path = tmp_path / "s.json"
    path.write_text(json.dumps(SUICIDE), encoding="utf-8")
    first = invoke("evaluate", str(path), "--as-of", "2026-11-02", "--store", store_target)
    alert = alerts_of(first.stdout)[0]
    assert "suicide_risk" == alert["category"]
    done = invoke("ack", alert["alert_id"], "--by", "cm1", "--on", "2026-11-02", "--store", store_target)
    assert 2 == done.exit_code
    assert "needs a reason" in done.stderr
    assert alert["alert_id"] not in invoke("ack", "--list", "--store", store_target).stdout


def test_ack_of_an_unknown_alert_says_what_to_run(tmp_path: Path) -> None:
    """An alert id the store never saw: exit 2, telling the user to run evaluate/review --store."""
    done = invoke("ack", "0123456789abcdef0123", "--by", "cm1", "--store", str(tmp_path / "a.db"))
    assert 2 == done.exit_code
    assert "evaluate ... --store" in done.stderr


def test_review_shows_each_reason_state(store_target: str) -> None:
    """review --store shows new, then snoozed (until when) after an ack."""
    caseload = str(Path(__file__).parent.parent / "examples" / "caseload.jsonl")
    first = invoke("review", caseload, "--as-of", "2026-11-20", "--limit", "3", "--json", "--store", store_target)
    assert first.exit_code in (0, 3), first.output
    entry = json.loads(first.stdout)["entries"][0]
    reason = entry["reasons"][0]
    assert "new" == reason["state"]
    ack = ["ack", reason["alert_id"], "--by", "cm1", "--reason", "seen", "--on", "2026-11-20", "--store", store_target]
    assert 0 == invoke(*ack).exit_code
    table = invoke("review", caseload, "--as-of", "2026-11-20", "--limit", "3", "--store", store_target)
    assert "acknowledged by cm1" in table.stdout
    assert "[new;" in table.stdout


def test_review_csv_shows_each_reasons_state(store_target: str) -> None:
    """review --csv --store has a states and an alert_ids column: after a snooze, the snoozed
    reason reads "snoozed until ..." beside its alert id; the other reasons stay new."""
    import csv
    import io

    first = invoke("evaluate", EXAMPLE, "--as-of", "2026-11-20", "--store", store_target)
    alert = next(a for a in alerts_of(first.stdout) if a["rule_id"] == "t2t-phq9-not-improving")
    done = invoke(
        "ack", alert["alert_id"], "--by", "cm1", "--reason", "discussed", "--until", "2026-12-01",
        "--on", "2026-11-20", "--store", store_target,
    )  # fmt: skip
    assert 0 == done.exit_code, done.output
    listed = invoke("review", EXAMPLE, "--as-of", "2026-11-21", "--csv", "--store", store_target)
    rows = list(csv.DictReader(io.StringIO(listed.stdout)))
    (row,) = [r for r in rows if alert["alert_id"] in r["alert_ids"].split()]
    states = dict(zip(row["alert_ids"].split(), row["states"].split("; "), strict=True))
    assert "snoozed until 2026-12-01" == states[alert["alert_id"]]
    assert {"new"} >= {s for k, s in states.items() if k != alert["alert_id"]}

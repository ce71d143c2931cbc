"""The HTML page of a ruleset diff: one self-contained file (no script, no outside resource),
every value escaped, in plain words a clinical lead reads without help.

It renders a :class:`cocm_rules.diff.RulesetDiff` (typed ``Any`` here: the diff module sits
above this one and imports it).
"""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["render"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 70em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; width: 100%; margin-top: 0.5em; }
th, td { border: 1px solid #ccc; padding: 0.4em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.gain { color: #8a4b00; } .loss { color: #00598a; } .muted { color: #666; }
ul { margin: 0.2em 0; padding-left: 1.2em; }
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _patients(n: int, examples: list[str]) -> str:
    if not n:
        return '<span class="muted">none</span>'
    word = "patient" if n == 1 else "patients"
    shown = ", ".join(_e(p) for p in examples)
    more = f", and {n - len(examples)} more" if n > len(examples) else ""
    return f"<strong>{n}</strong> {word}" + (f'<br><span class="muted">e.g. {shown}{more}</span>' if examples else "")


_STATUS = {
    "added": "new rule",
    "removed": "rule removed",
    "changed": "rule changed",
    "unchanged": "rule unchanged",
}


def _rule_row(r: Any) -> str:
    changes = "".join(f"<li>{_e(c)}</li>" for c in r.changes)
    what = f"{_e(_STATUS[r.status])}" + (f"<ul>{changes}</ul>" if changes else "")
    return (
        "<tr>"
        f"<td><strong>{_e(r.title)}</strong><br><span class='muted'>{_e(r.rule_id)} ({_e(r.ruleset)})</span></td>"
        f"<td>{what}</td>"
        f"<td class='gain'>{_patients(r.gained, r.gained_examples)}</td>"
        f"<td class='loss'>{_patients(r.lost, r.lost_examples)}</td>"
        f"<td>{_patients(r.altered, r.altered_examples)}</td>"
        f"<td>{r.old_alerts} &rarr; {r.new_alerts}</td>"
        "</tr>"
    )


def _rank(value: int | None) -> str:
    return "not listed" if value is None else f"#{value}"


def _rank_rows(title: str, rows: list[Any], total: int) -> str:
    if not total:
        return f"<p>{_e(title)}: none.</p>"
    items = "".join(
        f"<tr><td>{_e(c.patient_id)}</td><td>{_rank(c.old_rank)}</td><td>{_rank(c.new_rank)}</td></tr>" for c in rows
    )
    more = f"<p class='muted'>and {total - len(rows)} more.</p>" if total > len(rows) else ""
    return (
        f"<h3>{_e(title)}: {total}</h3>"
        f"<table><tr><th>patient</th><th>place now</th><th>place with the new rules</th></tr>{items}</table>{more}"
    )


def render(diff: Any) -> str:
    """The page: a summary, the rules whose effect changes, and the review list's changes."""
    changed = diff.changed_rules
    moved = diff.moved_up + diff.moved_down
    gained = sum(r.gained for r in diff.rules)
    lost = sum(r.lost for r in diff.rules)
    rows = "".join(_rule_row(r) for r in changed)
    rules_table = (
        "<table><tr><th>rule</th><th>what changed in the rule</th><th>would newly alert</th>"
        "<th>would stop alerting</th><th>alert would change (severity, priority, action)</th>"
        f"<th>patients alerted now &rarr; with the new rules</th></tr>{rows}</table>"
        if changed
        else "<p>No rule changes, and no patient would be alerted differently.</p>"
    )
    errors = (
        f"<p>{diff.records_with_errors} records could not be evaluated (invalid, or a patient listed twice) and "
        "are not counted.</p>"
        if diff.records_with_errors
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>What the new rules would change (as of {_e(diff.as_of.isoformat())})</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>What the new rules would change</h1>
<p>Both sets of rules were applied to the same {diff.patients_evaluated} patients as of
{_e(diff.as_of.isoformat())}. With the new rules, <strong>{gained}</strong> alerts would newly appear
and <strong>{lost}</strong> alerts would stop.</p>
<p class="muted">Rules now: {_e(", ".join(diff.old_rulesets))}<br>New rules: {_e(", ".join(diff.new_rulesets))}</p>
{errors}
<h2>Rules</h2>
{rules_table}
<h2>The psychiatric case review list</h2>
<p>{diff.old_review} patients are on the review list now; {diff.new_review} would be with the new rules.
{diff.moved_up} would move up and {diff.moved_down} would move down.</p>
{_rank_rows("Would join the review list", diff.joined_examples, diff.joined_review)}
{_rank_rows("Would leave the review list", diff.left_examples, diff.left_review)}
{_rank_rows("Would move on the review list (largest moves first)", diff.moved_examples, moved)}
</body>
</html>
"""

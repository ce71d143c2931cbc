"""Review order of alerts: suicide risk first, whatever the priorities; then priority, severity, id."""

from __future__ import annotations

import datetime as dt

from cocm_rules.alerts import Alert, sort_alerts, sort_key


def alert(rule_id: str, category: str, severity: str, priority: int) -> Alert:
    """An alert with only the fields that decide its place in review order filled in."""
    return Alert(
        rule_id=rule_id,
        ruleset="fixture",
        ruleset_version="1",
        title=rule_id,
        category=category,
        severity=severity,
        priority=priority,
        message="",
        action="review",
        source="test",
        evidence={},
        as_of=dt.date(2026, 1, 15),
    )


def test_every_suicide_risk_alert_comes_before_every_other_alert() -> None:
    """A treat-to-target alert at priority 100, critical, still comes after a suicide-risk alert
    at priority 0, info: the order is structural, not a ruleset setting."""
    alerts = [
        alert("t2t-top", "treatment_to_target", "critical", 100),
        alert("suicide-low", "suicide_risk", "info", 0),
        alert("engagement", "engagement", "high", 99),
        alert("suicide-high", "suicide_risk", "critical", 100),
    ]
    assert ["suicide-high", "suicide-low", "t2t-top", "engagement"] == [a.rule_id for a in sort_alerts(alerts)]


def test_within_each_group_priority_then_severity_then_rule_id() -> None:
    """Among alerts of the same group, the highest priority, then severity, then rule id come first."""
    alerts = [
        alert("b", "engagement", "low", 50),
        alert("a", "engagement", "low", 50),
        alert("c", "engagement", "high", 50),
        alert("d", "billing", "info", 60),
    ]
    assert ["d", "c", "a", "b"] == [a.rule_id for a in sort_alerts(alerts)]


def test_sort_key_puts_suicide_risk_first() -> None:
    """``sort_key`` is what hosts can use to merge alerts from several runs in review order."""
    suicide = alert("s", "suicide_risk", "moderate", 85)
    other = alert("o", "treatment_to_target", "critical", 100)
    assert sort_key(suicide) < sort_key(other)

"""The SMI rulesets' sources say where each rule comes from (issue 12, item 10): the SMI
guide does not mention hospitalization, emergency department use or education, so those
rules cite the HEDIS follow-up measures or say they are a team choice."""

from __future__ import annotations

from cocm_rules import load_rulesets

RULES = {rule.rule_id: (rs, rule) for rs in load_rulesets().rulesets for rule in rs.rules}


def test_hospital_ed_and_education_rules_do_not_cite_the_smi_guide():
    """Hospitalization cites HEDIS FUH, the ED visit HEDIS FUM, education is a team choice;
    none of them cites SMI Adviser."""
    sources = {
        rid: " ".join(RULES[rid][1].source.split())
        for rid in ("smi-hospitalization", "smi-ed-visit", "smi-education-lost")
    }

    assert [] == [rid for rid, source in sources.items() if "SMI Adviser" in source]
    assert "Follow-Up After Hospitalization for Mental Illness (FUH" in sources["smi-hospitalization"]
    assert "Follow-Up After Emergency Department Visit for Mental Illness (FUM" in sources["smi-ed-visit"]
    assert sources["smi-education-lost"].startswith("Team choice")


def test_the_event_window_is_marked_a_team_choice_that_uses_the_hedis_window():
    """The 30-day window is the HEDIS FUH/FUM follow-up window, used here as a team choice."""
    rs, _ = RULES["smi-hospitalization"]
    window = rs.parameters["recent_event_days"]

    assert (30, "team_choice") == (window.value, window.status)
    assert "FUH" in window.source
    assert "FUM" in window.source
    assert "SMI Adviser" not in rs.description


def test_new_smi_rules_say_what_is_a_team_choice():
    """The targets, periods and cadences no source gives are said to be team choices in the
    alert itself, not only in the YAML."""
    new = [
        "smi-psychosis-persistent",
        "smi-bprs-not-at-target",
        "smi-bprs-worsening",
        "smi-mania-persistent",
        "smi-bprs-overdue",
        "smi-psychosis-dimensions-overdue",
        "smi-whodas-overdue",
        "smi-ras-overdue",
    ]

    for rid in new:
        text = "".join(p.text for p in RULES[rid][1].message)
        assert "team choice" in text, rid


def test_the_issue_example_raises_each_smi_alert_once_with_the_mdq_in_comorbidity():
    """The issue's SMI patient (psychosis dimensions at 4 for five months, BPRS 46 -> 64, a
    positive MDQ) gets the persistent-psychosis, BPRS not-at-target and BPRS-worsening alerts,
    and one MDQ prompt: the co-morbidity rule, not a second SMI rule on the same screen."""
    import datetime as dt

    from cocm_rules import Engine

    engine = Engine.load()
    (case,) = [
        c
        for rs in engine.rulesets.rulesets
        for c in rs.tests
        if c.name.startswith("end to end - psychosis stuck at 4 for five months")
    ]
    fired = [a.rule_id for a in engine.evaluate(case.episode, case.as_of or dt.date(2026, 11, 6))]

    assert 1 == len([r for r in fired if "mdq" in r])
    assert {
        "smi-psychosis-persistent",
        "smi-bprs-not-at-target",
        "smi-bprs-worsening",
        "comorbid-mdq-positive-bipolar-evaluation",
    } <= set(fired)

"""The adolescent (PHQ-A) treat-to-target rules and the co-morbidity prompts (issue 12, items 3
and 4): what their alerts say, who they are for, and where they land (review list, cards)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cocm_rules import Engine
from cocm_rules.cdshooks import CATEGORY_LABELS
from cocm_rules.review import review_list
from cocm_rules.vocabulary import CATEGORIES, REVIEW_CATEGORIES

AS_OF = dt.date(2026, 11, 20)
ENGINE = Engine.load()


def _episode(pid: str, assessments: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "patient_id": pid,
        "program": "cocm",
        "enrollment_date": "2026-08-20",
        "status": "active_treatment",
        "assessments": assessments,
        "contacts": [
            {"date": "2026-08-24", "kind": "initial_assessment", "minutes": 60},
            {"date": "2026-11-16", "kind": "follow_up", "minutes": 30},
        ],
    }
    record.update(fields)
    return record


def _alerts(episode: dict[str, Any]) -> dict[str, Any]:
    return {a.rule_id: a for a in ENGINE.evaluate(episode, AS_OF)}


TEEN_NOT_IMPROVING = _episode(
    "teen-1",
    [
        {"measure": "phqa", "date": "2026-08-24", "answers": [3, 3, 2, 2, 2, 2, 2, 2, 0]},  # 18
        {"measure": "phqa", "date": "2026-11-16", "answers": [2, 2, 2, 2, 2, 1, 1, 1, 0]},  # 13
    ],
)


def test_the_adolescent_not_improving_alert_states_the_score_its_date_age_and_what_is_unconfirmed() -> None:
    """The message gives the PHQ-A, its date and how old it is, the reduction, and says the
    10-week review point is from adult programs; the PCP is among the recipients."""
    alert = _alerts(TEEN_NOT_IMPROVING)["t2t-phqa-not-improving"]
    assert (
        "PHQ-A 13 on 2026-11-16 (4 days ago), after 12 weeks (baseline 18, reduction 28%): less than the 50% "
        "reduction of a response. Days since the last consultant review: unknown; PHQ-A change since that "
        "review: unknown points. The 10-week review point comes from adult Collaborative Care (unconfirmed "
        "for adolescents)."
    ) == alert.message
    assert ["psychiatric_consultant", "care_manager", "pcp"] == alert.recipients
    assert {"phqa_significant_baseline": 10, "review_after_weeks": 10, "phqa_response_reduction": 0.5} == {
        k: alert.parameters[k] for k in ("phqa_significant_baseline", "review_after_weeks", "phqa_response_reduction")
    }


def test_an_adult_phq9_series_does_not_fire_the_adolescent_rules() -> None:
    """The same scores sent as a PHQ-9 give the adult alert only."""
    adult = _episode("adult-1", [{**a, "measure": "phq9"} for a in TEEN_NOT_IMPROVING["assessments"]])
    fired = set(_alerts(adult))
    assert "t2t-phq9-not-improving" in fired
    assert [] == sorted(r for r in fired if r.startswith("t2t-phqa-"))


def test_the_adolescent_worsening_alert_says_its_threshold_is_the_adults() -> None:
    """A 5-point rise on the PHQ-A fires, and the message says the threshold is unconfirmed
    for adolescents."""
    episode = _episode(
        "teen-2",
        [
            {"measure": "phqa", "date": "2026-10-20", "answers": [1, 1, 1, 1, 1, 1, 1, 1, 0]},  # 8
            {"measure": "phqa", "date": "2026-11-16", "answers": [2, 2, 2, 1, 1, 1, 1, 1, 0]},  # 11
            {"measure": "phqa", "date": "2026-11-18", "answers": [2, 2, 2, 2, 2, 2, 2, 2, 0]},  # 16
        ],
    )
    alert = _alerts(episode)["t2t-phqa-worsening"]
    assert "+5 points; the 5-point threshold is the adult PHQ-9's, unconfirmed for adolescents" in alert.message


def test_comorbidity_is_a_category_that_can_put_a_patient_on_the_review_list() -> None:
    """A positive MDQ not yet seen by the consultant (moderate) puts the patient on the
    consultant's list; a positive PHQ-2 without a PHQ-9 (low) does not."""
    assert "comorbidity" in CATEGORIES
    assert "comorbidity" in REVIEW_CATEGORIES
    assert "Co-occurring conditions" == CATEGORY_LABELS["comorbidity"]
    mdq = _episode(
        "mdq-1",
        [{"measure": "mdq", "date": "2026-11-12", "answers": [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, "yes", 2]}],
    )
    phq2 = _episode("phq2-1", [{"measure": "phq2", "date": "2026-11-12", "answers": [2, 2]}])
    listed = review_list(ENGINE, [mdq, phq2], AS_OF)
    reasons = {e.patient_id: [a.rule_id for a in e.reasons] for e in listed.entries}
    assert ["comorbid-mdq-positive-bipolar-evaluation"] == [
        r for r in reasons.get("mdq-1", []) if r.startswith("comorbid-")
    ]
    assert "comorbid-phq2-positive-no-full-instrument" not in reasons.get("phq2-1", [])
    assert "comorbid-phq2-positive-no-full-instrument" in _alerts(phq2)


def test_the_alcohol_prompt_says_what_the_evidence_covers() -> None:
    """A positive AUDIT-C (a man at 4) prompts a brief intervention, for the care manager and
    the PCP, and says the recommendation is for adults."""
    episode = _episode("alc-1", [{"measure": "auditc", "date": "2026-11-12", "answers": [2, 1, 1]}], sex="male")
    alert = _alerts(episode)["comorbid-auditc-positive-alcohol-intervention"]
    assert ["care_manager", "pcp"] == alert.recipients
    assert "recommended for adults (USPSTF grade B); for adolescents the evidence is insufficient" in alert.message

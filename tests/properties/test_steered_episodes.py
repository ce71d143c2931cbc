"""Steering :func:`cocm_rules.strategies.episodes` (issue 13): every bundled rule is reached
within a bounded number of examples from the options that make it likely, the trajectories,
safety options and shapes keep their promises, and the safety property runs without
filtering.

The table :data:`STEERING` maps each bundled rule id to the options that reach it; a rule
added to the bundled rulesets fails :func:`test_every_bundled_rule_has_steering` until a line
is added here (or the rule is listed in :data:`NOT_YET_REACHED` with the reason).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from cocm_rules import Engine, InvalidInput, derive_facts, load_measures, parse_episode, score
from cocm_rules.rules import load_rulesets
from cocm_rules.strategies import AS_OF, episodes

LIBRARY = load_measures()
BUNDLED = load_rulesets()
ENGINE = Engine(BUNDLED, skip_reason="property test")

#: Examples drawn, at most, to find an episode on which a rule fires, each example a caseload
#: of REACH_CASELOAD episodes (Hypothesis varies one example a little to make the next, so
#: several episodes per example keep the draws diverse): at most 1,000 episodes per rule.
#: Derandomized: the same examples on every run, so the bound is a fact about the strategy.
REACH_WITHIN = 200
REACH_CASELOAD = 5

ACTIVE = {"status": "active_treatment"}
PLAN = {"status": "relapse_prevention_plan"}
SMI = {"program": "smi", "status": "active_treatment"}
BILLING = {"program": "cocm", "status": "active_treatment", "present": ("phq9",)}
MONTH1 = {**BILLING, "weeks_in_treatment": (0, 1)}
LATER = {**BILLING, "weeks_in_treatment": (6, 30)}
PERSISTENT = {"trajectory": "not_improving", "weeks_in_treatment": (12, 40)}
MEDICAL = {**SMI, "medical": True}

#: Rule id -> the episodes() options that reach it. Extend it when a ruleset gains a rule.
STEERING: dict[str, dict[str, Any]] = {
    # suicide risk
    "suicide-cssrs-high": {"present": ("cssrs_screener",), "safety": "positive"},
    "suicide-cssrs-moderate": {"present": ("cssrs_screener",), "safety": "positive"},
    "suicide-cssrs-low": {"present": ("cssrs_screener",), "safety": "positive"},
    "suicide-phq9-item9": {"safety": "positive"},
    "suicide-phqa-risk": {"present": ("phqa",), "safety": "positive"},
    "suicide-risk-unknown": {"shape": "total"},
    # depression (PHQ-9), adolescents (PHQ-A), anxiety (GAD-7), PTSD (PCL-5)
    **{
        f"t2t-{m}-{rule}": {**ACTIVE, "present": (m,), "safety": "negative", **options}
        for m in ("phq9", "phqa", "gad7")
        for rule, options in (
            ("not-improving", {"trajectory": "not_improving", "weeks_in_treatment": (10, 30)}),
            ("worsening", {"trajectory": "worsening"}),
            ("response-without-remission", {"trajectory": "improving"}),
            ("remission-plan", {"trajectory": "improving"}),
            ("overdue", {}),
        )
    },
    "t2t-pcl5-not-improving": {
        **ACTIVE,
        "present": ("pcl5",),
        "trajectory": "not_improving",
        "weeks_in_treatment": (10, 30),
    },
    "t2t-pcl5-worsening": {**ACTIVE, "present": ("pcl5",), "trajectory": "worsening"},
    "t2t-pcl5-overdue": {**ACTIVE, "present": ("pcl5",)},
    # relapse prevention and graduation
    "rpp-sustained-without-plan": {**ACTIVE, "trajectory": "improving", "weeks_in_treatment": (16, 52)},
    "rpp-ready-to-complete": {**ACTIVE, "trajectory": "improving", "weeks_in_treatment": (16, 52)},
    "rpp-check-in-due": {**PLAN, "trajectory": "improving"},
    "rpp-symptoms-returning": {**PLAN, "trajectory": "relapse"},
    "rpp-gad7-symptoms-returning": {**PLAN, "present": ("gad7",), "trajectory": "relapse"},
    "rpp-pcl5-symptoms-returning": {**PLAN, "present": ("pcl5",), "trajectory": "relapse"},
    # engagement and psychiatric consultation
    "engage-no-initial-assessment": {**ACTIVE, "measures": ("gad7",)},
    "engage-first-follow-up-late": {**ACTIVE, "weeks_in_treatment": (4, 8)},
    "engage-follow-up-overdue": {**ACTIVE, "present": ("phq9",)},
    "engage-plan-follow-up-overdue": {**PLAN, "present": ("phq9",)},
    "engage-lost-to-follow-up": {**ACTIVE},
    "engage-not-measured": {**ACTIVE},
    "consult-new-patient": {**ACTIVE, "present": ("phq9",)},
    "consult-non-responder-never-reviewed": {**ACTIVE, "trajectory": "not_improving", "weeks_in_treatment": (8, 30)},
    "consult-recommendation-pending": {**ACTIVE, "present": ("phq9",)},
    # co-occurring conditions
    "comorbid-phq2-positive-no-full-instrument": {**ACTIVE, "present": ("phq2",)},
    "comorbid-gad2-positive-no-full-instrument": {**ACTIVE, "present": ("gad2",)},
    "comorbid-mdq-positive-bipolar-evaluation": {**ACTIVE, "present": ("mdq",)},
    "comorbid-auditc-positive-alcohol-intervention": {**ACTIVE, "present": ("auditc",)},
    # serious mental illness
    "smi-mania-screen-positive": {**SMI, "present": ("asrm",)},
    "smi-psychosis-worsening": {**SMI, "present": ("psychosis_dimensions",)},
    "smi-function-declining": {**SMI, "present": ("whodas12",), "trajectory": "worsening"},
    "smi-recovery-declining": {**SMI, "present": ("ras",), "trajectory": "worsening"},
    "smi-hospitalization": {**SMI, "present": ("asrm",)},
    "smi-ed-visit": {**SMI, "present": ("asrm",)},
    "smi-housing-lost": {**SMI, "present": ("asrm",)},
    "smi-employment-lost": {**SMI, "present": ("asrm",)},
    "smi-education-lost": {**SMI, "present": ("asrm",)},
    "smi-mania-persistent": {**SMI, "present": ("asrm",), "trajectory": "not_improving", "weeks_in_treatment": (4, 30)},
    "smi-psychosis-persistent": {**SMI, "present": ("psychosis_dimensions",), **PERSISTENT},
    "smi-bprs-not-at-target": {**SMI, "present": ("bprs",), **PERSISTENT},
    "smi-bprs-worsening": {**SMI, "present": ("bprs",), "trajectory": "worsening"},
    # measures overdue: the latest administration is drawn anywhere in the episode
    "smi-bprs-overdue": {**SMI, "present": ("bprs",)},
    "smi-psychosis-dimensions-overdue": {**SMI, "present": ("psychosis_dimensions",)},
    "smi-whodas-overdue": {**SMI, "present": ("whodas12",), "weeks_in_treatment": (14, 52)},
    "smi-ras-overdue": {**SMI, "present": ("ras",), "weeks_in_treatment": (14, 52)},
    # medical outcomes of SMI (metabolic monitoring on an antipsychotic, out-of-range values)
    **{
        f"smi-med-{rule}": MEDICAL
        for rule in (
            "weight-check-due",
            "bp-check-due",
            "glucose-check-due",
            "lipid-check-due",
            "weight-gain",
            "obesity",
            "bp-stage2",
            "bp-severe",
            "hba1c-diabetes-range",
            "fasting-glucose-diabetes-range",
            "random-glucose-high",
            "ldl-very-high",
            "triglycerides-very-high",
            "current-smoker",
        )
    },
    # data quality
    "dq-total-mismatch": {"data_errors": True},
    "dq-invalid-administration": {"data_errors": True},
    "dq-set-aside": {"data_errors": True},
    # billing (time tracking, consent, roles)
    "billing-month1-below-minimum": {**BILLING, "weeks_in_treatment": (0, 0)},
    "billing-month1-g2214": {**BILLING, "weeks_in_treatment": (0, 0)},
    "billing-month1-99492": MONTH1,
    "billing-month1-add-on": MONTH1,
    "billing-later-below-minimum": LATER,
    "billing-later-g2214": LATER,
    "billing-later-99493": LATER,
    "billing-later-add-on": LATER,
    "billing-add-on-above-payer-cap": {**BILLING, "weeks_in_treatment": (3, 5)},
    "billing-consent-not-recorded": {**BILLING, "weeks_in_treatment": (2, 6)},
    "billing-general-bhi-same-month": {**BILLING, "weeks_in_treatment": (2, 6)},
    "billing-minutes-without-role": {**BILLING, "weeks_in_treatment": (2, 6)},
}
#: Bundled rules no steering reaches yet, with the reason (empty: every rule is reached).
NOT_YET_REACHED: dict[str, str] = {}

RULE_IDS = sorted(rule.rule_id for rs in BUNDLED.rulesets for rule in rs.rules)
REACH = settings(database=None, derandomize=True, max_examples=REACH_WITHIN, phases=[Phase.generate], deadline=None)


def test_every_bundled_rule_has_steering() -> None:
    """Each bundled rule has a line in STEERING (or a reason in NOT_YET_REACHED), and the
    table names no rule that does not exist."""
    assert sorted(RULE_IDS) == sorted([*STEERING, *NOT_YET_REACHED])


@pytest.mark.parametrize("rule_id", sorted(STEERING))
def test_every_bundled_rule_fires_within_a_bounded_number_of_examples(rule_id: str) -> None:
    """From its steering options, an episode on which the rule fires is found within
    REACH_WITHIN examples."""

    def fires(records: list[dict[str, Any]]) -> bool:
        return any(rule_id == a.rule_id for record in records for a in ENGINE.evaluate(record, AS_OF))

    caseloads = st.lists(episodes(**STEERING[rule_id]), min_size=REACH_CASELOAD, max_size=REACH_CASELOAD)
    try:
        find(caseloads, fires, settings=REACH)
    except NoSuchExample:  # pragma: no cover - a failure names the rule
        pytest.fail(
            f"{rule_id} did not fire within {REACH_WITHIN} caseloads of {REACH_CASELOAD} "
            f"episodes(**{STEERING[rule_id]})"
        )


@given(record=episodes(safety="positive"))
def test_latest_phq9_item9_positive_means_a_suicide_alert_first(record: dict[str, Any]) -> None:
    """The issue's property, with no filter and no suppressed health check: the latest
    PHQ-9's item 9 is at 1 or more, and the first alert is a suicide-risk alert."""
    assert 1 <= derive_facts(record, AS_OF)["phq9.item9_latest"]
    assert "suicide_risk" == ENGINE.evaluate(record, AS_OF)[0].category


@given(record=episodes(safety="negative", present=("phq9", "phqa", "cssrs_screener")))
def test_negative_safety_raises_no_suicide_alert(record: dict[str, Any]) -> None:
    """Every safety item answered and negative on the latest administrations: no suicide-risk
    alert (not even "cannot rule out")."""
    assert [] == [a.rule_id for a in ENGINE.evaluate(record, AS_OF) if a.category == "suicide_risk"]


def _targets(measure_id: str) -> tuple[float, int | None]:
    """The measure's response share and its smallest reliable or meaningful change (None if
    it defines none), read from its definition."""
    t = LIBRARY[measure_id].targets
    assert t is not None
    assert t.response is not None
    assert t.response.min_reduction is not None
    points = [x.points for x in (t.reliable_change, t.meaningful_change) if x and x.points]
    return t.response.min_reduction, min(points, default=None)


@pytest.mark.parametrize("measure_id", ["phq9", "gad7", "phqa"])
@given(data=st.data())
def test_trajectories_follow_the_measure_definition(measure_id: str, data: st.DataObject) -> None:
    """The scorer's totals follow the trajectory: improving reaches the measure's response,
    not improving never does (nor its smallest change), worsening rises at the latest by at
    least that change, relapse improves and then loses the response at the latest."""
    trajectory = data.draw(st.sampled_from(("improving", "not_improving", "worsening", "relapse")))
    record = data.draw(episodes(present=(measure_id,), trajectory=trajectory, safety="negative"))
    totals = [score(measure_id, a["answers"]).total for a in record["assessments"] if a["measure"] == measure_id]
    response, change = _targets(measure_id)
    base = totals[0]
    responded = [t <= base * (1 - response) for t in totals]
    if len(totals) < 2:
        return  # a patient not seen again after the initial assessment
    if trajectory == "improving":
        assert responded[-1]
    elif trajectory == "not_improving":
        assert not any(responded[1:])
        assert change is None or all(t > base - change for t in totals)
    elif trajectory == "worsening":
        assert totals[-1] - totals[-2] >= (change or 1)
    elif len(totals) > 2:
        assert (True, False) == (any(responded[1:-1]), responded[-1])


@given(record=episodes(present=("phq9", "gad7", "pcl5", "ras", "whodas12"), shape="items_total", max_assessments=0))
def test_answers_add_up_to_the_totals_sent_beside_them(record: dict[str, Any]) -> None:
    """Answers are spread over the items so the scorer recomputes exactly the total sent
    beside them: no mismatch, every administration complete and valid."""
    for a in record["assessments"]:
        if "total" in a:
            result = score(a["measure"], a["answers"])
            assert (a["total"], True, True) == (result.total, result.valid, result.total_agrees is not False)


@given(record=episodes(shape="total_item9", safety="positive"))
def test_total_and_item9_shape_sends_the_total_and_the_safety_item(record: dict[str, Any]) -> None:
    """The PHQ-9 as many EHRs store it: a total and item 9 only, still escalated."""
    latest = [a for a in record["assessments"] if a["measure"] == "phq9"][-1]
    assert ({"item9"}, True) == (set(latest["answers"]), "total" in latest)
    assert "suicide_risk" == ENGINE.evaluate(record, AS_OF)[0].category


@given(record=episodes(program="smi", status="relapse_prevention_plan", weeks_in_treatment=(3, 5)))
def test_program_status_and_weeks_are_as_asked(record: dict[str, Any]) -> None:
    """``program``, ``status`` and ``weeks_in_treatment`` fix what they name; the episode parses."""
    parse_episode(record)
    f = derive_facts(record, AS_OF)
    assert ("smi", "relapse_prevention_plan", True) == (f["program"], f["status"], 3 <= f["weeks_in_treatment"] <= 5)


@given(record=episodes(present=("psychosis_dimensions",), trajectory="not_improving", max_assessments=0))
def test_not_improving_holds_an_item_of_a_measure_without_a_total(record: dict[str, Any]) -> None:
    """A measure rated item by item (the psychosis dimensions) follows the trajectory through
    one item: not improving holds an item at its baseline rating or above on every
    administration, so persistent symptoms are reached without filtering."""
    rows = [a["answers"] for a in record["assessments"] if a["measure"] == "psychosis_dimensions"]
    assert any(all(row[i] >= rows[0][i] for row in rows) for i in range(len(rows[0])))
    if len(rows) > 2:
        assert any(rows[0][i] > 0 and all(row[i] >= rows[0][i] for row in rows) for i in range(len(rows[0])))


@given(record=episodes(program="smi", medical=True))
def test_medical_option_writes_an_antipsychotic_and_observations_in_valid_units(record: dict[str, Any]) -> None:
    """``medical=True`` adds medications and observations (weights, blood pressure, glucose,
    lipids, smoking status) that parse, in units the episode accepts, and that the medical
    facts read."""
    episode = parse_episode(record)
    f = derive_facts(record, AS_OF)
    assert (bool(record.get("medications")), len(record.get("observations", []))) == (
        f["on_antipsychotic"],
        len(episode.observations),
    )


@given(record=episodes(present=("phq9",)))
def test_medical_outcomes_are_off_by_default(record: dict[str, Any]) -> None:
    """Without ``medical=True`` an episode has no medications or observations (earlier draws
    are unchanged)."""
    assert (None, None) == (record.get("medications"), record.get("observations"))


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"trajectory": "better"}, "trajectory"),
        ({"safety": "yes"}, "safety"),
        ({"shape": "total_only"}, "shape"),
        ({"program": "CoCM"}, "program"),
        ({"safety": "negative", "shape": "total"}, "shape"),
        ({"weeks_in_treatment": (5, 2)}, "weeks_in_treatment"),
    ],
)
def test_bad_options_are_refused_at_once(options: dict[str, Any], field: str) -> None:
    """An unknown option value, or safety asked of a total alone, raises InvalidInput naming
    the option when the strategy is made."""
    with pytest.raises(InvalidInput) as caught:
        episodes(**options)
    assert field == caught.value.field


def test_medical_must_be_a_boolean() -> None:
    """``medical`` takes True or False; anything else is a programmer's TypeError at once."""
    with pytest.raises(TypeError, match="medical=") as caught:
        episodes(medical="yes")  # type: ignore[arg-type]
    assert "medical must be True or False, got medical='yes'" == str(caught.value)


def test_an_unknown_present_measure_says_did_you_mean() -> None:
    """A misspelt measure in ``present`` fails at once with "did you mean"."""
    with pytest.raises(InvalidInput) as caught:
        episodes(present=("phq-9",))
    assert "did you mean 'phq9'?" in str(caught.value)

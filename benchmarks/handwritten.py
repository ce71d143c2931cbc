"""The bundled default rules written by hand as one plain Python function (the benchmark's yardstick).

Same meaning as the engine: a comparison with a missing fact (None) is false. The benchmark
checks that this function and the engine agree on every patient before timing anything.
"""

from __future__ import annotations

from typing import Any

ACTIVE = "active_treatment"
PLAN = "relapse_prevention_plan"
OPEN = (ACTIVE, PLAN)


def _ge(v: Any, x: Any) -> bool:
    return v is not None and v >= x


def _gt(v: Any, x: Any) -> bool:
    return v is not None and v > x


def _le(v: Any, x: Any) -> bool:
    return v is not None and v <= x


def _lt(v: Any, x: Any) -> bool:
    return v is not None and v < x


def _ready_to_complete(f: dict[str, Any]) -> bool:
    """Every target significant at baseline met for 8 weeks on a score at most 30 days old
    (PHQ-9 and GAD-7 below 5; a PCL-5 from 33 or more now below 33), at least one of PHQ-9 and
    GAD-7 significant."""
    phq9 = _ge(f["phq9.baseline"], 10)
    gad7 = _ge(f["gad7.baseline"], 10)
    pcl5 = _ge(f["pcl5.baseline"], 33)
    return (
        (phq9 or gad7)
        and (not phq9 or (_ge(f["phq9.remission_weeks"], 8) and _le(f["phq9.days_since_latest"], 30)))
        and (not gad7 or (_ge(f["gad7.remission_weeks"], 8) and _le(f["gad7.days_since_latest"], 30)))
        and (not pcl5 or (_lt(f["pcl5.latest"], 33) and _le(f["pcl5.days_since_latest"], 30)))
    )


def _time_tracking(f: dict[str, Any], add: Any) -> None:
    """The time-tracking rules for an open CoCM episode."""
    month, minutes, units = f["cocm_month"], f["bhcm_minutes_this_month"], f["cocm_99494_units_this_month"]
    assessed, consent, bhi = (
        f["has_initial_assessment"] is True,
        f["has_consent"] is True,
        f["general_bhi_billed_this_month"],
    )
    if _gt(f["minutes_without_role_this_month"], 0):
        add("billing-minutes-without-role")
    if bhi is True and _gt(minutes, 0):
        add("billing-general-bhi-same-month")
    if assessed and not consent and _gt(f["minutes_this_month"], 0):
        add("billing-consent-not-recorded")
    if not (assessed and consent) or bhi is True or minutes is None:
        return
    if _gt(units, 4):
        add("billing-add-on-above-payer-cap")
    if month == 1:
        if minutes < 16:
            add("billing-month1-below-minimum")
        elif minutes < 36:
            add("billing-month1-g2214")
        elif units == 0:
            add("billing-month1-99492")
        elif _ge(units, 1):
            add("billing-month1-add-on")
    elif _ge(month, 2):
        if minutes < 16:
            add("billing-later-below-minimum")
        elif minutes < 31:
            add("billing-later-g2214")
        elif units == 0:
            add("billing-later-99493")
        elif _ge(units, 1):
            add("billing-later-add-on")


def rules(f: dict[str, Any]) -> list[str]:
    """Rule ids that fire for the facts ``f`` (every needed fact present, None if missing)."""
    out: list[str] = []
    add = out.append
    status = f["status"]
    active = status == ACTIVE
    open_ = status in OPEN
    weeks = f["weeks_in_treatment"]
    consult = f["days_since_consultant_review"]
    not_reviewed_28 = consult is None or consult > 28
    # suicide risk
    level = f["cssrs_screener.level"]
    if level == "high":
        add("suicide-cssrs-high")
    if level == "moderate":
        add("suicide-cssrs-moderate")
    if level == "low":
        add("suicide-cssrs-low")
    if _ge(f["phq9.item9_latest"], 1):
        add("suicide-phq9-item9")
    if f["phqa.suicide_risk"] is True:
        add("suicide-phqa-risk")
    if f["safety_item_missing"] is True or f["safety_missing_reason"] is not None:
        add("suicide-risk-unknown")

    # depression (a score older than 30 days is overdue, not "not improving"; a consultant review
    # in the last 28 days holds the prompt back unless the score rose 5+ points since)
    def recent(measure: str) -> bool:
        return _le(f[f"{measure}.days_since_latest"], 30)

    def due_for_review(measure: str, worse: float) -> bool:
        return not_reviewed_28 or _ge(f[f"{measure}.change_since_consultant_review"], worse)

    if (
        active
        and _ge(f["phq9.baseline"], 10)
        and _ge(weeks, 10)
        and _lt(f["phq9.pct_reduction"], 0.5)
        and recent("phq9")
        and due_for_review("phq9", 5)
    ):
        add("t2t-phq9-not-improving")
    if open_ and _ge(f["phq9.change_from_previous"], 5):
        add("t2t-phq9-worsening")
    if (
        active
        and _ge(f["phq9.baseline"], 10)
        and _ge(f["phq9.pct_reduction"], 0.5)
        and f["phq9.remission"] is not True
        and recent("phq9")
    ):
        add("t2t-phq9-response-without-remission")
    if (
        active
        and _ge(f["phq9.baseline"], 10)
        and f["phq9.remission"] is True
        and recent("phq9")
        and f["has_relapse_prevention_plan"] is not True
    ):
        add("t2t-phq9-remission-plan")
    if active and _gt(f["phq9.days_since_latest"], 30):
        add("t2t-phq9-overdue")
    # adolescent depression (PHQ-A)
    phqa_days = f["phqa.days_since_latest"]
    if (
        active
        and _ge(f["phqa.baseline"], 10)
        and _ge(weeks, 10)
        and _lt(f["phqa.pct_reduction"], 0.5)
        and _le(phqa_days, 30)
        and due_for_review("phqa", 5)
    ):
        add("t2t-phqa-not-improving")
    if open_ and _ge(f["phqa.change_from_previous"], 5):
        add("t2t-phqa-worsening")
    if active and f["phqa.response"] is True and f["phqa.remission"] is not True and _le(phqa_days, 30):
        add("t2t-phqa-response-without-remission")
    if (
        active
        and _ge(f["phqa.baseline"], 10)
        and f["phqa.remission"] is True
        and _le(phqa_days, 30)
        and f["has_relapse_prevention_plan"] is not True
    ):
        add("t2t-phqa-remission-plan")
    if active and _gt(phqa_days, 30):
        add("t2t-phqa-overdue")
    # anxiety (worsening: 4 points, Toussaint 2020)
    if (
        active
        and _ge(f["gad7.baseline"], 10)
        and _ge(weeks, 10)
        and _lt(f["gad7.pct_reduction"], 0.5)
        and recent("gad7")
        and due_for_review("gad7", 4)
    ):
        add("t2t-gad7-not-improving")
    if open_ and _ge(f["gad7.change_from_previous"], 4):
        add("t2t-gad7-worsening")
    if (
        active
        and _ge(f["gad7.baseline"], 10)
        and _ge(f["gad7.pct_reduction"], 0.5)
        and f["gad7.remission"] is not True
        and recent("gad7")
    ):
        add("t2t-gad7-response-without-remission")
    if (
        active
        and _ge(f["gad7.baseline"], 10)
        and f["gad7.remission"] is True
        and recent("gad7")
        and f["has_relapse_prevention_plan"] is not True
    ):
        add("t2t-gad7-remission-plan")
    if active and _gt(f["gad7.days_since_latest"], 30):
        add("t2t-gad7-overdue")
    # PTSD
    if (
        active
        and _ge(f["pcl5.baseline"], 33)
        and _ge(weeks, 10)
        and _gt(f["pcl5.change"], -10)
        and recent("pcl5")
        and due_for_review("pcl5", 5)
    ):
        add("t2t-pcl5-not-improving")
    if open_ and _ge(f["pcl5.change_from_previous"], 5):
        add("t2t-pcl5-worsening")
    if active and _gt(f["pcl5.days_since_latest"], 30):
        add("t2t-pcl5-overdue")
    # engagement
    last = f["days_since_last_contact"]
    if active and f["has_initial_assessment"] is False and _gt(f["days_since_enrollment"], 14):
        add("engage-no-initial-assessment")
    initial = f["days_since_initial_assessment"]
    if active and f["has_initial_assessment"] is True and f["follow_up_contacts"] == 0 and _gt(initial, 28):
        add("engage-first-follow-up-late")
    if active and _ge(f["follow_up_contacts"], 1) and _gt(last, 14) and _le(last, 60):
        add("engage-follow-up-overdue")
    if status == PLAN and _gt(last, 31) and _le(last, 60):
        add("engage-plan-follow-up-overdue")
    if open_ and _gt(last, 60):
        add("engage-lost-to-follow-up")
    measured = f["days_since_last_assessment"]
    if active and f["has_initial_assessment"] is True and _gt(initial, 30) and (measured is None or measured > 30):
        add("engage-not-measured")
    # psychiatric consultation
    if active and _ge(initial, 7) and consult is None:
        add("consult-new-patient")
    if (
        active
        and _ge(weeks, 8)
        and consult is None
        and (
            (_ge(f["phq9.baseline"], 10) and _lt(f["phq9.pct_reduction"], 0.5) and recent("phq9"))
            or (_ge(f["gad7.baseline"], 10) and _lt(f["gad7.pct_reduction"], 0.5) and recent("gad7"))
        )
    ):
        add("consult-non-responder-never-reviewed")
    if open_ and _gt(f["days_since_oldest_pending_recommendation"], 14):
        add("consult-recommendation-pending")
    # relapse prevention
    if (
        active
        and _ge(f["phq9.baseline"], 10)
        and f["has_relapse_prevention_plan"] is not True
        and (_ge(f["phq9.remission_weeks"], 8) or _ge(f["phq9.response_weeks"], 8))
    ):
        add("rpp-sustained-without-plan")
    if active and f["has_relapse_prevention_plan"] is True and _ready_to_complete(f):
        add("rpp-ready-to-complete")
    if status == PLAN and (last is None or last > 31):
        add("rpp-check-in-due")
    if status == PLAN and _ge(f["phq9.latest"], 10):
        add("rpp-symptoms-returning")
    if status == PLAN and _ge(f["gad7.latest"], 10):
        add("rpp-gad7-symptoms-returning")
    if status == PLAN and _ge(f["pcl5.latest"], 33):
        add("rpp-pcl5-symptoms-returning")
    # serious mental illness
    if open_:
        if f["asrm.positive_screen"] is True:
            add("smi-mania-screen-positive")
        if _ge(f["psychosis_dimensions.items_worsened"], 1):
            add("smi-psychosis-worsening")
        if _ge(f["whodas12.change_from_previous"], 1):
            add("smi-function-declining")
        if _le(f["ras.change_from_previous"], -1):
            add("smi-recovery-declining")
        if _le(f["days_since_last_hospitalization"], 30):
            add("smi-hospitalization")
        if _le(f["days_since_last_ed_visit"], 30):
            add("smi-ed-visit")
        if _le(f["days_since_housing_lost"], 90) or f["housing_status"] == "homeless":
            add("smi-housing-lost")
        if _le(f["days_since_employment_lost"], 90):
            add("smi-employment-lost")
        if _le(f["days_since_education_lost"], 90):
            add("smi-education-lost")
        _smi_targets(f, add, not_reviewed_28)
        _smi_medical(f, add)
    if active:
        for fact, days, rule in (
            ("bprs.days_since_latest", 30, "smi-bprs-overdue"),
            ("psychosis_dimensions.days_since_latest", 30, "smi-psychosis-dimensions-overdue"),
            ("whodas12.days_since_latest", 90, "smi-whodas-overdue"),
            ("ras.days_since_latest", 90, "smi-ras-overdue"),
        ):
            if _gt(f[fact], days):
                add(rule)
    # co-occurring conditions
    if open_:
        if f["phq2.positive_screen"] is True and f["phq2.followed_by_full_instrument"] is not True:
            add("comorbid-phq2-positive-no-full-instrument")
        if f["gad2.positive_screen"] is True and f["gad2.followed_by_full_instrument"] is not True:
            add("comorbid-gad2-positive-no-full-instrument")
        if f["mdq.positive_screen"] is True and f["mdq.consultant_reviewed_since_latest"] is not True:
            add("comorbid-mdq-positive-bipolar-evaluation")
        if f["auditc.positive_screen"] is True and _le(f["auditc.days_since_latest"], 365):
            add("comorbid-auditc-positive-alcohol-intervention")
    # time tracking (information): CoCM programs only, after the initial assessment, with consent
    if open_ and f["program"] == "cocm":
        _time_tracking(f, add)
    # data quality
    if _ge(f["measures_total_mismatch"], 1):
        add("dq-total-mismatch")
    if _ge(f["measures_latest_invalid"], 1) or f["measures_latest_invalid_names"] is not None:
        add("dq-invalid-administration")
    if _ge(f["set_aside_count"], 1) and f["set_aside_reasons"] is not None:
        add("dq-set-aside")
    return out


def _smi_targets(f: dict[str, Any], add: Any, not_reviewed_28: bool) -> None:
    """Serious mental illness: symptoms not at target, worsening BPRS, MDQ (open statuses)."""
    if _ge(f["psychosis_dimensions.weeks_at_or_above_moderate"], 12) and not_reviewed_28:
        add("smi-psychosis-persistent")
    if _ge(f["weeks_in_treatment"], 12) and _ge(f["bprs.latest"], 41) and not_reviewed_28:
        add("smi-bprs-not-at-target")
    if _ge(f["bprs.pct_change_from_previous"], 0.25) and _ge(f["bprs.latest"], 31):
        add("smi-bprs-worsening")
    if f["asrm.positive_screen"] is True and _ge(f["asrm.positive_screen_weeks"], 4) and not_reviewed_28:
        add("smi-mania-persistent")


def _check_due(f: dict[str, Any], check: str, interval: int) -> bool:
    """The ADA/APA schedule of a blood pressure, glucose or lipid check (on an antipsychotic)."""
    weeks, since_start = f["weeks_on_antipsychotic"], f[f"{check}_check_days_from_antipsychotic_start"]
    if _lt(weeks, 12) and (since_start is None or since_start < -30):
        return True
    if _ge(weeks, 12) and (since_start is None or since_start < 70):
        return True
    return _gt(f[f"days_since_{check}_check"], interval)


def _recent(f: dict[str, Any], days: str) -> bool:
    return _le(f[days], 365)


def _smi_medical(f: dict[str, Any], add: Any) -> None:
    """Medical outcomes: metabolic monitoring on an antipsychotic, and values out of range (open statuses)."""
    if f["on_antipsychotic"] is True:
        weeks, weighed = f["weeks_on_antipsychotic"], f["days_since_weight_check"]
        if (_le(weeks, 12) and (weighed is None or weighed > 28)) or (
            _gt(weeks, 12) and (weighed is None or weighed > 91)
        ):
            add("smi-med-weight-check-due")
        for check, interval in (("bp", 365), ("glucose", 365), ("lipid", 1826)):
            if _check_due(f, check, interval):
                add(f"smi-med-{check}-check-due")
        if _ge(f["weight_pct_gain_on_antipsychotic"], 0.05):
            add("smi-med-weight-gain")
    if _ge(f["bmi_latest_kg_m2"], 30) and _recent(f, "days_since_bmi"):
        add("smi-med-obesity")
    systolic = f["systolic_bp_latest_mm_hg"] if _recent(f, "days_since_systolic_bp") else None
    diastolic = f["diastolic_bp_latest_mm_hg"] if _recent(f, "days_since_diastolic_bp") else None
    severe = _gt(systolic, 180) or _gt(diastolic, 120)
    if severe:
        add("smi-med-bp-severe")
    elif _ge(systolic, 140) or _ge(diastolic, 90):
        add("smi-med-bp-stage2")
    for value, days, cut, rule in (
        ("hba1c_latest_percent", "days_since_hba1c", 6.5, "smi-med-hba1c-diabetes-range"),
        ("fasting_glucose_latest_mg_dl", "days_since_fasting_glucose", 126, "smi-med-fasting-glucose-diabetes-range"),
        ("glucose_latest_mg_dl", "days_since_glucose", 200, "smi-med-random-glucose-high"),
        ("ldl_latest_mg_dl", "days_since_ldl", 190, "smi-med-ldl-very-high"),
        ("triglycerides_latest_mg_dl", "days_since_triglycerides", 500, "smi-med-triglycerides-very-high"),
    ):
        if _ge(f[value], cut) and _recent(f, days):
            add(rule)
    if f["smoking_status"] in ("current_every_day", "current_some_days", "current") and _recent(
        f, "days_since_smoking_status"
    ):
        add("smi-med-current-smoker")

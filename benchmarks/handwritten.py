"""The benchmark's yardsticks: the bundled rules written by hand in plain Python.

:func:`rules` is every bundled rule as one function of prebuilt facts (same meaning as the
engine: a comparison with a missing fact, None, is false). :func:`pipeline` is the whole way
from one JSON text line to its alerts: the facts it needs computed here from the parsed JSON,
then :func:`rules`, then the alerts as plain dicts. The benchmark checks that both agree with
the engine on every patient before timing anything.
"""

from __future__ import annotations

import datetime as _dt
import hashlib as _hashlib
import json as _json
import re as _re
from pathlib import Path as _Path
from typing import Any

import yaml as _yaml

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
        for check, interval, rule in (
            ("bp", 365, "smi-med-bp-check-due"),
            ("glucose", 365, "smi-med-glucose-check-due"),
            ("lipid", 1826, "smi-med-lipid-check-due"),
        ):
            if _check_due(f, check, interval):
                add(rule)
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


class Unsupported(Exception):
    """Input the hand-written pipeline does not handle (it never guesses)."""


class M:
    """One measure, by hand: items, allowed answers, the items that make the total, how many
    may be missing (prorated), the total's range, the bands' lower ends, the yes/no items (also
    answered "yes"/"no", true/false), whether 0 records "not assessed", and the positive screen."""

    def __init__(
        self,
        name: str,
        label: str,
        highs: list[int],
        low: int,
        required: int,
        total_items: int,
        prorate: int,
        total_range: tuple[int, int] | None,
        lo: int = 0,
        bands: tuple[int, ...] = (),
        yes_no: tuple[int, ...] = (),
        zero_missing: bool = False,
        screen: Any = None,
    ) -> None:
        self.name, self.label, self.highs, self.low = name, label, highs, low
        self.n = len(highs)
        self.required = required  # the first `required` items are required (the rest optional)
        self.k, self.prorate, self.range, self.lo, self.bands = total_items, prorate, total_range, lo, bands
        self.yes_no, self.zero_missing, self.screen = frozenset(yes_no), zero_missing, screen


def _all(*xs: bool | None) -> bool | None:
    """Three-valued and."""
    unknown = False
    for x in xs:
        if x is False:
            return False
        if x is None:
            unknown = True
    return None if unknown else True


def _at_least(cut: int) -> Any:
    """A positive screen at or above ``cut`` (undetermined without a total)."""
    return lambda s, sex: None if s.total is None else s.total >= cut


def _mdq_screen(s: Any, sex: Any) -> bool | None:
    """MDQ: 7 or more symptoms, in the same period, causing a moderate or serious problem."""
    same, problem = s.vals[13], s.vals[14]
    return _all(
        None if s.total is None else s.total >= 7,
        None if same is None else same == 1,
        None if problem is None else problem in (2, 3),
    )


def _auditc_screen(s: Any, sex: Any) -> bool | None:
    """AUDIT-C: at or above the sex-specific cut-off (women 3, men 4)."""
    return None if s.total is None else s.total >= (3 if sex == "female" else 4)


_F3 = [3] * 9
MEASURES = {
    "phq9": M("phq9", "PHQ-9", [*_F3, 3], 0, 9, 9, 2, (0, 27), bands=(0, 5, 10, 15, 20)),
    "gad7": M("gad7", "GAD-7", [3] * 8, 0, 7, 7, 0, (0, 21), bands=(0, 5, 10, 15)),
    "pcl5": M("pcl5", "PCL-5", [4] * 20, 0, 20, 20, 0, (0, 80)),
    "asrm": M("asrm", "ASRM", [4] * 5, 0, 5, 5, 1, (0, 20), bands=(0, 6), screen=_at_least(6)),
    "whodas12": M("whodas12", "WHODAS 2.0 12-item", [5] * 12, 1, 12, 12, 0, (12, 60), lo=12),
    "ras": M("ras", "RAS-R", [5] * 24, 1, 24, 24, 0, (24, 120), lo=24),
    "auditc": M("auditc", "AUDIT-C", [4] * 3, 0, 3, 3, 0, (0, 12), screen=_auditc_screen),
    "psychosis_dimensions": M("psychosis_dimensions", "CRDPSS", [4] * 8, 0, 8, 0, 0, None),
    "phqa": M("phqa", "PHQ-A", [*_F3, 1, 3, 1, 1], 0, 9, 9, 0, (0, 27), bands=(0, 5, 10, 15, 20), yes_no=(9, 11, 12)),
    "cssrs_screener": M("cssrs_screener", "C-SSRS screener", [1] * 7, 0, 6, 0, 0, None, yes_no=tuple(range(7))),
    "phq2": M("phq2", "PHQ-2", [3, 3], 0, 2, 2, 0, (0, 6), bands=(0, 3), screen=_at_least(3)),
    "gad2": M("gad2", "GAD-2", [3, 3], 0, 2, 2, 0, (0, 6), bands=(0, 3), screen=_at_least(3)),
    "mdq": M("mdq", "MDQ", [*[1] * 14, 3], 0, 15, 13, 0, (0, 13), yes_no=tuple(range(14)), screen=_mdq_screen),
    "bprs": M("bprs", "BPRS", [7] * 18, 0, 18, 18, 0, (18, 126), lo=18, zero_missing=True),
}
#: Brief screens and the full instruments that complete them (PHQ-2: PHQ-9 or PHQ-A; GAD-2: GAD-7).
FULL_INSTRUMENTS = {"phq2": ("phq9", "phqa"), "gad2": ("gad7",)}
#: Measures with targets: remission below 5 and response at 50% (the measure files' targets).
TARGETS = ("phq9", "gad7", "phqa")
#: Measures whose total the consultant-review change is read for.
REVIEWED = ("phq9", "gad7", "pcl5", "phqa")
#: The CRDPSS items (their labels are their ids, spaced) and the scale value of "moderate".
DIMENSIONS = [
    *("hallucinations", "delusions", "disorganized speech", "abnormal psychomotor behavior"),
    *("negative symptoms", "impaired cognition", "depression", "mania"),
]
MODERATE = 3
#: Measures with safety items, in the library's order (the order of safety_missing_reason).
SAFETY_MEASURES = ("cssrs_screener", "phq9", "phqa")
PATIENT_KINDS = frozenset({"initial_assessment", "follow_up", "psychiatric_consultation", "other"})
STATUSES = frozenset({"active_treatment", "relapse_prevention_plan", "discharged", "inactive"})


class S:
    """One scored administration: the date, the answers (None unanswered), the total, whether
    it is valid, whether a reported total agrees, and the flags that concern safety."""

    __slots__ = ("agrees", "date", "level", "risk", "safety_missing", "total", "urgent", "valid", "vals", "why")

    def __init__(self, date: _dt.date) -> None:
        self.date = date
        self.vals: list[Any] | None = None  # None: the answers could not be scored (invalid)
        self.total: Any = None
        self.valid = False
        self.agrees: bool | None = None
        self.risk: bool | None = False  # suicide_risk flag (None: undetermined)
        self.urgent: bool | None = False
        self.level: str | None = None  # C-SSRS level
        self.safety_missing = False
        self.why: list[str] = []  # safety items missing (C-SSRS and PHQ-9/PHQ-A)


def _date(text: Any) -> _dt.date:
    if type(text) is not str or len(text) != 10:
        raise Unsupported(f"date {text!r}")
    return _dt.date.fromisoformat(text)


def _score(m: M, a: dict[str, Any], sex: Any, as_date: _dt.date) -> S:
    s = S(as_date)
    answers, reported = a.get("answers"), a.get("total")
    if type(answers) is not list or a.get("context"):
        raise Unsupported("answers that are not a list, or a context")
    n = len(answers)
    if not m.required <= n <= m.n:
        return s  # invalid: wrong number of answers
    low, highs = m.low, m.highs
    for i, (v, hi) in enumerate(zip(answers, highs, strict=False)):
        if v is not None and (type(v) is not int or not low <= v <= hi):
            v = _coded(m, i, v)
            if v is None or not low <= v <= hi:
                return s
            answers = [*answers[:i], v, *answers[i + 1 :]]
    if m.zero_missing and 0 in answers:
        answers = [None if v == 0 else v for v in answers]  # 0: not assessed
    if m.name == "auditc" and sex not in ("female", "male"):
        return s  # needs the patient's sex
    if reported is not None and (type(reported) not in (int, float) or not m.range[0] <= reported <= m.range[1]):  # type: ignore[index]
        return s
    vals = answers + [None] * (m.n - n) if n < m.n else answers
    s.vals = vals
    if m.name == "cssrs_screener":
        _cssrs(s, vals)
        return s
    k = m.k
    missing = [i for i in range(m.required) if vals[i] is None]
    if k:
        got = vals[:k]
        absent = got.count(None)
        if absent == 0:
            s.total = sum(got)
        elif absent <= m.prorate:
            raw = sum(v for v in got if v is not None) * k / (k - absent)
            s.total = int(raw) if raw.is_integer() else round(raw, 2)
        if reported is not None:
            if s.total is None:
                raise Unsupported("a reported total beside answers that give none")
            s.agrees = abs(s.total - reported) < 1e-9
        s.valid = s.total is not None and all(vals[i] is not None for i in range(k, m.required))
    else:
        s.valid = not missing
    if m.name == "phq9" or m.name == "phqa":
        i9 = vals[8]
        s.safety_missing = i9 is None
        if s.safety_missing:
            s.why = ["item9"]
        risk: bool | None = None if i9 is None else i9 >= 1
        if m.name == "phqa" and risk is not True and (vals[11] == 1 or vals[12] == 1):
            risk = True  # serious thoughts in the past month, or an attempt ever (optional items)
        s.risk = risk
    return s


def _coded(m: M, i: int, v: Any) -> int | None:
    """An answer that is not a plain int as its code: a whole float, or yes/no (true/false)
    for a yes/no item; None when it is no allowed code."""
    if type(v) is float and v.is_integer():
        return int(v)
    if i in m.yes_no:
        if type(v) is bool:
            return int(v)
        if type(v) is str:
            word = v.strip().lower()
            if word in ("yes", "y", "true"):
                return 1
            if word in ("no", "n", "false"):
                return 0
    return None


def _any(*xs: bool | None) -> bool | None:
    """Three-valued or."""
    unknown = False
    for x in xs:
        if x is True:
            return True
        if x is None:
            unknown = True
    return None if unknown else False


def _cssrs(s: S, v: list[Any]) -> None:
    """The C-SSRS screener: 3-5 asked after yes to 2, 6b after yes to 6; a question not asked
    is never a match, one asked and unanswered is unknown."""
    q1, q2, q3, q4, q5, q6, q6b = v
    not_asked = object()
    if q2 == 0:  # an unanswered question that was not asked
        q3, q4, q5 = (not_asked if x is None else x for x in (q3, q4, q5))
    if q6 == 0 and q6b is None:
        q6b = not_asked
    missing = [name for name, x in (("q1", q1), ("q2", q2), ("q6", q6)) if x is None]
    if q2 == 1:
        missing += [name for name, x in (("q3", q3), ("q4", q4), ("q5", q5)) if x is None]
    if q6 == 1 and q6b is None:
        missing.append("q6b")
    order = ("q1", "q2", "q3", "q4", "q5", "q6", "q6b")
    missing.sort(key=order.index)

    def yes(x: Any) -> bool | None:
        return None if x is None else (x is not not_asked and x == 1)

    def no(x: Any) -> bool | None:
        return None if x is None else (x is not not_asked and x == 0)

    s.valid = not missing
    s.safety_missing = bool(missing)
    s.why = missing
    s.risk = _any(yes(q1), yes(q2), yes(q3), yes(q4), yes(q5), yes(q6), yes(q6b))
    s.urgent = high = _any(yes(q4), yes(q5), yes(q6b))
    if high is True:
        s.level = "high"
        return
    if high is None:
        return
    both = yes(q6), no(q6b)
    six = False if False in both else None if None in both else True
    moderate = _any(yes(q3), six)
    if moderate is not False:
        s.level = "moderate" if moderate else None
        return
    low = _any(yes(q1), yes(q2))
    s.level = None if low is None else "low" if low else "none"


def _round(x: float) -> float:
    if isinstance(x, int) or x.is_integer():
        return int(x)
    return round(x, 4) + 0.0


def _concern(m: M, s: S) -> tuple[bool, bool, bool, int, int]:
    if s.vals is None:
        return (False, False, True, -1, 0)
    level = -1
    if m.name == "cssrs_screener":
        level = ("none", "low", "moderate", "high").index(s.level) if s.level else -1
    elif m.bands and s.total is not None:
        level = sum(1 for b in m.bands if s.total >= b) - 1
    safety = (s.vals[8] or 0) if m.name in ("phq9", "phqa") else 0
    if m.name == "phqa":
        safety += (s.vals[11] or 0) + (s.vals[12] or 0)
    elif m.name == "cssrs_screener":
        safety = sum(x or 0 for x in s.vals)
    return (s.urgent is True, s.risk is True, s.safety_missing, level, safety)


def _series(
    f: dict[str, Any], m: M, scored: list[S], last: S, as_of: _dt.date, review: _dt.date | None, sex: Any
) -> S | None:
    """The facts of one measure from its administrations (in date order, all scored; ``last``
    is the latest, of most concern among same-day ones; ``review`` the last consultant review).
    The latest valid administration."""
    name = m.name
    f[f"{name}.last_administered_date"] = last.date
    valid = [s for s in scored if s.valid]
    latest = valid[-1] if valid else None
    if latest is not None:
        f[f"{name}.latest_date"] = latest.date
        f[f"{name}.days_since_latest"] = (as_of - latest.date).days
    screen = m.screen
    if screen is not None:
        f[f"{name}.positive_screen"] = None if last.vals is None else screen(last, sex)
        if name == "asrm":
            f["asrm.positive_screen_weeks"] = _run_weeks(
                [(s.date, None if s.vals is None else screen(s, sex)) for s in scored]
            )
        elif name == "mdq":
            f["mdq.consultant_reviewed_since_latest"] = review is not None and review >= last.date
    if name == "psychosis_dimensions":
        _dimensions(f, scored, last)
        return latest
    if name == "cssrs_screener":
        f["cssrs_screener.level"] = last.level if last.vals is not None else None
        return latest
    if name in ("phq9", "phqa"):
        f[f"{name}.item9_latest"] = last.vals[8] if last.vals is not None else None
        if name == "phqa":
            f["phqa.suicide_risk"] = last.risk if last.vals is not None else None
    if latest is None:
        return latest
    total = latest.total
    f[f"{name}.latest"] = total
    base = valid[0].total
    f[f"{name}.baseline"] = base
    targets = name in TARGETS
    if targets:
        f[f"{name}.remission"] = total < 5
        f[f"{name}.remission_weeks"] = _run(valid, lambda t: t < 5)
        f[f"{name}.response_weeks"] = _run(valid, lambda t: base > 0 and t <= 0.5 * base)
    if review is not None and name in REVIEWED:
        known = next((s for s in reversed(valid) if s.date <= review), None)
        if known is not None:
            f[f"{name}.change_since_consultant_review"] = _round(total - known.total)
    if len(valid) < 2:
        return latest
    prev = valid[-2]
    f[f"{name}.previous"] = prev.total
    f[f"{name}.previous_date"] = prev.date
    f[f"{name}.change_from_previous"] = _round(total - prev.total)
    if name == "pcl5":
        f["pcl5.change"] = _round(total - base)
    elif name == "bprs":
        floor = prev.total - m.lo
        f["bprs.pct_change_from_previous"] = _round((total - prev.total) / floor) if floor else None
    elif targets:
        f[f"{name}.pct_reduction"] = _round((base - total) / base) if base else None
        f[f"{name}.response"] = total <= 0.5 * base if base > 0 else None
    return latest


def _run_weeks(points: list[tuple[_dt.date, bool | None]]) -> int | None:
    """Whole weeks of the run of True at the end of ``points`` (None: undetermined, skipped);
    0 when the latest determined point does not hold; None when none is determined."""
    latest = start = None
    for date, holds in reversed(points):
        if holds is None:
            continue
        if latest is None:
            if not holds:
                return 0
            latest = date
        elif not holds:
            break
        start = date
    if latest is None or start is None:
        return None
    return (latest - start).days // 7


def _dimensions(f: dict[str, Any], scored: list[S], last: S) -> None:
    """The CRDPSS: the latest ratings, the items rated higher than last time, and how long
    items have stayed at or above moderate."""
    f["psychosis_dimensions.hallucinations_latest"] = last.vals[0] if last.vals else None
    f["psychosis_dimensions.delusions_latest"] = last.vals[1] if last.vals else None
    read = [s for s in scored if s.vals is not None]
    if len(read) > 1:
        f["psychosis_dimensions.items_worsened"] = sum(
            1 for a, b in zip(read[-1].vals, read[-2].vals, strict=True) if a is not None and b is not None and a > b
        )
    if not read:
        return
    runs = []
    for i, label in enumerate(DIMENSIONS):
        now = read[-1].vals[i]
        if now is None:
            continue
        weeks = _run_weeks([(s.date, None if (r := s.vals[i]) is None else r >= MODERATE) for s in read])
        runs.append((label, now >= MODERATE, weeks))
    known = [w for _, _, w in runs if w is not None]
    f["psychosis_dimensions.weeks_at_or_above_moderate"] = max(known) if known else None
    listed = [f"{label} {w} week{'' if w == 1 else 's'}" for label, now, w in runs if now]
    f["psychosis_dimensions.items_at_or_above_moderate"] = ", ".join(listed) or None


def _run(valid: list[S], ok: Any) -> int:
    """Whole weeks the current run of valid administrations meeting ``ok`` has lasted (the
    baseline itself ends the walk back)."""
    start = None
    for s in reversed(valid):
        if (s is valid[0] and start is not None) or not ok(s.total):
            break
        start = s.date
    return 0 if start is None else (valid[-1].date - start).days // 7


def _lost(events: list[tuple[_dt.date, str, Any]], kind: str, good: str, as_of: _dt.date) -> int | None:
    prev = lost = None
    for d, k, status in events:
        if k != kind:
            continue
        if prev == good and status != good:
            lost = d
        elif status == good:
            lost = None
        prev = status
    return None if lost is None else (as_of - lost).days


def _phrase(label: str, ids: list[str], what: str) -> str:
    names = [i.removeprefix("item") if i.removeprefix("item").isdigit() else i for i in ids]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{label} item{'s' if len(names) > 1 else ''} {listed} {'were' if len(names) > 1 else 'was'} {what}"


ITEM_IDS = {
    "phq9": [f"item{i}" for i in range(1, 11)],
    "phqa": [*(f"item{i}" for i in range(1, 10)), "past_year_depressed", "difficulty", "serious", "attempt"],
    "cssrs_screener": ["q1", "q2", "q3", "q4", "q5", "q6", "q6b"],
}


def _why(m: M, last: S, sent: int) -> str:
    when = last.date.isoformat()
    if last.vals is None:
        return f"the {m.label} of {when} could not be scored (an invalid answer)"
    ids = ITEM_IDS[m.name]
    given = set(ids[:sent])
    parts = [
        _phrase(m.label, names, what)
        for names, what in (
            ([i for i in last.why if i not in given], "not sent"),
            ([i for i in last.why if i in given], "left unanswered"),
        )
        if names
    ]
    return f"{'; '.join(parts)} ({when})"


#: Every fact the rules and their messages read, missing (None) until computed.
FACT_NAMES: tuple[str, ...] = ()  # filled in below, from the rulesets


def facts(d: dict[str, Any], as_of: _dt.date) -> dict[str, Any]:
    """The facts of one parsed episode as of ``as_of`` (every name in FACT_NAMES; the names in
    NOT_COMPUTED are None)."""
    f = dict.fromkeys(FACT_NAMES + NOT_COMPUTED)
    status = d["status"]
    if status not in STATUSES or d.get("set_aside"):
        raise Unsupported("status or records set aside")
    f["status"] = status
    f["program"] = d["program"]
    enrolled = _date(d["enrollment_date"])
    f["enrollment_date"] = enrolled
    f["days_since_enrollment"] = (as_of - enrolled).days
    # contacts, in date order
    contacts = sorted(
        [
            (c_date, c["kind"], c.get("minutes"), c.get("role"))
            for c in d.get("contacts", ())
            if (c_date := _date(c["date"])) <= as_of
        ],
        key=lambda c: c[0],
    )
    initial = last = review = None
    follow_ups = minutes = 0
    month_start = as_of.replace(day=1)
    month_minutes: dict[Any, int] = {}
    for c_date, kind, c_minutes, role in contacts:
        if kind == "initial_assessment" and initial is None:
            initial = c_date
        if kind in PATIENT_KINDS:
            last = c_date
        if kind == "follow_up":
            follow_ups += 1
        elif kind == "psychiatric_consultation" or kind == "case_review":
            review = c_date
        if c_date >= month_start and c_minutes:
            minutes += c_minutes
            month_minutes[role] = month_minutes.get(role, 0) + c_minutes
    f["has_initial_assessment"] = initial is not None
    if initial is not None:
        f["days_since_initial_assessment"] = days = (as_of - initial).days
        f["weeks_in_treatment"] = days // 7
    if last is not None:
        f["last_contact_date"] = last
        f["days_since_last_contact"] = (as_of - last).days
    f["follow_up_contacts"] = follow_ups
    if review is not None:
        f["days_since_consultant_review"] = (as_of - review).days
    f["minutes_this_month"] = minutes
    if contacts:
        first = contacts[0][0]
        f["cocm_month"] = (as_of.year - first.year) * 12 + as_of.month - first.month + 1
    plan = d.get("relapse_prevention_plan_date")
    if plan is not None and _date(plan) <= as_of:
        f["relapse_prevention_plan_date"] = _date(plan)
    f["has_relapse_prevention_plan"] = f["relapse_prevention_plan_date"] is not None
    pending = []
    for r in d.get("recommendations", ()):
        r_date = _date(r["date"])
        resolved = r.get("resolved_date")
        if r_date <= as_of and (r["status"] == "pending" or (resolved is not None and _date(resolved) > as_of)):
            pending.append(r_date)
    f["pending_recommendations"] = len(pending)
    if pending:
        f["days_since_oldest_pending_recommendation"] = (as_of - min(pending)).days
    _billing(f, d, month_minutes, as_of)
    _smi(f, d, as_of)
    _medical(f, d, as_of)
    _measures(f, d, as_of, review)
    f["set_aside_count"] = 0
    return f


#: CPT descriptors (the engine's billing facts say the same): 99492 covers the first 70 minutes
#: of the first CoCM month, 99493 the first 60 of a later month, 99494 each further 30, a unit
#: counting from 16 minutes.
BASE_MINUTES = (70, 60)
UNIT_MINUTES, UNIT_REACHED = 30, 16


def _billing(f: dict[str, Any], d: dict[str, Any], month_minutes: dict[Any, int], as_of: _dt.date) -> None:
    """The CoCM billing facts: care-manager minutes this month, minutes without a role, the
    99494 units, consent and general BHI (99484) billed this month."""
    bhcm = month_minutes.get("care_manager", 0)
    f["bhcm_minutes_this_month"] = bhcm
    f["minutes_without_role_this_month"] = month_minutes.get(None, 0)
    month = f["cocm_month"]
    if month is not None:
        beyond = bhcm - BASE_MINUTES[month != 1]
        whole, rest = divmod(beyond, UNIT_MINUTES)
        f["cocm_99494_units_this_month"] = 0 if beyond < UNIT_REACHED else whole + (rest >= UNIT_REACHED)
    consent = d.get("consent_date")
    f["has_consent"] = consent is not None and _date(consent) <= as_of
    f["general_bhi_billed_this_month"] = any(
        s["code"] == "99484" and (b := _date(s["date"])) <= as_of and (b.year, b.month) == (as_of.year, as_of.month)
        for s in d.get("billed_services", ())
    )


#: Each numeric kind of observation: its fact stem, its unit in the fact's name, and the
#: factor from each accepted UCUM unit to the fact's unit (HbA1c in mmol/mol: the IFCC-NGSP
#: master equation, below).
OBSERVED: dict[str, tuple[str, str, dict[str, float]]] = {
    "body_weight": ("weight", "kg", {"kg": 1, "g": 0.001, "[lb_av]": 0.45359237}),
    "bmi": ("bmi", "kg_m2", {"kg/m2": 1}),
    "systolic_bp": ("systolic_bp", "mm_hg", {"mm[Hg]": 1}),
    "diastolic_bp": ("diastolic_bp", "mm_hg", {"mm[Hg]": 1}),
    "hba1c": ("hba1c", "percent", {"%": 1}),
    **{
        kind: (kind, "mg_dl", {"mg/dL": 1, "mg/dl": 1, "mmol/L": factor, "mmol/l": factor})
        for kind, factor in (
            ("glucose", 18.016),
            ("fasting_glucose", 18.016),
            ("ldl", 38.67),
            ("total_cholesterol", 38.67),
            ("hdl", 38.67),
            ("triglycerides", 88.57),
        )
    },
}
CHECK_KINDS = {
    "weight": ("body_weight", "bmi"),
    "bp": ("systolic_bp", "diastolic_bp"),
    "glucose": ("fasting_glucose", "glucose", "hba1c"),
    "lipid": ("ldl", "total_cholesterol", "hdl", "triglycerides"),
}


def _in_unit(o: dict[str, Any]) -> Any:
    kind, value, unit = o["kind"], o["value"], o["unit"]
    if kind == "hba1c" and unit == "mmol/mol":
        return _round(0.09148 * value + 2.152)
    factors = OBSERVED[kind][2]
    if unit not in factors or type(value) not in (int, float) or not 0 < value < float("inf"):
        raise Unsupported(f"observation {kind} {unit!r}")
    return _round(value * factors[unit])


def _medical(f: dict[str, Any], d: dict[str, Any], as_of: _dt.date) -> None:
    """The latest vital signs, laboratory results and smoking status, and the metabolic
    monitoring of the current antipsychotic treatment."""
    latest: dict[str, tuple[_dt.date, dict[str, Any]]] = {}
    weights: list[tuple[_dt.date, dict[str, Any]]] = []
    for o in sorted(
        ((o_date, i, o) for i, o in enumerate(d.get("observations", ())) if (o_date := _date(o["date"])) <= as_of),
        key=lambda e: e[:2],
    ):
        latest[o[2]["kind"]] = (o[0], o[2])
        if o[2]["kind"] == "body_weight":
            weights.append((o[0], o[2]))
    for kind, (stem, unit, _) in OBSERVED.items():
        if kind in latest:
            o_date, o = latest[kind]
            f[f"{stem}_latest_{unit}"] = _in_unit(o)
            f[f"{stem}_latest_date"] = o_date
            f[f"days_since_{stem}"] = (as_of - o_date).days
    if "smoking_status" in latest:
        o_date, o = latest["smoking_status"]
        f["smoking_status"] = o["status"]
        f["smoking_status_date"] = o_date
        f["days_since_smoking_status"] = (as_of - o_date).days
    starts = []
    for m in d.get("medications", ()):
        start, stop = _date(m["start_date"]), m.get("stop_date")
        if m["kind"] == "antipsychotic" and start <= as_of and (stop is None or _date(stop) > as_of):
            starts.append(start)
    start = max(starts) if starts else None
    f["on_antipsychotic"] = start is not None
    checked = {}
    for check, kinds in CHECK_KINDS.items():
        dates = [latest[k][0] for k in kinds if k in latest]
        if dates:
            checked[check] = max(dates)
            f[f"days_since_{check}_check"] = (as_of - checked[check]).days
    if start is None:
        return
    f["antipsychotic_start_date"] = start
    f["weeks_on_antipsychotic"] = (as_of - start).days // 7
    for check in ("bp", "glucose", "lipid"):
        if check in checked:
            f[f"{check}_check_days_from_antipsychotic_start"] = (checked[check] - start).days
    if weights:
        before = [w for w in weights if w[0] <= start]
        ref = before[-1] if before else weights[0]
        f["weight_at_antipsychotic_start_kg"] = base = _in_unit(ref[1])
        f["weight_at_antipsychotic_start_date"] = ref[0]
        if ref[1] is not weights[-1][1]:
            f["weight_pct_gain_on_antipsychotic"] = _round((_in_unit(weights[-1][1]) - base) / base)


def _smi(f: dict[str, Any], d: dict[str, Any], as_of: _dt.date) -> None:
    events = sorted(
        [
            (e_date, e["kind"], e.get("status"))
            for e in d.get("smi_events", ())
            if (e_date := _date(e["date"])) <= as_of
        ],
        key=lambda e: e[0],
    )
    hospital = ed = 0
    for e_date, kind, status in events:
        days = (as_of - e_date).days
        if kind == "hospitalization":
            hospital += days < 90
            f["days_since_last_hospitalization"] = days
        elif kind == "ed_visit":
            ed += days < 90
            f["days_since_last_ed_visit"] = days
        else:
            f[f"{kind}_status"] = status
    f["hospitalizations_last_90d"] = hospital
    f["ed_visits_last_90d"] = ed
    for kind, good in (("housing", "stable"), ("employment", "employed"), ("education", "enrolled")):
        f[f"days_since_{kind}_lost"] = _lost(events, kind, good, as_of)


def _measures(f: dict[str, Any], d: dict[str, Any], as_of: _dt.date, review: _dt.date | None) -> None:
    by: dict[str, list[tuple[_dt.date, dict[str, Any]]]] = {}
    for a in d.get("assessments", ()):
        a_date = _date(a["date"])
        if a_date <= as_of:
            by.setdefault(a["measure"], []).append((a_date, a))
    sex = d.get("sex")
    invalid = []
    why: dict[str, str] = {}
    mismatch = 0
    newest = None
    latest_valid: dict[str, _dt.date] = {}
    screens: list[tuple[str, _dt.date]] = []
    for name, entries in by.items():
        m = MEASURES.get(name)
        if m is None:
            raise Unsupported(f"measure {name!r}")
        entries.sort(key=lambda e: e[0])
        scored = [_score(m, a, sex, a_date) for a_date, a in entries]
        k = len(scored) - 1
        if k and scored[k - 1].date == scored[k].date:  # same day: the one of most concern counts
            k = max(
                reversed([j for j, s in enumerate(scored) if s.date == scored[-1].date]),
                key=lambda j: _concern(m, scored[j]),
            )
        last = scored[k]
        latest = _series(f, m, scored, last, as_of, review, sex)
        if latest is not None:
            latest_valid[name] = latest.date
        if name in FULL_INSTRUMENTS:
            screens.append((name, last.date))
        if newest is None or entries[-1][0] > newest:
            newest = entries[-1][0]
        if last.vals is None:
            invalid.append(name)
        elif last.agrees is False:
            mismatch += 1
        if name in SAFETY_MEASURES and (last.vals is None or last.safety_missing):
            answers = entries[k][1].get("answers")
            why[name] = _why(m, last, len(answers) if isinstance(answers, list) else 0)
    for name, screened in screens:  # the full instrument on or after the screen's day
        f[f"{name}.followed_by_full_instrument"] = any(
            full in latest_valid and latest_valid[full] >= screened for full in FULL_INSTRUMENTS[name]
        )
    reasons = [why[name] for name in SAFETY_MEASURES if name in why]
    f["safety_item_missing"] = bool(reasons)
    f["safety_missing_reason"] = "; ".join(reasons) or None
    f["measures_latest_invalid"] = len(invalid)
    f["measures_latest_invalid_names"] = ", ".join(sorted(invalid)) or None
    f["measures_total_mismatch"] = mismatch
    f["days_since_last_assessment"] = None if newest is None else (as_of - newest).days


FACT_NAMES = (
    *("status", "enrollment_date", "days_since_enrollment", "has_initial_assessment", "weeks_in_treatment"),
    *("days_since_initial_assessment", "last_contact_date", "days_since_last_contact", "follow_up_contacts"),
    *("days_since_consultant_review", "minutes_this_month", "cocm_month", "has_relapse_prevention_plan"),
    *("pending_recommendations", "days_since_oldest_pending_recommendation"),
    *("hospitalizations_last_90d", "ed_visits_last_90d", "days_since_last_hospitalization"),
    *("days_since_last_ed_visit", "housing_status", "employment_status", "education_status"),
    *("days_since_housing_lost", "days_since_employment_lost", "days_since_education_lost"),
    *("safety_item_missing", "safety_missing_reason", "measures_latest_invalid", "measures_latest_invalid_names"),
    *("measures_total_mismatch", "set_aside_count", "set_aside_reasons", "days_since_last_assessment"),
    *(f"{m}.{s}" for m in ("phq9", "gad7", "pcl5", "whodas12", "ras") for s in ("latest", "latest_date", "previous")),
    *(
        f"{m}.{s}"
        for m in ("phq9", "gad7", "pcl5", "whodas12", "ras")
        for s in ("previous_date", "change_from_previous")
    ),
    *(f"{m}.{s}" for m in ("phq9", "gad7", "pcl5") for s in ("baseline", "days_since_latest")),
    *(f"{m}.{s}" for m in ("phq9", "gad7") for s in ("pct_reduction", "response", "remission")),
    *("phq9.remission_weeks", "phq9.response_weeks", "phq9.item9_latest", "phq9.last_administered_date"),
    *("pcl5.change", "asrm.latest", "asrm.latest_date", "asrm.positive_screen"),
    *("cssrs_screener.level", "cssrs_screener.last_administered_date"),
    *("phqa.item9_latest", "phqa.last_administered_date", "phqa.suicide_risk"),
    *("psychosis_dimensions.delusions_latest", "psychosis_dimensions.hallucinations_latest"),
    *("psychosis_dimensions.items_worsened", "psychosis_dimensions.last_administered_date"),
    *("program", "relapse_prevention_plan_date", "bhcm_minutes_this_month", "minutes_without_role_this_month"),
    *("cocm_99494_units_this_month", "has_consent", "general_bhi_billed_this_month"),
    *(f"{stem}_latest_{unit}" for stem, unit, _ in OBSERVED.values()),
    *(f"{stem}_latest_date" for stem, _, _ in OBSERVED.values()),
    *(f"days_since_{stem}" for stem, _, _ in OBSERVED.values()),
    *("smoking_status", "smoking_status_date", "days_since_smoking_status", "on_antipsychotic"),
    *("antipsychotic_start_date", "weeks_on_antipsychotic", *(f"days_since_{c}_check" for c in CHECK_KINDS)),
    *(f"{c}_check_days_from_antipsychotic_start" for c in ("bp", "glucose", "lipid")),
    *("weight_at_antipsychotic_start_kg", "weight_at_antipsychotic_start_date", "weight_pct_gain_on_antipsychotic"),
    *(f"phqa.{s}" for s in ("latest", "latest_date", "previous", "previous_date", "change_from_previous")),
    *(f"phqa.{s}" for s in ("baseline", "days_since_latest", "pct_reduction", "response", "remission")),
    *(f"{m}.change_since_consultant_review" for m in ("phq9", "gad7", "pcl5", "phqa")),
    "gad7.remission_weeks",
    *(f"{m}.{s}" for m in ("phq2", "gad2") for s in ("latest", "last_administered_date", "positive_screen")),
    *("phq2.followed_by_full_instrument", "gad2.followed_by_full_instrument"),
    *("mdq.latest", "mdq.last_administered_date", "mdq.positive_screen", "mdq.consultant_reviewed_since_latest"),
    *("auditc.latest", "auditc.latest_date", "auditc.days_since_latest", "auditc.positive_screen"),
    *(f"bprs.{s}" for s in ("latest", "latest_date", "previous", "previous_date", "baseline", "days_since_latest")),
    "bprs.pct_change_from_previous",
    *(f"psychosis_dimensions.{s}" for s in ("latest_date", "days_since_latest", "items_at_or_above_moderate")),
    "psychosis_dimensions.weeks_at_or_above_moderate",
    *("asrm.positive_screen_weeks", "whodas12.days_since_latest", "ras.days_since_latest"),
)
#: Facts the rules read that :func:`facts` does not compute yet (always None here): the rules
#: that read one are left out of the end-to-end comparison, and the benchmark names them.
NOT_COMPUTED: tuple[str, ...] = ()
_FACT_SET = frozenset(FACT_NAMES)
_NAME = _re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_PLACEHOLDER = _re.compile(r"\{([^{}:]+)(?::([^{}]*))?\}")
_SEVERITY = {"info": 0, "low": 1, "moderate": 2, "high": 3, "critical": 4}


def _names(when: Any) -> list[str]:
    """The facts a condition reads, in first-use order."""
    if isinstance(when, str):
        return [t for t in _NAME.findall(when) if t in _FACT_SET]
    items = when.values() if isinstance(when, dict) else when
    return [n for item in items for n in _names(item)]


_ROOT = _Path(__file__).resolve().parent.parent


def _measure_ids() -> tuple[frozenset[str], tuple[str, ...]]:
    """Every measure id (a fact "<id>.<name>" is a fact of that measure) and the ids of the
    measures with a safety item, read once from measures/*.yaml."""
    docs = [_yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted((_ROOT / "measures").glob("*.yaml"))]
    safety = tuple(m["id"] for m in docs if any(i.get("safety") for i in m.get("items") or ()))
    return frozenset(m["id"] for m in docs), safety


_MEASURE_IDS, _SAFETY_IDS = _measure_ids()
_SAFETY_EPISODE = frozenset({"suicide_risk", "urgent_suicide_risk", "safety_item_missing", "safety_missing_reason"})
_ELAPSED = _re.compile(r"(^|\.)(weeks_in_treatment$|.*_last_\d+d$)")
_MONTH = _re.compile(r"(_this_month$|^cocm_month$)")
_SINCE = _re.compile(r"(^|\.)days_since_")


def _identity_plan(names: list[str]) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """What an alert's identity hashes besides the patient and the rule, from the names of the
    facts its rule reads: (facts that count by their value, days_since_* facts that count as
    the date they count from, whether the calendar month counts). A measure's facts count by
    the date of its latest administration; elapsed-time facts do not count."""
    values: list[str] = []
    since: list[str] = []
    month = False
    measures: list[str] = []
    for name in names:
        prefix = name.partition(".")[0] if "." in name else None
        if name.endswith("_date"):
            values.append(name)
        elif _SINCE.search(name):
            since.append(name)
        elif _MONTH.search(name):
            month = True
        elif _ELAPSED.search(name):
            continue
        elif prefix in _MEASURE_IDS:
            measures.append(prefix)
        else:
            values.append(name)
            if name in _SAFETY_EPISODE:
                measures += _SAFETY_IDS
    values += (f"{m}.last_administered_date" for m in dict.fromkeys(measures))
    return tuple(dict.fromkeys(values)), tuple(since), month


def _load_meta() -> dict[str, dict[str, Any]]:
    """Each rule's alert as data: read once from rulesets/*.yaml (not per patient)."""
    meta = {}
    for path in sorted((_ROOT / "rulesets").glob("*.yaml")):
        rs = _yaml.safe_load(path.read_text(encoding="utf-8"))
        params = {k: v["value"] for k, v in (rs.get("parameters") or {}).items()}
        for rule in rs["rules"]:
            then = rule["then"]
            parts: list[tuple[str, str | None, str, bool]] = []  # (text, name, format, is a parameter)
            text, pos = then["message"], 0
            for match in _PLACEHOLDER.finditer(text):
                parts.append((text[pos : match.start()], None, "", False))
                name = match.group(1).strip()
                parts.append(("", name, match.group(2) or "", name in params))
                pos = match.end()
            parts.append((text[pos:], None, "", False))
            evidence = list(dict.fromkeys(_names(rule["when"])))
            read = [*evidence, *(name for _, name, _, is_param in parts if name is not None and not is_param)]
            meta[rule["id"]] = {
                "ruleset": rs["ruleset"],
                "category": then["category"],
                "severity": then["severity"],
                "priority": then["priority"],
                "parts": parts,
                "params": params,
                "evidence": evidence,
                "identity": _identity_plan(list(dict.fromkeys(read))),
                "key": (
                    then["category"] != "suicide_risk",
                    -then["priority"],
                    -_SEVERITY[then["severity"]],
                    rule["id"],
                ),
            }
    return meta


META = _load_meta()


def _fmt(value: Any, spec: str) -> str:
    if value is None:
        return "unknown"
    if spec:
        try:
            return format(value, spec)
        except (ValueError, TypeError):
            return str(value)
    if value is True or value is False:
        return "yes" if value else "no"
    if type(value) is float and value.is_integer():
        return str(int(value))
    if type(value) is _dt.date:
        return value.isoformat()
    return str(value)


def _identity(patient_id: str, rule_id: str, plan: Any, f: dict[str, Any], as_of: _dt.date) -> str:
    """The alert's stable id: 20 hex digits of a SHA-256 of the patient id, the rule id and the
    evidence identity (see :func:`_identity_plan`) as JSON text with sorted keys."""
    values, since, month = plan
    evidence: dict[str, Any] = {}
    for name in values:
        v = f.get(name)
        evidence[name] = v.isoformat() if type(v) is _dt.date else v
    for name in since:
        days = f.get(name)
        evidence[name.replace("days_since_", "date_of_")] = (
            None if days is None else (as_of - _dt.timedelta(days=days)).isoformat()
        )
    if month:
        evidence["month"] = f"{as_of.year:04d}-{as_of.month:02d}"
    return _hashlib.sha256(_IDENTITY_JSON([patient_id, rule_id, evidence]).encode()).hexdigest()[:20]


#: One encoder, built once (``json.dumps`` with these options would build one per call).
_IDENTITY_JSON = _json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def alerts(f: dict[str, Any], as_of: _dt.date, patient_id: str) -> list[dict[str, Any]]:
    """The alerts of the rules that fire on ``f``, as plain dicts, in review order."""
    out = []
    for rule_id in rules(f):
        m = META[rule_id]
        params = m["params"]
        text = "".join(
            t if name is None else _fmt(params.get(name) if is_param else f[name], spec)
            for t, name, spec, is_param in m["parts"]
        )
        out.append(
            {
                "rule_id": rule_id,
                "category": m["category"],
                "severity": m["severity"],
                "priority": m["priority"],
                "message": " ".join(text.split()),
                "evidence": {n: f[n] for n in m["evidence"]},
                "alert_id": _identity(patient_id, rule_id, m["identity"], f, as_of),
                "_key": m["key"],
            }
        )
    out.sort(key=lambda a: a["_key"])
    for a in out:
        del a["_key"]
    return out


def pipeline(line: str, as_of: _dt.date) -> list[dict[str, Any]]:
    """One JSON text line to its alerts: parse, check and score, facts, rules, alerts."""
    d = _json.loads(line)
    return alerts(facts(d, as_of), as_of, d.get("patient_id") or "")


def _rule_ids() -> frozenset[str]:
    """The rule ids :func:`rules` can fire (read from this module's source: each
    ``add("...")`` of :func:`rules` and the helpers it calls, and each rule id that ends a
    row of a table a helper adds from, such as ``("ras.days_since_latest", 90, "smi-ras-overdue")``)."""
    source = _Path(__file__).read_text(encoding="utf-8")
    listed = _re.findall(r', "([a-z0-9]+(?:-[a-z0-9]+)+)"\)', source)
    return frozenset(_re.findall(r'add\("([a-z0-9-]+)"\)', source) + listed)


#: Every rule this yardstick knows: a bundled rule not in it makes the benchmark stop.
RULE_IDS = _rule_ids()

"""Worked examples for :func:`cocm_rules.score`, written from ``shared/reference/measures.md``.

These do not reuse the ``examples:`` of the measure files: every cut-off, band and rule below
is typed in from the clinical reference (section numbers in the docstrings), so a wrong
definition file and a wrong scorer cannot agree with each other by accident.
"""

from __future__ import annotations

from typing import Any

import pytest

from cocm_rules import CocmRulesError, InvalidInput, Score, score

# -- helpers ------------------------------------------------------------------------------------


def spread(total: int, n_items: int, lowest: int, highest: int) -> list[int]:
    """``n_items`` answers between ``lowest`` and ``highest`` that add up to ``total``."""
    answers = [lowest] * n_items
    rest = total - lowest * n_items
    for i in range(n_items):
        step = min(highest - lowest, rest)
        answers[i] += step
        rest -= step
    assert rest == 0, "total out of reach"
    assert total == sum(answers)
    return answers


def error_of(measure_id: str, answers: Any = None, **kwargs: Any) -> InvalidInput:
    """The InvalidInput raised by scoring (fails the test if nothing is raised)."""
    with pytest.raises(InvalidInput) as caught:
        score(measure_id, answers, **kwargs)
    return caught.value


# -- bands and cut-offs (reference §1, §2, §3, §4, §8.1) ----------------------------------------

# (measure, items, lowest, highest item value, total, band, positive screen at default cut-off)
BAND_CASES = [
    # PHQ-9 §1: minimal 0-4, mild 5-9, moderate 10-14, moderately severe 15-19, severe 20-27; >= 10.
    ("phq9", 9, 0, 3, 0, "minimal", False),
    ("phq9", 9, 0, 3, 4, "minimal", False),
    ("phq9", 9, 0, 3, 5, "mild", False),
    ("phq9", 9, 0, 3, 9, "mild", False),
    ("phq9", 9, 0, 3, 10, "moderate", True),
    ("phq9", 9, 0, 3, 14, "moderate", True),
    ("phq9", 9, 0, 3, 15, "moderately_severe", True),
    ("phq9", 9, 0, 3, 19, "moderately_severe", True),
    ("phq9", 9, 0, 3, 20, "severe", True),
    ("phq9", 9, 0, 3, 27, "severe", True),
    # PHQ-A §3: the adult cut-points 5/10/15/20; adolescent major depression at >= 11.
    ("phqa", 9, 0, 3, 0, "minimal", False),
    ("phqa", 9, 0, 3, 4, "minimal", False),
    ("phqa", 9, 0, 3, 5, "mild", False),
    ("phqa", 9, 0, 3, 9, "mild", False),
    ("phqa", 9, 0, 3, 10, "moderate", False),
    ("phqa", 9, 0, 3, 11, "moderate", True),
    ("phqa", 9, 0, 3, 14, "moderate", True),
    ("phqa", 9, 0, 3, 15, "moderately_severe", True),
    ("phqa", 9, 0, 3, 19, "moderately_severe", True),
    ("phqa", 9, 0, 3, 20, "severe", True),
    ("phqa", 9, 0, 3, 27, "severe", True),
    # GAD-7 §4: minimal 0-4, mild 5-9, moderate 10-14, severe 15-21; >= 10.
    ("gad7", 7, 0, 3, 0, "minimal", False),
    ("gad7", 7, 0, 3, 4, "minimal", False),
    ("gad7", 7, 0, 3, 5, "mild", False),
    ("gad7", 7, 0, 3, 9, "mild", False),
    ("gad7", 7, 0, 3, 10, "moderate", True),
    ("gad7", 7, 0, 3, 14, "moderate", True),
    ("gad7", 7, 0, 3, 15, "severe", True),
    ("gad7", 7, 0, 3, 21, "severe", True),
    # PHQ-2 §2 and GAD-2 §4: negative 0-2, positive 3-6; >= 3.
    ("phq2", 2, 0, 3, 0, "negative", False),
    ("phq2", 2, 0, 3, 2, "negative", False),
    ("phq2", 2, 0, 3, 3, "positive", True),
    ("phq2", 2, 0, 3, 6, "positive", True),
    ("gad2", 2, 0, 3, 0, "negative", False),
    ("gad2", 2, 0, 3, 2, "negative", False),
    ("gad2", 2, 0, 3, 3, "positive", True),
    ("gad2", 2, 0, 3, 6, "positive", True),
    # ASRM §8.1: negative 0-5, positive 6-20; >= 6.
    ("asrm", 5, 0, 4, 0, "negative", False),
    ("asrm", 5, 0, 4, 5, "negative", False),
    ("asrm", 5, 0, 4, 6, "positive", True),
    ("asrm", 5, 0, 4, 20, "positive", True),
]


@pytest.mark.parametrize(
    ("measure_id", "n_items", "lowest", "highest", "total", "band", "positive"),
    BAND_CASES,
    ids=[f"{c[0]}-{c[4]}-{c[5]}" for c in BAND_CASES],
)
def test_band_boundaries(
    measure_id: str, n_items: int, lowest: int, highest: int, total: int, band: str, positive: bool
) -> None:
    """Each band's lowest and highest total falls in that band; the screen flips at the cut-off."""
    result = score(measure_id, spread(total, n_items, lowest, highest))
    assert (total, band, positive) == (result.total, result.band, result.positive_screen)
    assert result.valid
    assert result.complete


@pytest.mark.parametrize(
    ("measure_id", "answers", "cut_point", "positive"),
    [
        ("phq2", [1, 1], 2, True),  # §2: >= 2 raises sensitivity (Arroll 2010)
        ("phq2", [1, 0], 2, False),
        ("gad7", [2, 2, 2, 2, 0, 0, 0], 8, True),  # §4: >= 8 sometimes used for any anxiety disorder
        ("gad7", [2, 2, 2, 1, 0, 0, 0], 8, False),
    ],
)
def test_documented_alternative_cut_points(measure_id: str, answers: list[int], cut_point: int, positive: bool) -> None:
    """The alternative cut-offs the reference documents can be chosen per call."""
    assert positive == score(measure_id, answers, cut_point=cut_point).positive_screen
    assert not score(measure_id, answers).positive_screen  # below the default cut-off


# -- PHQ-9 (reference §1) -------------------------------------------------------------------------


def test_phq9_item9_alone_flags_suicide_risk() -> None:
    """§1: item 9 >= 1 flags suicide risk regardless of the total, even a total of 1."""
    result = score("phq9", [0, 0, 0, 0, 0, 0, 0, 0, 1])
    assert (1, "minimal", ["suicide_risk"]) == (result.total, result.band, result.flags)


@pytest.mark.parametrize("item9", [1, 2, 3])
def test_phq9_any_item9_frequency_flags_suicide_risk(item9: int) -> None:
    """§1: 'several days' is enough; a higher frequency flags as well."""
    assert "suicide_risk" in score("phq9", {"item9": item9, **{f"item{i}": 0 for i in range(1, 9)}}).flags


def test_phq9_severe_total_without_item9_does_not_flag_suicide_risk() -> None:
    """§1: the flag follows item 9 only, not the total (24 = severe, item 9 at 0)."""
    result = score("phq9", [3, 3, 3, 3, 3, 3, 3, 3, 0])
    assert ("severe", []) == (result.band, result.flags)


def test_phq9_item10_is_not_in_the_total() -> None:
    """§1: item 10 (functional difficulty) is not part of the total."""
    assert 2 == score("phq9", [1, 0, 0, 0, 0, 0, 0, 0, 1, 3]).total


@pytest.mark.parametrize(
    ("answers", "diagnosis"),
    [
        # five symptoms (items 2, 3, 4, 7, 8 at >= 2) with core item 2
        ([0, 3, 2, 2, 0, 0, 3, 2, 0], "major_depressive_syndrome"),
        # five symptoms with item 9 at 1 counting (items 1, 4, 5, 6, 9), core item 1
        ([3, 0, 0, 2, 2, 2, 0, 0, 1], "major_depressive_syndrome"),
        # two symptoms: core item 2 and item 9 at 1
        ([0, 2, 0, 0, 0, 0, 0, 0, 1], "other_depressive_syndrome"),
        # four symptoms including both core items
        ([2, 2, 2, 2, 0, 0, 0, 0, 0], "other_depressive_syndrome"),
        # five symptoms (items 3-7) without a core symptom: core items at 1 do not count
        ([1, 1, 3, 3, 3, 3, 3, 0, 0], "none"),
        # seven symptoms (items 3-9), still no core symptom
        ([1, 1, 2, 2, 2, 2, 2, 2, 1], "none"),
        # a core symptom alone is one symptom, not two
        ([3, 0, 0, 0, 0, 0, 0, 0, 0], "none"),
        # items at 1 do not count (except item 9): a single symptom
        ([1, 1, 1, 1, 1, 1, 1, 1, 1], "none"),
    ],
)
def test_phq9_provisional_diagnosis(answers: list[int], diagnosis: str) -> None:
    """§1: a symptom is present at >= 2 (items 1-8) or >= 1 (item 9); major = >= 5 symptoms
    with item 1 or 2, other = 2-4 symptoms with item 1 or 2."""
    assert diagnosis == score("phq9", answers).provisional_diagnosis


def test_phq9_one_missing_item_is_prorated_not_zeroed() -> None:
    """§1 (NHS convention): 1 missing item -> sum x 9 / answered; 16 x 9 / 8 = 18, not 16."""
    result = score("phq9", [2, 2, 2, 2, 2, 2, 2, 2, None])
    assert (18, "moderately_severe", True, True) == (result.total, result.band, result.prorated, result.valid)
    assert ["item9"] == result.missing_items
    assert not result.complete


def test_phq9_two_missing_items_are_prorated() -> None:
    """§1: 2 missing -> 21 x 9 / 7 = 27."""
    result = score("phq9", [3, 3, 3, 3, 3, 3, 3, None, None])
    assert (27, "severe", ["item8", "item9"]) == (result.total, result.band, result.missing_items)


def test_phq9_three_missing_items_cannot_be_scored() -> None:
    """§1: more than 2 missing -> discard; the total is None, never a sum of the rest."""
    result = score("phq9", [3, 3, 3, 3, 3, 3, None, None, None])
    assert (None, None, False) == (result.total, result.band, result.valid)
    assert ["item7", "item8", "item9"] == result.missing_items


def test_gad7_missing_item_is_not_prorated() -> None:
    """§4: no developer proration rule for GAD-7, so a missing item leaves no total."""
    result = score("gad7", [3, 3, 3, 3, 3, 3, None])
    assert (None, None, False, ["item7"]) == (result.total, result.band, result.valid, result.missing_items)


# -- PCL-5 (reference §5) -----------------------------------------------------------------------


def pcl5(**rated: int) -> list[int]:
    """PCL-5 answers: every item 0 except those given as ``item<n>=value``."""
    return [rated.get(f"item{n}", 0) for n in range(1, 21)]


def test_pcl5_clusters_met_with_total_below_cut_point() -> None:
    """§5: B >= 1, C >= 1, D >= 2, E >= 2 items at >= 2 meets the rule with a total of 13."""
    result = score("pcl5", pcl5(item1=3, item7=2, item9=2, item13=2, item18=2, item20=2))
    assert (13, "provisional_ptsd", False) == (result.total, result.provisional_diagnosis, result.positive_screen)
    assert {"cluster_b": 3, "cluster_c": 2, "cluster_d": 4, "cluster_e": 4} == result.subscores


def test_pcl5_total_above_cut_point_with_cluster_e_not_met() -> None:
    """§5: a high total fails the rule when a cluster is short (E has one item at >= 2)."""
    answers = pcl5(**{f"item{n}": 3 for n in range(1, 15)}, item15=2)
    result = score("pcl5", answers)
    assert (44, "none", True) == (result.total, result.provisional_diagnosis, result.positive_screen)


def test_pcl5_items_rated_1_never_count() -> None:
    """§5: an item counts as endorsed at >= 2 only."""
    result = score("pcl5", [1] * 20)
    assert (20, "none") == (result.total, result.provisional_diagnosis)


@pytest.mark.parametrize(
    ("total", "cut_point", "positive"),
    [(31, None, False), (32, None, False), (33, None, True), (31, 31, True), (30, 31, False), (32, 33, False)],
)
def test_pcl5_cut_point_31_to_33(total: int, cut_point: int | None, positive: bool) -> None:
    """§5: cut-point configurable within 31-33, default 33."""
    kwargs = {} if cut_point is None else {"cut_point": cut_point}
    result = score("pcl5", spread(total, 20, 0, 4), **kwargs)
    assert (total, positive) == (result.total, result.positive_screen)


@pytest.mark.parametrize("cut_point", [38, 30, 34])
def test_pcl5_cut_point_outside_31_to_33_is_refused(cut_point: int) -> None:
    """§5: 38 is superseded and outside 31-33, so it is refused, like any value outside."""
    err = error_of("pcl5", [0] * 20, cut_point=cut_point)
    assert "outside its documented limits" in str(err)
    assert ("pcl5", "cut_point", cut_point) == (err.measure, err.field, err.value)
    assert "31 to 33" in str(err)


# -- AUDIT-C (reference §6) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "sex", "positive"),
    [
        ([1, 1, 1], "female", True),  # 3: women >= 3
        ([1, 1, 0], "female", False),  # 2
        ([1, 1, 1], "male", False),  # 3: men >= 4
        ([2, 1, 1], "male", True),  # 4
        ([4, 4, 4], "male", True),  # 12
        ([0, 0, 0], "female", False),  # 0
    ],
)
def test_auditc_sex_specific_cut_off(answers: list[int], sex: str, positive: bool) -> None:
    """§6: positive screen at >= 4 for men and >= 3 for women."""
    result = score("auditc", answers, sex=sex)
    assert (sum(answers), positive, None) == (result.total, result.positive_screen, result.band)


def test_auditc_va_threshold_of_5() -> None:
    """§6: >= 5 is also in use (VA); it can be chosen per sex."""
    assert not score("auditc", [2, 1, 1], sex="male", cutoff_male=5).positive_screen
    assert score("auditc", [2, 2, 1], sex="female", cutoff_female=5).positive_screen


def test_auditc_sex_value_is_case_insensitive() -> None:
    """'Female' is read as 'female'."""
    assert score("auditc", [1, 1, 1], sex="female") == score("auditc", [1, 1, 1], sex=" Female ")


def test_auditc_without_sex_is_refused() -> None:
    """§6: the cut-off depends on sex and no source gives a rule without it: InvalidInput."""
    err = error_of("auditc", [1, 1, 1])
    assert "missing required context 'sex'" in str(err)
    assert ("auditc", "sex") == (err.measure, err.field)
    assert "female, male" == err.allowed


@pytest.mark.parametrize(("given", "meant"), [("femal", "female"), ("mael", "male"), ("Fmale", "female")])
def test_auditc_misspelt_sex_suggests(given: str, meant: str) -> None:
    """A misspelt sex is refused with "did you mean"."""
    err = error_of("auditc", [1, 1, 1], sex=given)
    assert meant == err.suggestion
    assert f"did you mean '{meant}'?" in str(err)
    assert "invalid sex" in str(err)


@pytest.mark.parametrize("given", ["unknown", "x", 1, None])
def test_auditc_unrelated_sex_is_refused_without_suggestion(given: Any) -> None:
    """A value far from any allowed one is refused without a guess."""
    err = error_of("auditc", [1, 1, 1], sex=given)
    assert "did you mean" not in str(err)
    assert "allowed: female, male" in str(err)


# -- C-SSRS screener (reference §7) --------------------------------------------------------------

N, Y = "no", "yes"
CSSRS_LEVELS = [
    ([N, N, None, None, None, N], "none"),  # all no; 3-5 and 6b skipped
    ([Y, N, None, None, None, N], "low"),  # wish to be dead
    ([N, Y, N, N, N, N], "low"),  # thoughts without method, intent or plan
    ([Y, Y, N, N, N, N], "low"),
    ([Y, Y, Y, N, N, N], "moderate"),  # method
    ([N, N, None, None, None, Y, N], "moderate"),  # behaviour, not in the past 3 months
    ([Y, N, None, None, None, Y, N], "moderate"),  # highest applicable level wins
    ([Y, Y, N, Y, N, N], "high"),  # intent
    ([Y, Y, N, N, Y, N], "high"),  # plan
    ([N, N, None, None, None, Y, Y], "high"),  # behaviour within 3 months
    ([Y, Y, Y, N, N, Y, Y], "high"),  # method (moderate) and recent behaviour (high)
]


@pytest.mark.parametrize(
    ("answers", "level"), CSSRS_LEVELS, ids=[f"{lvl}-{i}" for i, (_, lvl) in enumerate(CSSRS_LEVELS)]
)
def test_cssrs_triage_levels(answers: list[Any], level: str) -> None:
    """§7: high = Q4 or Q5 or Q6 within 3 months; moderate = Q3 or Q6 earlier; low = Q1/Q2
    only; none = all no. suicide_risk above none, urgent_suicide_risk for high."""
    result = score("cssrs_screener", answers)
    assert (level, level, True, True) == (result.band, result.results["level"], result.valid, result.complete)
    expected_flags = {"none": [], "low": ["suicide_risk"], "moderate": ["suicide_risk"]}.get(
        level, ["suicide_risk", "urgent_suicide_risk"]
    )
    assert expected_flags == result.flags
    assert result.total is None


def test_cssrs_skipped_questions_are_not_missing() -> None:
    """§7: after "no" to Q2, Q3-Q5 are skipped (not asked, not "no"); 6b only follows "yes" to Q6."""
    result = score("cssrs_screener", {"q1": N, "q2": N, "q6": N})
    assert ([], True, "none") == (result.missing_items, result.valid, result.band)


def test_cssrs_questions_3_to_5_missing_after_yes_to_2() -> None:
    """§7: after "yes" to Q2, Q3-Q5 are due; unanswered they make the screen incomplete and the
    level unknown (intent or a plan may be there), and the safety check fails closed."""
    result = score("cssrs_screener", [N, Y, None, None, None, N])
    assert (None, False) == (result.band, result.valid)
    assert ["q3", "q4", "q5"] == result.missing_items
    assert ["safety_item_missing", "suicide_risk"] == result.flags


def test_cssrs_6b_missing_after_yes_to_6() -> None:
    """§7: after "yes" to Q6, 6b decides between moderate and high: unanswered -> unknown."""
    result = score("cssrs_screener", [N, N, None, None, None, Y])
    assert (None, False, ["q6b"]) == (result.band, result.valid, result.missing_items)
    assert ["safety_item_missing", "suicide_risk"] == result.flags


def test_cssrs_known_high_with_a_missing_answer() -> None:
    """§7: highest level wins, so "yes" to Q4 is high even when Q5 is unanswered."""
    result = score("cssrs_screener", [Y, Y, N, Y, None, N])
    assert ("high", False, ["q5"]) == (result.band, result.valid, result.missing_items)
    assert ["safety_item_missing", "suicide_risk", "urgent_suicide_risk"] == result.flags


@pytest.mark.parametrize("missing", ["q1", "q2", "q6"])
def test_cssrs_missing_question_fails_closed(missing: str) -> None:
    """§7: any unanswered required question -> incomplete; the missing suicide item is surfaced."""
    answers: dict[str, Any] = {"q1": N, "q2": N, "q6": N}
    answers[missing] = None
    result = score("cssrs_screener", answers)
    assert (False, [missing]) == (result.valid, result.missing_items)
    assert "safety_item_missing" in result.flags


def test_cssrs_nothing_answered() -> None:
    """No answer at all: not valid, level unknown, safety item missing."""
    result = score("cssrs_screener", [None] * 6)
    assert (None, False, ["safety_item_missing"]) == (result.band, result.valid, result.flags)
    assert ["q1", "q2", "q6"] == result.missing_items


def test_cssrs_loinc_item_codes() -> None:
    """§7: items can be given by their LOINC codes (93246-7 ... 93269-9)."""
    by_code = {"93246-7": Y, "93247-5": Y, "93248-3": N, "93249-1": N, "93250-9": N, "93267-3": Y, "93269-9": Y}
    assert score("cssrs_screener", [1, 1, 0, 0, 0, 1, 1]) == score("cssrs_screener", by_code)


@pytest.mark.parametrize("yes", [1, True, "yes", "Yes", "y", "TRUE"])
def test_cssrs_yes_spellings(yes: Any) -> None:
    """A yes/no item accepts 1, true and "yes" (any case) for yes."""
    assert "high" == score("cssrs_screener", [0, 0, None, None, None, 1, yes]).band


# -- WHODAS 2.0 12-item (reference §8.4) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "total", "percent"),
    [
        ([1] * 12, 12, 0.0),
        ([5] * 12, 60, 100.0),
        ([3] * 12, 36, 50.0),
        ([2] * 12, 24, 25.0),
        ([1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 1, 1], 32, 41.67),
    ],
)
def test_whodas_simple_sum_and_percent_of_maximum(answers: list[int], total: int, percent: float) -> None:
    """§8.4: simple score = unweighted sum of item codes (12-60); (sum - 12) / 48 x 100 is the
    labelled linear rescaling; there are no official bands."""
    result = score("whodas12", answers)
    assert (total, None) == (result.total, result.band)
    assert percent == pytest.approx(result.results["percent_of_max"], abs=0.05)


def test_whodas_percent_of_maximum_is_reported_unconfirmed() -> None:
    """§8.4: WHO-equivalence of the linear 0-100 conversion is unconfirmed; the Score says so."""
    result = score("whodas12", [2] * 12)
    assert any("percent_of_max" in note for note in result.unconfirmed)


def test_whodas_domains() -> None:
    """§8.4 item/domain table: mobility 1+7, life activities 2+12, cognition 3+6,
    participation 4+5, self-care 8+9, getting along 10+11."""
    result = score("whodas12", [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 1, 1])
    expected = {
        "mobility": 1 + 4,
        "life_activities": 1 + 1,
        "cognition": 2 + 3,
        "participation": 2 + 3,
        "self_care": 4 + 5,
        "getting_along": 5 + 1,
    }
    assert expected == result.subscores


@pytest.mark.parametrize("value", [0, 6])
def test_whodas_items_are_coded_1_to_5(value: int) -> None:
    """§8.4: responses are none (1) to extreme (5)."""
    assert "answer out of range" in str(error_of("whodas12", [value] + [1] * 11))


# -- BPRS (reference §8.2) ------------------------------------------------------------------------


def test_bprs_range() -> None:
    """§8.2: items 1-7, total 18-126 when all 18 are rated."""
    assert 18 == score("bprs", [1] * 18).total
    assert 126 == score("bprs", [7] * 18).total
    assert 41 == score("bprs", spread(41, 18, 1, 7)).total


def test_bprs_not_assessed_makes_it_incomplete() -> None:
    """§8.2: 0 = not assessed/unable to rate; it is not a rating of 0, so there is no total."""
    result = score("bprs", [4] * 17 + [0])
    assert (None, False, False, ["item18"]) == (result.total, result.valid, result.complete, result.missing_items)


def test_bprs_8_is_out_of_range() -> None:
    """§8.2: the highest rating is 7."""
    assert "answer out of range" in str(error_of("bprs", [8] + [1] * 17))


# -- MDQ (reference §8.6) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yes_count", "same_period", "problem", "positive"),
    [
        (7, "yes", 2, True),  # moderate problem
        (7, "yes", 3, True),  # serious problem
        (13, "yes", 3, True),
        (6, "yes", 3, False),  # fewer than 7 symptoms
        (13, "no", 3, False),  # not in the same period
        (13, "yes", 1, False),  # minor problem
        (13, "yes", 0, False),  # no problem
    ],
)
def test_mdq_rule(yes_count: int, same_period: str, problem: int, positive: bool) -> None:
    """§8.6: positive = >= 7 "yes" in part 1 and "yes" to part 2 and moderate or serious in part 3."""
    part1 = [1] * yes_count + [0] * (13 - yes_count)
    result = score("mdq", [*part1, same_period, problem])
    assert (yes_count, positive) == (result.total, result.positive_screen)


# -- Psychosis dimensions (reference §8.3) ----------------------------------------------------------


def test_psychosis_item_levels() -> None:
    """§8.3: each domain is rated 0-4 and reported with its level; no total is defined."""
    result = score("psychosis_dimensions", [4, 3, 2, 1, 0, 0, 1, 2])
    assert {
        "hallucinations": "severe",
        "delusions": "moderate",
        "disorganized_speech": "mild",
        "abnormal_psychomotor_behavior": "equivocal",
        "negative_symptoms": "not_present",
        "impaired_cognition": "not_present",
        "depression": "equivocal",
        "mania": "mild",
    } == result.item_levels
    assert (None, None, True) == (result.total, result.band, result.valid)


def test_psychosis_unrated_domain() -> None:
    """An unrated domain is missing; the rated ones keep their levels."""
    result = score("psychosis_dimensions", {"hallucinations": 2, "delusions": 0})
    assert result.item_levels is not None
    assert ("mild", None) == (result.item_levels["hallucinations"], result.item_levels["mania"])
    assert not result.valid
    assert 6 == len(result.missing_items)


def test_psychosis_5_is_out_of_range() -> None:
    """§8.3: the rating is 0-4."""
    assert "answer out of range" in str(error_of("psychosis_dimensions", [5] + [0] * 7))


# -- RAS-R (reference §8.5) ---------------------------------------------------------------------------


def test_ras_range() -> None:
    """§8.5: 24 items, 1-5; total 24-120; no cut-offs or bands."""
    assert (24, None) == (score("ras", [1] * 24).total, score("ras", [1] * 24).band)
    assert 120 == score("ras", [5] * 24).total
    assert 73 == score("ras", spread(73, 24, 1, 5)).total


@pytest.mark.parametrize("value", [0, 6])
def test_ras_out_of_range(value: int) -> None:
    """§8.5: 1 strongly disagree - 5 strongly agree."""
    assert "answer out of range" in str(error_of("ras", [3] * 23 + [value]))


# -- error messages ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["phq09", "phq-99", "PHQ-9x", "PHQ 99"])
def test_unknown_measure_suggests(name: str) -> None:
    """A near miss of a measure id (not one of the names the measure declares) is refused with
    "did you mean 'phq9'" and the allowed ids."""
    err = error_of(name, [0] * 9)
    assert "unknown measure" in str(err)
    assert "did you mean 'phq9'?" in str(err)
    assert (name, "phq9") == (err.measure, err.suggestion)
    assert err.allowed is not None
    assert "cssrs_screener" in err.allowed


def test_invalid_input_is_a_value_error_and_a_library_error() -> None:
    """Callers may catch InvalidInput, ValueError or CocmRulesError."""
    err = error_of("nope", [0])
    assert isinstance(err, ValueError)
    assert isinstance(err, CocmRulesError)


@pytest.mark.parametrize("count", [0, 8, 11])
def test_wrong_number_of_answers(count: int) -> None:
    """PHQ-9 takes 9 answers, or 10 with the difficulty item."""
    err = error_of("phq9", [0] * count)
    assert f"wrong number of answers: expected 9 to 10 (items item1..item10), got {count}" in str(err)


def test_out_of_range_names_measure_item_value_and_allowed() -> None:
    """The message says which measure, which item, the value and the allowed values."""
    err = error_of("phq9", [0, 0, 0, 0, 0, 0, 0, 0, 4])
    assert ("phq9", "item9", 4) == (err.measure, err.item, err.value)
    assert (
        "measure 'phq9', item 'item9': answer out of range (got 4 (number)); allowed: 0 = not at all, "
        "1 = several days, 2 = more than half the days, 3 = nearly every day"
    ) == str(err)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("2", "an answer must be one of the item's coded values (got '2' (text))"),
        (1.5, "an answer must be a whole number (got 1.5 (number))"),
        (float("nan"), "an answer must be a whole number"),
        (True, "an answer must be one of the item's coded values (got true (yes/no))"),
        ("yes", "an answer must be one of the item's coded values"),
        ([1], "an answer must be a number"),
    ],
)
def test_wrong_types_are_refused(value: Any, text: str) -> None:
    """No coercion: text, fractions and booleans are refused for a numeric PHQ-9 item."""
    err = error_of("phq9", [value, 0, 0, 0, 0, 0, 0, 0, 0])
    assert text in str(err)
    assert "item1" == err.item


def test_whole_float_is_read_as_its_integer() -> None:
    """2.0 is the answer 2 (it is a whole number within range)."""
    assert score("phq9", [2, 0, 0, 0, 0, 0, 0, 0, 0]) == score("phq9", [2.0, 0, 0, 0, 0, 0, 0, 0, 0])


def test_unknown_item_key_suggests() -> None:
    """An unknown key in a mapping is refused with the closest item id."""
    err = error_of("phq9", {"itme9": 1})
    assert ("itme9", "item9") == (err.item, err.suggestion)
    assert "unknown item" in str(err)
    assert "did you mean 'item9'?" in str(err)


def test_item_given_twice_is_refused() -> None:
    """An item under two keys is refused: a "0" must not hide a positive item 9 (44260-8)."""
    answers = {f"item{n}": 0 for n in range(1, 10)} | {"44260-8": 0}
    answers["item9"] = 1
    err = error_of("phq9", answers)
    assert "given twice" in str(err)
    assert "item9" == err.item


def test_unknown_context_key() -> None:
    """An unknown keyword is refused and the measure's context and parameters are named."""
    err = error_of("phq9", [0] * 9, cut_piont=11)
    assert "unknown context 'cut_piont'" in str(err)
    assert ("cut_piont", "cut_point") == (err.field, err.suggestion)


def test_context_for_a_measure_that_takes_none() -> None:
    """C-SSRS takes no context at all."""
    assert "this measure takes none" in str(error_of("cssrs_screener", [0, 0, None, None, None, 0], sex="female"))


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        (
            {"cutoff_male": 3},
            "parameter cutoff_male is outside its documented limits (got 3 (number)); allowed: 4 to 5",
        ),
        ({"cutoff_female": 6}, "parameter cutoff_female is outside its documented limits"),
        ({"cutoff_female": "3"}, "parameter cutoff_female must be a number"),
        ({"cutoff_female": True}, "parameter cutoff_female must be a number"),
    ],
)
def test_parameter_outside_limits(kwargs: dict[str, Any], text: str) -> None:
    """§6: AUDIT-C cut-offs in use are women 3 or 5 and men 4 or 5; others are refused."""
    assert text in str(error_of("auditc", [1, 1, 1], sex="male", **kwargs))


def test_answers_must_be_a_list_or_mapping() -> None:
    """A string is neither."""
    assert "answers must be a list in item order or a mapping" in str(error_of("phq9", "000000000"))


# -- scoring behaviour ----------------------------------------------------------------------------------

PHQ9 = [2, 1, 3, 0, 1, 2, 0, 1, 1]
PHQ9_LOINC = ["44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3", "44260-8"]


def test_list_and_mapping_forms_agree() -> None:
    """A list in item order, item ids, ``phq9.item<n>`` ids and LOINC item codes (§1) all score alike."""
    by_list = score("phq9", PHQ9)
    assert by_list == score("phq9", {f"item{n}": v for n, v in enumerate(PHQ9, 1)})
    assert by_list == score("phq9", {f"phq9.item{n}": v for n, v in enumerate(PHQ9, 1)})
    assert by_list == score("phq9", dict(zip(PHQ9_LOINC, PHQ9, strict=True)))
    assert (11, "moderate", ["suicide_risk"]) == (by_list.total, by_list.band, by_list.flags)


def test_mapping_left_out_item_is_missing_not_zero() -> None:
    """A mapping without an item leaves it unanswered; it is never read as 0."""
    answers = {f"item{n}": v for n, v in enumerate(PHQ9, 1)}
    del answers["item3"]
    result = score("phq9", answers)
    assert (["item3"], True) == (result.missing_items, result.prorated)
    assert 8 * 9 / 8 == result.total  # 8 answered items summing 8, prorated (§1)


def test_reported_total_agrees() -> None:
    """A reported total equal to the recomputed one is marked as agreeing."""
    result = score("phq9", PHQ9, reported_total=11)
    assert (True, 11, "items") == (result.total_agrees, result.reported_total, result.total_source)


def test_reported_total_disagrees() -> None:
    """A different reported total does not replace the recomputed one; a note says so."""
    result = score("phq9", PHQ9, reported_total=12)
    assert (False, 11) == (result.total_agrees, result.total)
    assert any("differs" in note for note in result.notes)


def test_total_only_scoring_fails_closed() -> None:
    """Without items, a reported total gives the band (§1) but item 9 is unknown, so the
    safety check fails closed (``safety_item_missing``) and the suicide flag is not guessed."""
    result = score("phq9", reported_total=12)
    assert (12, "moderate", "reported", True) == (
        result.total,
        result.band,
        result.total_source,
        result.positive_screen,
    )
    assert ["safety_item_missing"] == result.flags
    assert result.provisional_diagnosis is None
    assert not result.complete


def test_reported_total_errors() -> None:
    """A reported total must be a number in range, and the measure must have a total."""
    assert "reported total out of range" in str(error_of("phq9", reported_total=28))
    assert "must be a number" in str(error_of("phq9", reported_total="12"))
    assert "has no total" in str(error_of("cssrs_screener", reported_total=1))
    assert "no answers and no reported total" in str(error_of("phq9"))


@pytest.mark.parametrize(
    ("measure_id", "answers", "context"),
    [
        ("phq9", [2, 2, 2, 2, 2, 2, 2, 1, None], {}),
        ("cssrs_screener", [1, 1, 0, 1, None, 1], {}),
        ("whodas12", [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 1, 1], {}),
        ("psychosis_dimensions", [0, 1, 2, 3, 4, 0, 1, 2], {}),
        ("auditc", [2, 1, 0], {"sex": "female"}),
        ("pcl5", [2] * 20, {"cut_point": 31}),
    ],
)
def test_score_json_round_trip(measure_id: str, answers: list[Any], context: dict[str, Any]) -> None:
    """``Score.model_dump_json()`` reads back into an equal Score."""
    result = score(measure_id, answers, **context)
    assert result == Score.model_validate_json(result.model_dump_json())


def test_a_parameter_without_documented_limits_cannot_be_changed() -> None:
    """The PHQ-9 cut-point of 10 has no documented alternative, so overriding it is refused
    (naming the source), while the PCL-5 cut-point may move within its documented 31-33."""
    with pytest.raises(InvalidInput) as info:
        score("phq9", [0] * 9, cut_point=8)
    assert "no documented alternative" in str(info.value)
    assert True is score("pcl5", [2] * 16 + [0] * 4, cut_point=31).positive_screen


def test_a_reported_total_that_cannot_be_checked_is_unknown_not_false() -> None:
    """With three PHQ-9 items missing there is no total to compare a reported one with:
    total_agrees is None and a note says why."""
    result = score("phq9", [1, 1, 1, 1, 1, 1, None, None, None], reported_total=6)
    assert None is result.total_agrees
    assert any("cannot be checked" in note for note in result.notes)


# -- a reported total beside some items (issue 11) ------------------------------------------------


def test_a_reported_total_with_item9_is_scored() -> None:
    """A PHQ-9 sent as its total and item 9 (what many EHRs store) is scored: the total is the
    one reported, said so, the band follows (§1), and item 9 at 0 sets no flag."""
    result = score("phq9", {"item9": 0}, reported_total=18)

    assert (18, "moderately_severe", "reported", True, False) == (
        result.total,
        result.band,
        result.total_source,
        result.valid,
        result.complete,
    )
    assert ([], [], None) == (result.flags, result.undetermined_flags, result.total_agrees)
    assert [f"item{n}" for n in range(1, 9)] == result.missing_items
    assert any("total reported by the host and used as the total" in note for note in result.notes)


def test_a_positive_item9_beside_a_reported_total_flags_suicide_risk() -> None:
    """Safety flags come from the items that were sent."""
    assert ["suicide_risk"] == score("phq9", {"phq9.item9": 2}, reported_total=18).flags


def test_a_reported_total_with_items_other_than_item9_fails_closed() -> None:
    """Without item 9 the reported total is still the total, and the safety check fails closed
    as for a total alone."""
    result = score("phq9", {"item1": 3, "item2": 3}, reported_total=18)

    assert (18, ["safety_item_missing"], ["suicide_risk"]) == (result.total, result.flags, result.undetermined_flags)


def test_a_list_with_unanswered_items_and_a_reported_total_scores_like_a_mapping() -> None:
    """Items sent as null in a list count as not answered, exactly like keys left out."""
    as_list = score("phq9", [None] * 8 + [1], reported_total=12)

    assert as_list == score("phq9", {"item9": 1}, reported_total=12)
    assert (12, "reported", ["suicide_risk"]) == (as_list.total, as_list.total_source, as_list.flags)


def test_the_reported_total_path_is_generic() -> None:
    """Any measure with a total works the same way (GAD-7, §4: no proration, so one missing item
    leaves no total of its own)."""
    result = score("gad7", {"item1": 3, "item2": 3, "item3": 3, "item4": 3, "item5": 3, "item6": 3}, reported_total=20)

    assert (20, "severe", "reported") == (result.total, result.band, result.total_source)


@pytest.mark.parametrize(
    ("answers", "reported", "fragment"),
    [
        ({"item1": 3, "item9": 3}, 5, "add up to 6"),  # the items sent already exceed the total
        ({"item1": 0, "item9": 0}, 22, "can add 0 to 21"),  # the items not sent cannot reach it
        ({"item9": 4}, 18, "answer out of range"),
        ({"item9": 0}, 28, "reported total out of range"),
    ],
)
def test_an_impossible_reported_total_or_a_bad_item_is_invalid(
    answers: dict[str, int], reported: int, fragment: str
) -> None:
    """A reported total the items sent make impossible, an item out of range or a total out of
    range is an error, never a score."""
    assert fragment in str(error_of("phq9", answers, reported_total=reported))


def test_without_a_reported_total_the_missing_item_policy_applies() -> None:
    """The same items without a reported total are not scored (§1: more than 2 missing)."""
    result = score("phq9", {"item9": 0})

    assert (None, False, None) == (result.total, result.valid, result.total_source)


def test_a_prorated_total_is_still_checked_against_a_reported_one() -> None:
    """When the policy gives a total (1-2 items missing, §1), it is recomputed as before and the
    reported total is only compared with it."""
    result = score("phq9", [1, 1, 1, 1, 1, 1, 1, 1, None], reported_total=12)

    assert (9, "prorated", False) == (result.total, result.total_source, result.total_agrees)


# -- measure names, huge numbers (issue 11) ---------------------------------------------------------


@pytest.mark.parametrize("name", ["PHQ-9", "phq-9", "PHQ9", "44249-1"])
def test_score_takes_a_name_the_measure_declares(name: str) -> None:
    """``score`` takes the measure's short name, an alias or its LOINC panel code."""
    assert "phq9" == score(name, [0] * 8 + [1]).measure


def test_an_answer_of_5000_digits_is_refused_by_its_length() -> None:
    """An answer too long to write out is refused as out of range, shown by its length."""
    error = error_of("phq9", [0] * 8 + [10**5000])

    assert "item9" == error.item
    assert "answer out of range (got an integer of 5001 digits (number))" in str(error)


@pytest.mark.parametrize(
    ("measure_id", "answers", "kwargs", "fragment"),
    [
        ("phq9", None, {"reported_total": 10**400}, "reported total out of range (got an integer of 401 digits"),
        ("phq9", None, {"reported_total": -(10**400)}, "(got a negative integer of 401 digits"),
        ("pcl5", [2] * 20, {"cut_point": 10**400}, "outside its documented limits (got an integer of 401 digits"),
        ("phq9", [0] * 9, {"cut_point": 10**400}, "no documented alternative"),
    ],
    ids=["total", "negative-total", "pcl5-cut-point", "phq9-cut-point"],
)
def test_integers_beyond_float_range_are_invalid_input(
    measure_id: str, answers: Any, kwargs: dict[str, Any], fragment: str
) -> None:
    """Integers beyond the range of a float as a reported total or a parameter are refused as
    out of range (they once raised OverflowError)."""
    assert fragment in str(error_of(measure_id, answers, **kwargs))

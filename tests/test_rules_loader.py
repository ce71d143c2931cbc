"""Loading rulesets: every mistake located as file:line:column, and valid files lowered to the IR.

Each file in ``tests/fixtures/rulesets_broken/`` holds one mistake (one error message); the
table below says where it must be reported and what the report says.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from cocm_rules import CocmRulesError, DefinitionError, Engine, Problem, RulesetError
from cocm_rules.rules import Ruleset, RulesetSet, bundled_rulesets_path, load_ruleset, load_rulesets
from cocm_rules.rules.ir import And, Cmp, In, MessagePart, Not, Or, Present
from cocm_rules.rules.language import TestCaseSpec as CaseSpec

FIXTURES = Path(__file__).parent / "fixtures"
BROKEN = FIXTURES / "rulesets_broken"
OK = FIXTURES / "rulesets_ok"
T2T = OK / "treat_to_target.yaml"

STATUSES = "active_treatment, relapse_prevention_plan, discharged, inactive"


def problems_of(*paths: Path) -> list[Problem]:
    """The problems loading ``paths`` together reports (it must fail)."""
    with pytest.raises(RulesetError) as info:
        load_rulesets(list(paths))
    return info.value.problems


def text_problems(text: str) -> list[Problem]:
    """The problems loading ``text`` reports (it must fail)."""
    with pytest.raises(RulesetError) as info:
        load_rulesets(text=text)
    return info.value.problems


# -- one fixture per error message ------------------------------------------------------------

R1 = "rule 'r1'"

# fixture, line, column, context, message, suggestion, allowed
CASES: list[tuple[str, int, int, str | None, str, str | None, str | None]] = [
    ("unknown_fact.yaml", 12, 11, R1, "unknown fact 'phq9.lastest'", "phq9.latest", None),
    (
        "date_compared_with_number.yaml",
        12,
        31,
        R1,
        "'phq9.latest_date' is a date; it cannot be compared with the number 10",
        None,
        None,
    ),
    (
        "text_value_not_allowed.yaml",
        12,
        21,
        R1,
        "'activ_treatment' is not a value of 'status'",
        "active_treatment",
        STATUSES,
    ),
    (
        "then_unknown_key.yaml",
        15,
        7,
        R1,
        "unknown key 'severty'",
        "severity",
        "category, severity, priority, action, message, action_text, recipients",
    ),
    (
        "unknown_top_level_key.yaml",
        7,
        1,
        None,
        "unknown key 'reviewed_by'",
        None,
        "ruleset, title, version, effective, owner, description, parameters, max_snooze_days, rules, tests",
    ),
    ("condition_unknown_key.yaml", 13, 7, R1, "unknown key 'alll' in a condition", "all", "all, any, not"),
    (
        "parameter_unused.yaml",
        13,
        3,
        "parameter 'severe_score'",
        "parameter 'severe_score' is not used by any rule: use it in a condition or a message, or remove it",
        None,
        None,
    ),
    (
        "unknown_parameter.yaml",
        17,
        33,
        R1,
        "unknown parameter 'review_after_wekes'",
        "review_after_weeks",
        "review_after_weeks",
    ),
    (
        "parameter_named_like_fact.yaml",
        9,
        3,
        "parameter 'weeks_in_treatment'",
        "parameter 'weeks_in_treatment' has the name of a fact; choose another name",
        None,
        None,
    ),
    (
        "parameter_on_the_left.yaml",
        17,
        11,
        R1,
        "unknown fact 'review_after_weeks' (this is a parameter; a comparison starts with a fact)",
        None,
        None,
    ),
    (
        "fact_on_the_right.yaml",
        12,
        25,
        R1,
        "'phq9.baseline' is a fact; a comparison is between a fact and a value or parameter",
        None,
        None,
    ),
    (
        "comparison_never_true.yaml",
        12,
        11,
        R1,
        "'phq9.latest > 27' can never be true: phq9.latest is a number (points, 0..27)",
        None,
        None,
    ),
    (
        "contradictory_all.yaml",
        13,
        7,
        R1,
        "these conditions can never all be true: 'phq9.latest' cannot be both > 15 and < 10",
        None,
        None,
    ),
    (
        "contradictory_text_values.yaml",
        12,
        11,
        R1,
        "these conditions can never all be true: 'status' cannot be both == active_treatment and == discharged",
        None,
        None,
    ),
    (
        "contradictory_all_any.yaml",
        13,
        7,
        R1,
        "these conditions can never all be true: 'status' cannot be both == active_treatment and == discharged; "
        "'status' cannot be both == active_treatment and == inactive",
        None,
        None,
    ),
    (
        "contradictory_yes_no.yaml",
        12,
        11,
        R1,
        "these conditions can never all be true: 'has_relapse_prevention_plan' cannot be both == true and != true",
        None,
        None,
    ),
    (
        "no_value_left_in_range.yaml",
        12,
        11,
        R1,
        "these conditions can never all be true: 'phq9.item9_latest' cannot be both > 2 and != 3: "
        "phq9.item9_latest is a whole number (no unit, 0..3)",
        None,
        None,
    ),
    (
        "no_whole_number_between.yaml",
        12,
        11,
        R1,
        "these conditions can never all be true: 'weeks_in_treatment' cannot be both > 3 and < 4: "
        "weeks_in_treatment is a whole number (weeks, 0..)",
        None,
        None,
    ),
    (
        "condition_never_true.yaml",
        12,
        11,
        R1,
        "this condition can never be true: 'phq9.latest' is required to be missing and to have a value",
        None,
        None,
    ),
    (
        "missing_and_value.yaml",
        12,
        11,
        R1,
        "these conditions can never all be true: 'phq9.latest' is required to be missing and to have a value",
        None,
        None,
    ),
    (
        "between_reversed.yaml",
        12,
        11,
        R1,
        "'between 10 and 5' can never be true: the low end is above the high end",
        None,
        None,
    ),
    (
        "bare_number_fact.yaml",
        12,
        11,
        R1,
        "'phq9.latest' is a number (points, 0..27), not yes/no; write a comparison such as 'phq9.latest >= 10'",
        None,
        None,
    ),
    (
        "order_on_text_fact.yaml",
        12,
        11,
        R1,
        f"'status' is text, one of: {STATUSES}; use == or != (or in [...]), not <",
        None,
        None,
    ),
    (
        "in_on_yes_no_fact.yaml",
        12,
        11,
        R1,
        "'has_relapse_prevention_plan' is yes/no; use == true or == false",
        None,
        None,
    ),
    ("too_many_decimals.yaml", 12, 32, R1, "use at most 4 decimal places (got 0.12345)", None, None),
    (
        "expression_syntax_error.yaml",
        12,
        29,
        R1,
        "unexpected 'weeks_in_treatment'; join comparisons with 'and' or 'or'",
        None,
        None,
    ),
    # The column counts the opening quote of a quoted condition.
    ("quoted_condition_syntax_error.yaml", 12, 30, R1, "unexpected character '&'", None, None),
    (
        "condition_is_a_number.yaml",
        12,
        11,
        R1,
        "a condition must be text such as 'phq9.latest >= 10', or all/any/not; got 10 (number)",
        None,
        None,
    ),
    ("empty_all.yaml", 13, 12, R1, "'all' needs a list of one or more conditions", None, None),
    (
        "message_unknown_placeholder.yaml",
        18,
        25,
        R1,
        "unknown placeholder {phq9.lastest}: not a fact or a parameter",
        "phq9.latest",
        None,
    ),
    (
        "message_bad_format_spec.yaml",
        18,
        23,
        R1,
        "placeholder {status:.1f}: the format '.1f' cannot show status, which is text",
        None,
        "{status} without a format (formats such as :.1f are for numbers)",
    ),
    (
        "message_percent_on_points.yaml",
        18,
        25,
        R1,
        "placeholder {phq9.latest:.0%}: '%' shows a fraction as a percent, and phq9.latest is a number in points",
        None,
        "{phq9.latest}, or {phq9.latest:.1f} for 1 decimal; {phq9.latest:.0%} for a fraction (0.25 shows as 25%)",
    ),
    ("date_does_not_exist.yaml", 4, 12, None, "'2026-02-30' is not a real date", None, None),
    (
        "parentheses_too_deep.yaml",
        12,
        43,
        R1,
        "nested too deeply: at most 32 levels of parentheses and 'not'",
        None,
        None,
    ),
    ("conditions_too_deep.yaml", 46, 73, R1, "nested too deeply: at most 32 levels of all, any and not", None, None),
    (
        "yaml_too_deep.yaml",
        74,
        129,
        None,
        "this is not valid YAML: nested too deeply: at most 64 levels of lists and mappings",
        None,
        None,
    ),
    (
        "comparison_always_true.yaml",
        12,
        11,
        R1,
        "'phq9.latest >= 0' is always true when phq9.latest has a value: phq9.latest is a number (points, 0..27)",
        "phq9.latest is present",
        None,
    ),
    (
        "fraction_compared_with_percent_number.yaml",
        12,
        11,
        R1,
        "'phq9.pct_reduction < 50' is always true when phq9.pct_reduction has a value: "
        "phq9.pct_reduction is a fraction (0.5 means 50%); write 0.5 or 50%",
        None,
        None,
    ),
    (
        "percent_on_points_fact.yaml",
        12,
        25,
        R1,
        "50% is a fraction; phq9.latest is in points",
        None,
        "a number in points",
    ),
    (
        "parameter_unit_mismatch.yaml",
        18,
        33,
        R1,
        "parameter 'review_after' is in days; 'weeks_in_treatment' is in weeks",
        None,
        "a parameter in weeks (or without a unit)",
    ),
    (
        "test_value_out_of_range.yaml",
        22,
        26,
        "test 'impossible total'",
        "190 is out of range for 'phq9.latest', which is a number (points, 0..27)",
        None,
        None,
    ),
    (
        "test_unknown_measure.yaml",
        29,
        21,
        "test 'misspelt measure'",
        "unknown measure 'phq-99'",
        "phq9",
        "asrm, auditc, bprs, cssrs_screener, gad2, gad7, mdq, pcl5, phq2, phq9, phqa, psychosis_dimensions, ras, "
        "whodas12",
    ),
    (
        "message_stray_brace.yaml",
        18,
        16,
        R1,
        "the message has a stray brace (Single '}' encountered in format string); write {{ or }} for a literal brace",
        None,
        None,
    ),
    (
        "duplicate_rule_id.yaml",
        20,
        9,
        R1,
        "duplicate rule id 'r1' (also rule #1); rule ids are never reused",
        None,
        None,
    ),
    (
        "version_is_a_number.yaml",
        3,
        10,
        None,
        "expected text, got 1.0 (number); put it in quotes to make it text",
        None,
        None,
    ),
    (
        "priority_out_of_range.yaml",
        16,
        17,
        R1,
        "101 (number) is out of range: it must be at most 100",
        None,
        None,
    ),
    (
        "unknown_category.yaml",
        14,
        17,
        R1,
        "'suicide' (text) is not allowed",
        # STYLE.md: "did you mean" whenever a close match exists.
        "suicide_risk",
        "treatment_to_target, suicide_risk, review_priority, engagement, relapse_prevention, billing, smi, "
        "comorbidity, data_quality",
    ),
    (
        "unknown_severity.yaml",
        15,
        17,
        R1,
        "'urgent' (text) is not allowed",
        None,
        "info, low, moderate, high, critical",
    ),
    (
        "action_not_snake_case.yaml",
        17,
        15,
        R1,
        "action 'Psychiatric case review' must be a snake_case code, e.g. psychiatric_case_review "
        "(put words in action_text)",
        None,
        None,
    ),
    (
        "test_unknown_fact.yaml",
        22,
        13,
        "test 'misspelt fact'",
        "unknown fact 'phq9.lastest'",
        "phq9.latest",
        None,
    ),
    ("test_unknown_rule.yaml", 23, 14, "test 'misspelt rule'", "'r11' is not a rule of this ruleset", "r1", "r1"),
    (
        "test_wrong_type.yaml",
        22,
        26,
        "test 'text for a number'",
        "'high' (text) does not fit 'phq9.latest', which is a number (points, 0..27)",
        None,
        None,
    ),
    (
        "test_invalid_episode.yaml",
        24,
        7,
        "test 'bad status'",
        f"record test 'bad status': status: 'active' (text) is not allowed; allowed: {STATUSES}; "
        "did you mean 'active_treatment'?",  # by meaning, not the closer-spelt 'inactive' (issue 11, item 18)
        None,
        None,
    ),
    (
        "test_episode_without_as_of.yaml",
        21,
        5,
        "test 'no date'",
        "a test with an 'episode' needs 'as_of' (the date to evaluate on)",
        None,
        None,
    ),
    (
        "yaml_syntax_error.yaml",
        12,
        4,
        None,
        "this is not valid YAML: while parsing a block collection, expected <block end>, "
        "but found '<block sequence start>'",
        None,
        None,
    ),
    (
        "title_names_a_fact.yaml",
        10,
        21,
        R1,
        "placeholder {phq9.latest} in a title: a title names the rule the same way for every patient, so only "
        "a parameter may fill it; put phq9.latest in the message",
        None,
        None,
    ),
    (
        "title_writes_out_a_parameter.yaml",
        17,
        32,
        R1,
        "'10 weeks' in the title is the value of parameter 'review_after_weeks', which this rule's condition "
        "uses: write {review_after_weeks} weeks so the title follows the parameter when your team changes it",
        "{review_after_weeks} weeks",
        None,
    ),
    (
        "message_writes_out_a_parameter.yaml",
        25,
        42,
        R1,
        "'50%' in the message is the value of parameter 'response_reduction', which this rule's condition "
        "uses: write {response_reduction:.0%} so the message follows the parameter when your team changes it",
        "{response_reduction:.0%}",
        None,
    ),
    (
        "duplicate_yaml_key.yaml",
        13,
        5,
        None,
        "duplicate key 'when' (first at line 12); each key may appear once",
        None,
        None,
    ),
]


@pytest.mark.parametrize(
    ("fixture", "line", "column", "context", "message", "suggestion", "allowed"),
    CASES,
    ids=[c[0].removesuffix(".yaml") for c in CASES],
)
def test_broken_fixture_reports_one_located_problem(
    fixture: str,
    line: int,
    column: int,
    context: str | None,
    message: str,
    suggestion: str | None,
    allowed: str | None,
) -> None:
    """Each broken fixture is refused with exactly its one problem: location, context, message,
    "did you mean" and what is allowed."""
    path = BROKEN / fixture
    problems = problems_of(path)
    assert 1 == len(problems), "\n".join(str(p) for p in problems)
    p = problems[0]
    assert f"{path}:{line}:{column}" == p.location
    assert (context, message) == (p.context, p.message)
    assert (suggestion, allowed) == (p.suggestion, p.allowed)


def test_every_broken_fixture_is_in_the_table() -> None:
    """No broken fixture file is left untested (and each table entry names an existing file)."""
    on_disk = {p.name for p in BROKEN.glob("*.yaml")} - {"multiple_errors.yaml"}
    assert sorted(on_disk) == sorted(c[0] for c in CASES)


def test_every_error_message_has_its_own_fixture() -> None:
    """One bad-YAML fixture per error message: no two table entries share a message and context
    (unknown facts are reported in a condition and in a test case: two places, two fixtures)."""
    messages = [(c[3], c[4]) for c in CASES]
    duplicates = {m for m in messages if messages.count(m) > 1}
    assert set() == duplicates


def test_rendered_error_reads_like_the_sketch() -> None:
    """``str(error)`` is location, context and message, the hint lines, then the summary line."""
    path = BROKEN / "unknown_fact.yaml"
    with pytest.raises(RulesetError) as info:
        load_rulesets(path)
    expected = (
        f"{path}:12:11: rule 'r1': unknown fact 'phq9.lastest'\n"
        "  did you mean 'phq9.latest'?\n"
        "1 error in 1 file; nothing was loaded."
    )
    assert expected == str(info.value)


def test_then_misspelt_key_is_not_also_reported_missing() -> None:
    """A misspelt ``severty`` is one problem; the "missing key 'severity'" it implies is not added."""
    problems = problems_of(BROKEN / "then_unknown_key.yaml")
    assert [] == [p for p in problems if "missing" in p.message]


# -- several problems at once -------------------------------------------------------------------

MULTI = BROKEN / "multiple_errors.yaml"


def test_all_problems_of_a_file_are_reported_at_once() -> None:
    """Seven mistakes in four rules come back together, with the summary line counting them."""
    with pytest.raises(RulesetError) as info:
        load_rulesets(MULTI)
    expected = [
        (17, 11, "rule 'r1'", "unknown fact 'phq9.lastest'"),
        (28, 31, "rule 'r2'", "'phq9.latest_date' is a date; it cannot be compared with the number 10"),
        (31, 7, "rule 'r2'", "unknown key 'severty'"),
        (37, 5, "rule 'r3'", "unknown key 'titel'"),
        (39, 21, "rule 'r3'", "'activ_treatment' is not a value of 'status'"),
        (50, 33, "rule 'r4'", "unknown parameter 'review_after_wekes'"),
        (54, 17, "rule 'r4'", "101 (number) is out of range: it must be at most 100"),
    ]
    assert expected == [(p.line, p.column, p.context, p.message) for p in info.value.problems]
    assert "7 errors in 1 file; nothing was loaded." == str(info.value).splitlines()[-1]


def test_problems_are_sorted_by_line() -> None:
    """Schema problems (found first) and condition problems are merged in file order."""
    lines = [(p.line, p.column) for p in problems_of(MULTI)]
    assert sorted(lines) == lines


def test_a_rule_with_a_wrong_key_still_has_its_condition_checked() -> None:
    """Rule r3 misspells ``title``; its condition's bad value is reported too."""
    r3 = [p.message for p in problems_of(MULTI) if p.context == "rule 'r3'"]
    assert ["unknown key 'titel'", "'activ_treatment' is not a value of 'status'"] == r3


def test_problems_in_two_files_are_reported_together() -> None:
    """Two broken files: both problems, and the summary counts two files."""
    with pytest.raises(RulesetError) as info:
        load_rulesets([BROKEN / "unknown_fact.yaml", BROKEN / "between_reversed.yaml"])
    assert 2 == len(info.value.problems)
    assert "2 errors in 2 files; nothing was loaded." == str(info.value).splitlines()[-1]


def test_a_broken_file_stops_a_good_one_from_loading() -> None:
    """Nothing from a failing set is loaded, not even the valid files in it."""
    problems = problems_of(T2T, BROKEN / "unknown_fact.yaml")
    assert [str(BROKEN / "unknown_fact.yaml")] == [p.file for p in problems]


def test_ruleset_error_is_in_the_hierarchy() -> None:
    """RulesetError is a DefinitionError, a CocmRulesError and a ValueError."""
    with pytest.raises(RulesetError) as info:
        load_rulesets(MULTI)
    assert isinstance(info.value, DefinitionError)
    assert isinstance(info.value, CocmRulesError)
    assert isinstance(info.value, ValueError)


# -- errors that need more than one file ------------------------------------------------------


def test_duplicate_rule_id_across_files() -> None:
    """Each file loads alone; together the second file's reuse of rule id 'r1' is refused."""
    folder = BROKEN / "duplicate_rule_id_across_files"
    for f in sorted(folder.glob("*.yaml")):
        assert 1 == len(load_ruleset(f).rules)
    problems = problems_of(folder)
    assert 1 == len(problems)
    p = problems[0]
    assert f"{folder / 'second.yaml'}:9:9" == p.location
    assert "rule 'r1'" == p.context
    expected = f"rule id 'r1' is also used in {folder / 'first.yaml'}; rule ids are unique across a set"
    assert expected == p.message


def test_a_parameter_with_two_values_across_files() -> None:
    """Each file loads alone; together, 'measure_overdue_days' at 21 days in the second file and
    30 in the first is refused: one name, one threshold across the set (issue 12, item 2)."""
    folder = BROKEN / "parameter_differs_across_files"
    for f in sorted(folder.glob("*.yaml")):
        assert 1 == len(load_ruleset(f).rules)
    (p,) = problems_of(folder)
    assert (f"{folder / 'second.yaml'}:10:12", "parameter 'measure_overdue_days'") == (p.location, p.context)
    expected = (
        f"21 days here but 30 days in {folder / 'first.yaml'} (ruleset 'first-file'): a parameter's name is one "
        "threshold in every ruleset loaded together; give both the same value and unit, or give this one a name "
        "of its own if it is a different threshold"
    )
    assert expected == p.message


def test_a_parameter_with_the_same_value_in_two_files_loads(tmp_path: Path) -> None:
    """The same name with the same value and unit (``day`` spelt differently) is one threshold: it loads."""
    folder = BROKEN / "parameter_differs_across_files"
    second = (
        (folder / "second.yaml")
        .read_text(encoding="utf-8")
        .replace("value: 21\n    unit: days", "value: 30\n    unit: day")
    )
    assert "unit: day\n" in second
    (tmp_path / "second.yaml").write_text(second, encoding="utf-8")
    assert 2 == len(load_rulesets([folder / "first.yaml", tmp_path / "second.yaml"]).rulesets)


def test_a_parameter_with_another_unit_across_files_is_refused(tmp_path: Path) -> None:
    """30 days in one file and 30 weeks in another are two thresholds under one name."""
    folder = BROKEN / "parameter_differs_across_files"
    text = (folder / "first.yaml").read_text(encoding="utf-8")
    other = text.replace("ruleset: first-file", "ruleset: other").replace("id: r1", "id: r3")
    other = other.replace("unit: days", "unit: weeks").replace("phq9.days_since_latest >", "weeks_in_treatment >")
    (tmp_path / "other.yaml").write_text(other, encoding="utf-8")
    (p,) = problems_of(folder / "first.yaml", tmp_path / "other.yaml")
    assert p.message.startswith(f"30 weeks here but 30 days in {folder / 'first.yaml'}")


def test_extended_refuses_a_parameter_with_another_value() -> None:
    """``extended`` checks parameters across both sets as loading them together does."""
    folder = BROKEN / "parameter_differs_across_files"
    first = load_rulesets(folder / "first.yaml")
    with pytest.raises(RulesetError) as info:
        first.extended(load_rulesets(folder / "second.yaml", library=first.library))
    assert ["parameter 'measure_overdue_days'"] == [p.context for p in info.value.problems]


def test_the_bundled_rulesets_share_response_definitions() -> None:
    """The PHQ-9 and GAD-7 response reductions are each one parameter name in every bundled
    ruleset that uses them (depression and psychiatric consultation; anxiety and psychiatric
    consultation), so the loader keeps them equal."""
    owners: dict[str, set[str]] = {}
    for rs in load_rulesets().rulesets:
        for name in rs.parameters:
            owners.setdefault(name, set()).add(rs.name)
    assert {"depression-treatment-to-target", "psychiatric-consultation"} == owners["phq9_response_reduction"]
    assert {"anxiety-treatment-to-target", "psychiatric-consultation"} == owners["gad7_response_reduction"]
    assert "response_reduction" not in owners


def test_duplicate_ruleset_name_across_files() -> None:
    """Two files both named 'same-name' are refused, pointing at the second file's name."""
    folder = BROKEN / "duplicate_ruleset_name"
    problems = problems_of(folder / "first.yaml", folder / "second.yaml")
    assert 1 == len(problems)
    assert f"{folder / 'second.yaml'}:2:10" == problems[0].location
    assert f"ruleset 'same-name' is also defined in {folder / 'first.yaml'}" == problems[0].message


# -- what the YAML reader refuses is located too (issue 11) --------------------------------------

FX = "rule 'fx-not-improving'"


def test_a_nul_byte_is_a_located_problem(tmp_path: Path) -> None:
    """``printf 'ruleset: a\\x00\\n'`` used to raise PyYAML's ReaderError out of the loader."""
    path = tmp_path / "nul.yaml"
    path.write_bytes(b"ruleset: a\x00\n")
    (problem,) = problems_of(path)
    assert (f"{path}:1:11", True) == (problem.location, problem.message.startswith("the file contains U+0000 (NUL)"))


def test_text_with_a_lone_surrogate_is_a_located_problem() -> None:
    """``text=`` with a lone surrogate could not even be hashed (UnicodeEncodeError); it is located."""
    text = T2T.read_text(encoding="utf-8").replace("owner: Test suite", "owner: Test \ud800suite")
    (problem,) = text_problems(text)
    assert ("<string>:7:13", "the file contains U+D800, a lone surrogate (not a character)") == (
        problem.location,
        problem.message.split(";")[0],
    )


@pytest.mark.parametrize(
    ("old", "new", "location", "context"),
    [
        ("ruleset: fixture-treat-to-target", "x[1]: 2\nruleset: fixture-treat-to-target", "<string>:3:1", None),
        (
            "      category: treatment_to_target",
            "      x[1]: 2\n      category: treatment_to_target",
            "<string>:29:7",
            FX,
        ),
        (
            "      category: treatment_to_target",
            "      int: 2\n      category: treatment_to_target",
            "<string>:29:7",
            FX,
        ),
    ],
)
def test_a_key_that_looks_like_a_pydantic_marker_is_an_unknown_key(
    old: str, new: str, location: str, context: str | None
) -> None:
    """A key containing ``[`` (or named like a type) used to be dropped as a pydantic union marker,
    then read as ``loc[-1]`` of an empty path: IndexError. It is an unknown key, located."""
    text = T2T.read_text(encoding="utf-8")
    assert old in text
    problems = text_problems(text.replace(old, new, 1))
    key = new.split(":")[0].strip()
    assert (location, context, f"unknown key {key!r}") == (
        problems[0].location,
        problems[0].context,
        problems[0].message,
    )


# -- warnings: a priority that tries to outrank suicide risk ------------------------------------

OUTRANKING = OK / "outranking.yaml"


def test_a_priority_at_or_above_a_suicide_rule_is_a_located_warning() -> None:
    """Priorities 100 and 85 (the lowest suicide priority) are warned about, at the priority
    value, saying why they cannot outrank suicide risk; 84 is not. The set still loads."""
    rulesets = load_rulesets([bundled_rulesets_path() / "suicide_risk.yaml", OUTRANKING])
    assert [
        (f"{OUTRANKING}:18:17", "rule 'fx-outrank-not-improving'"),
        (f"{OUTRANKING}:29:17", "rule 'fx-outrank-engagement'"),
    ] == [(w.location, w.context) for w in rulesets.warnings]
    first = rulesets.warnings[0]
    assert (
        "priority 100 cannot put this alert above suicide risk: suicide_risk alerts always come first, and "
        "patients with one rank above all others, whatever the priorities; this priority orders the rule "
        "among the other alerts only"
    ) == first.message
    assert "0-100; 0-84 keeps it below every suicide_risk rule (85-100)" == first.allowed
    assert ("rules", 0, "then", "priority") == first.path


def test_the_warning_is_logged_with_ids_only() -> None:
    """Each warning is a ``ruleset.priority_above_suicide_risk`` event: ruleset, rule, priority."""
    with capture_logs() as logs:
        load_rulesets([bundled_rulesets_path() / "suicide_risk.yaml", OUTRANKING])
    warned = [e for e in logs if e["event"] == "ruleset.priority_above_suicide_risk"]
    assert [
        {
            "event": "ruleset.priority_above_suicide_risk",
            "log_level": "warning",
            "ruleset": "fixture-outranking",
            "rule": "fx-outrank-not-improving",
            "priority": 100,
        },
        {
            "event": "ruleset.priority_above_suicide_risk",
            "log_level": "warning",
            "ruleset": "fixture-outranking",
            "rule": "fx-outrank-engagement",
            "priority": 85,
        },
    ] == warned


def test_the_bundled_rulesets_have_no_warnings() -> None:
    """No bundled rule outside suicide_risk has a priority at or above a suicide rule's."""
    assert () == load_rulesets().warnings


def test_extended_joins_two_sets_and_warns_for_the_whole() -> None:
    """``extended``: the bundled set plus one loaded separately is one set, warned about as a
    whole (the outranking rules were loaded without the suicide rules, so alone had no warning)."""
    bundled = load_rulesets()
    extra = load_rulesets(OUTRANKING, library=bundled.library)
    assert () == extra.warnings
    joined = bundled.extended(extra)
    assert [*bundled.rulesets, *extra.rulesets] == list(joined.rulesets)
    assert ["fx-outrank-not-improving", "fx-outrank-engagement"] == [
        (w.context or "").removeprefix("rule ").strip("'") for w in joined.warnings
    ]


def test_extended_refuses_a_rule_id_in_both_sets() -> None:
    """A rule id (or ruleset name) in both sets is refused, located in the second."""
    once = load_rulesets(T2T)
    with pytest.raises(RulesetError) as info:
        once.extended(load_rulesets(T2T, library=once.library))
    messages = [p.message for p in info.value.problems]
    assert f"ruleset 'fixture-treat-to-target' is also defined in {T2T}" == messages[0]
    assert all("rule ids are unique across a set" in m for m in messages[1:])


def test_without_suicide_rules_there_is_nothing_to_outrank() -> None:
    """A partial set with no suicide_risk rule has no priority warnings."""
    assert () == load_rulesets(OUTRANKING).warnings


# -- locations inside conditions ----------------------------------------------------------------

_TEMPLATE = """\
ruleset: located
version: "1"
effective: 2026-12-01
owner: Test suite
description: Column arithmetic of condition errors.

rules:
  - id: r1
    title: Rule one
    source: Test suite
    when: {when}
    then:
      category: treatment_to_target
      severity: high
      priority: 70
      action: psychiatric_case_review
      message: PHQ-9 is high.
"""


@pytest.mark.parametrize(
    ("when", "line", "column"),
    [
        ("phq9.latest >= 10 and phq9.lastest > 3", 11, 33),
        ("'phq9.latest >= 10 and phq9.lastest > 3'", 11, 34),
        ('"phq9.latest >= 10 and phq9.lastest > 3"', 11, 34),
        ("\n      all:\n        - phq9.latest >= 10\n        - phq9.lastest > 3", 14, 11),
        ("\n      any:\n        - phq9.latest >= 10\n        - not: phq9.lastest > 3", 14, 16),
    ],
    ids=["plain", "single-quoted", "double-quoted", "list-item", "nested-not"],
)
def test_condition_errors_point_at_the_word(when: str, line: int, column: int) -> None:
    """The column is the offending word's, whether the condition is plain, quoted or in a list."""
    problems = text_problems(_TEMPLATE.format(when=when))
    assert [(f"<string>:{line}:{column}", "unknown fact 'phq9.lastest'")] == [(p.location, p.message) for p in problems]


def test_wrapped_condition_error_points_at_the_continuation_line() -> None:
    """A long condition wrapped onto a second line (a plain YAML scalar) still points at the word.

    ``phq9.lastest`` is on line 12, column 7; the reported location must be a real position in
    the file, not a column past the end of line 11."""
    problems = text_problems(_TEMPLATE.format(when="phq9.latest >= 10 and\n      phq9.lastest > 3"))
    assert ["<string>:12:7"] == [p.location for p in problems]


# -- loading: paths, directories, text ----------------------------------------------------------


def test_missing_path_is_an_error() -> None:
    """A path that does not exist is a located problem, not an OSError."""
    missing = FIXTURES / "no_such_ruleset.yaml"
    problems = problems_of(missing)
    assert [(str(missing), "no such file or directory")] == [(p.location, p.message) for p in problems]


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    """A directory without ruleset files is refused."""
    problems = problems_of(tmp_path)
    assert ["no ruleset files (*.yaml or *.yml) in this directory or its subfolders"] == [p.message for p in problems]


def test_directory_loads_every_yaml_file() -> None:
    """A directory loads each ``*.yaml`` file in it, in name order."""
    files = sorted(OK.glob("*.yaml"))
    expected = [load_ruleset(f).name for f in files]
    assert expected == [rs.name for rs in load_rulesets(OK).rulesets]
    assert [str(f) for f in files] == [rs.file for rs in load_rulesets(OK).rulesets]


def test_directory_also_loads_yml_files(tmp_path: Path) -> None:
    """``*.yml`` files in a directory are loaded too."""
    shutil.copy(T2T, tmp_path / "t2t.yml")
    assert ["fixture-treat-to-target"] == [rs.name for rs in load_rulesets(tmp_path).rulesets]


def test_directory_loads_any_case_extension_and_subfolders(tmp_path: Path) -> None:
    """``.YAML`` / ``.Yml`` files and files in subfolders load too, sorted by path; hidden folders do not."""
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    shutil.copy(T2T, tmp_path / "sub" / "LOCAL2.YAML")
    shutil.copy(OK / "wrong_expectation.yaml", tmp_path / "sub" / "deeper" / "w.Yml")
    shutil.copy(BROKEN / "unknown_fact.yaml", tmp_path / ".git" / "ignored.yaml")
    expected = [str(tmp_path / "sub" / "LOCAL2.YAML"), str(tmp_path / "sub" / "deeper" / "w.Yml")]
    assert expected == [rs.file for rs in load_rulesets(tmp_path).rulesets]


def test_between_covering_the_whole_range_is_always_true() -> None:
    """``between 0 and 27`` on the PHQ-9 is refused; ``between 0 and 4`` (a band) is accepted."""
    text = (BROKEN / "comparison_never_true.yaml").read_text(encoding="utf-8")
    problems = text_problems(text.replace("phq9.latest > 27", "phq9.latest between 0 and 27"))
    expected = [
        "'phq9.latest between 0 and 27' is always true when phq9.latest has a value: "
        "phq9.latest is a number (points, 0..27)"
    ]
    assert expected == [p.message for p in problems]
    assert 1 == len(load_rulesets(text=text.replace("phq9.latest > 27", "phq9.latest between 0 and 4")).rulesets)


def test_parameter_unit_spellings_are_equivalent() -> None:
    """A parameter in ``Week`` compared with a fact in weeks is accepted (case and plural do not matter)."""
    text = (BROKEN / "parameter_unit_mismatch.yaml").read_text(encoding="utf-8")
    assert 1 == len(load_rulesets(text=text.replace("unit: days", "unit: Week")).rulesets)


def test_a_bad_date_does_not_hide_other_files() -> None:
    """A date that does not exist is a located problem, reported with the problems of other files."""
    problems = problems_of(BROKEN / "date_does_not_exist.yaml", BROKEN / "unknown_fact.yaml")
    expected = ["'2026-02-30' is not a real date", "unknown fact 'phq9.lastest'"]
    assert expected == [p.message for p in problems]


def test_a_test_fact_date_that_does_not_exist_is_located() -> None:
    """``phq9.latest_date: 2026-02-30`` in a test case is a located problem, not a crash."""
    text = (BROKEN / "test_value_out_of_range.yaml").read_text(encoding="utf-8")
    problems = text_problems(text.replace("{phq9.latest: 190}", "{phq9.latest_date: 2026-02-30}"))
    assert [("<string>:22:31", "'2026-02-30' is not a real date")] == [(p.location, p.message) for p in problems]


@pytest.mark.parametrize(
    ("when", "reason"),
    [
        # the same fact in two places of one all, through nesting
        (
            "{all: ['status == active_treatment and phq9.latest > 3', status == discharged]}",
            "'status' cannot be both == active_treatment and == discharged",
        ),
        ("{all: ['phq9.latest in [3, 4]', phq9.latest == 5]}", "'phq9.latest' cannot be both in [3, 4] and == 5"),
        ("{all: [status == inactive, status != inactive]}", "'status' cannot be both == inactive and != inactive"),
        (
            "{all: [has_relapse_prevention_plan == true, has_relapse_prevention_plan == false]}",
            "'has_relapse_prevention_plan' cannot be both == true and == false",
        ),
        (
            "{all: [status != active_treatment, status != discharged, status != inactive, "
            "status != relapse_prevention_plan]}",
            "'status' cannot be != active_treatment, != discharged, != inactive and != relapse_prevention_plan "
            "at once: status is text, one of: active_treatment, relapse_prevention_plan, discharged, inactive",
        ),
        (
            "{all: [phq9.latest_date > 2026-01-01, phq9.latest_date < 2026-01-02]}",
            "'phq9.latest_date' cannot be both > 2026-01-01 and < 2026-01-02: phq9.latest_date is a date (YYYY-MM-DD)",
        ),
        ("{all: [phq9.latest between 10 and 14, phq9.latest > 20]}", "'phq9.latest' cannot be both > 20 and <= 14"),
    ],
)
def test_contradictions_are_found_through_every_shape(when: str, reason: str) -> None:
    """Equal to two values, in a list and equal to another, a value and its opposite, every
    allowed value excluded, no day between two dates, a range and a bound: each is one located
    problem that names the fact and the comparisons that clash."""
    text = (BROKEN / "contradictory_text_values.yaml").read_text(encoding="utf-8")
    problems = text_problems(text.replace("when: status == active_treatment and status == discharged", f"when: {when}"))
    assert [f"these conditions can never all be true: {reason}"] == [p.message for p in problems]


def test_a_contradiction_is_reported_once_where_it_is() -> None:
    """A dead branch of an 'any' is reported in the branch; the 'all' around it is reported only
    for what is new there (status), not for the branch again."""
    text = (BROKEN / "contradictory_text_values.yaml").read_text(encoding="utf-8")
    when = (
        "{all: [status == active_treatment, "
        "{any: [status == discharged, 'phq9.item9_latest > 2 and phq9.item9_latest != 3']}]}"
    )
    problems = text_problems(text.replace("when: status == active_treatment and status == discharged", f"when: {when}"))
    assert [
        "these conditions can never all be true: 'status' cannot be both == active_treatment and == discharged",
        "these conditions can never all be true: 'phq9.item9_latest' cannot be both > 2 and != 3: "
        "phq9.item9_latest is a whole number (no unit, 0..3)",
    ] == [p.message for p in problems]


@pytest.mark.parametrize(
    "when",
    [
        "phq9.pct_reduction > 0.3 and phq9.pct_reduction < 0.31",  # a number, not a whole number
        "{any: [status == active_treatment and status == discharged, phq9.latest > 10]}",  # one branch is fine
        "status in [active_treatment, inactive] and status != inactive",
        "weeks_in_treatment >= 3 and weeks_in_treatment < 4",
        "not has_relapse_prevention_plan and has_relapse_prevention_plan is missing",
        "phq9.latest_date > 2026-01-01 and phq9.latest_date < 2026-01-03",
    ],
)
def test_conditions_that_can_be_true_are_not_refused(when: str) -> None:
    """The check never refuses a condition some patient can meet (a dead branch of an 'any' is
    still reported where it is, as its own conjunction)."""
    text = (BROKEN / "contradictory_text_values.yaml").read_text(encoding="utf-8")
    quoted = when if when.startswith("{") else f'"{when}"'
    text = text.replace("when: status == active_treatment and status == discharged", f"when: {quoted}")
    if "any:" in when:
        problems = text_problems(text)
        assert [
            "these conditions can never all be true: 'status' cannot be both == active_treatment and == discharged"
        ] == [p.message for p in problems]
        assert "<string>:12:18" == problems[0].location
    else:
        assert 1 == len(load_rulesets(text=text).rulesets[0].rules)


def test_did_you_mean_prefers_the_value_that_starts_with_what_was_typed() -> None:
    """``status == active`` suggests 'active_treatment' (which starts with it), not the closer-spelt 'inactive'."""
    text = (BROKEN / "text_value_not_allowed.yaml").read_text(encoding="utf-8")
    problems = text_problems(text.replace("activ_treatment", "active"))
    assert [("'active' is not a value of 'status'", "active_treatment")] == [
        (p.message, p.suggestion) for p in problems
    ]


def test_load_from_text() -> None:
    """``text=`` loads one ruleset from a string; its file is ``<string>``."""
    text = T2T.read_text(encoding="utf-8")
    rs = load_rulesets(text=text).rulesets[0]
    assert ("fixture-treat-to-target", "<string>") == (rs.name, rs.file)
    assert hashlib.sha256(text.encode()).hexdigest() == rs.sha256


def test_load_from_text_reports_string_locations() -> None:
    """Problems in a text ruleset are located as ``<string>:line:column``."""
    text = (BROKEN / "unknown_fact.yaml").read_text(encoding="utf-8")
    assert ["<string>:12:11"] == [p.location for p in text_problems(text)]


def test_empty_text_is_an_error() -> None:
    """An empty document is refused, not loaded as nothing."""
    assert ["the file is empty"] == [p.message for p in text_problems("")]


def test_a_list_is_not_a_ruleset() -> None:
    """A YAML document that is not a mapping is refused with a plain explanation."""
    expected = ["a ruleset file must be a mapping of keys to values (ruleset, version, ...)"]
    assert expected == [p.message for p in text_problems("- one\n- two\n")]


# -- the valid fixture and its IR -------------------------------------------------------------


@pytest.fixture(scope="module")
def t2t() -> Ruleset:
    """The valid treat-to-target fixture."""
    return load_ruleset(T2T)


def _rule(rs: Ruleset, rule_id: str):  # type: ignore[no-untyped-def]
    return next(r for r in rs.rules if r.rule_id == rule_id)


def test_valid_ruleset_header(t2t: Ruleset) -> None:
    """The header fields are read as written."""
    expected = ("fixture-treat-to-target", "Fixture - treat to target", "1.2.3", dt.date(2026, 12, 1), "Test suite")
    assert expected == (t2t.name, t2t.title, t2t.version, t2t.effective, t2t.owner)
    assert str(T2T) == t2t.file


def test_valid_ruleset_rules_in_file_order(t2t: Ruleset) -> None:
    """Rules keep their file order."""
    expected = [
        "fx-not-improving",
        "fx-moderate-band",
        "fx-not-active",
        "fx-halved",
        "fx-no-plan",
        "fx-tie-b",
        "fx-tie-a",
    ]
    assert expected == [r.rule_id for r in t2t.rules]


def test_sha256_is_the_file_hash(t2t: Ruleset) -> None:
    """``Ruleset.sha256`` is the SHA-256 of the file's bytes (for audit logs)."""
    assert hashlib.sha256(T2T.read_bytes()).hexdigest() == t2t.sha256


def test_parameters_are_substituted_and_recorded(t2t: Ruleset) -> None:
    """Parameter names become their values in the IR, and the rule records the ones it used."""
    rule = _rule(t2t, "fx-not-improving")
    expected = And(
        (
            Cmp("phq9.baseline", ">=", 10),
            Cmp("weeks_in_treatment", ">=", 10),
            Cmp("phq9.pct_reduction", "<", 0.5),
        )
    )
    assert expected == rule.condition
    assert {"review_after_weeks": 10, "response_drop": 0.5} == rule.parameters


def test_rule_without_parameters_records_none(t2t: Ruleset) -> None:
    """A rule using no parameter has an empty ``parameters``."""
    assert {} == _rule(t2t, "fx-halved").parameters


def test_between_lowers_to_two_comparisons(t2t: Ruleset) -> None:
    """``between 10 and 14`` is ``>= 10 and <= 14``."""
    expected = And((Cmp("phq9.latest", ">=", 10), Cmp("phq9.latest", "<=", 14)))
    assert expected == _rule(t2t, "fx-moderate-band").condition


def test_not_in_lowers_to_not_of_in(t2t: Ruleset) -> None:
    """``not in [a, b]`` is Not(In) with the words as text values."""
    expected = Not(In("status", ("active_treatment", "relapse_prevention_plan")))
    assert expected == _rule(t2t, "fx-not-active").condition


def test_percent_lowers_to_a_fraction(t2t: Ruleset) -> None:
    """``50%`` is the number 0.5 in the IR."""
    assert Cmp("phq9.pct_reduction", ">=", 0.5) == _rule(t2t, "fx-halved").condition


def test_bare_yes_no_fact_lowers_to_equals_true(t2t: Ruleset) -> None:
    """``not has_relapse_prevention_plan`` is Not(== true)."""
    expected = And((Cmp("phq9.latest", "<", 5), Not(Cmp("has_relapse_prevention_plan", "==", True))))
    assert expected == _rule(t2t, "fx-no-plan").condition


def test_nested_any_not_all_lower_structurally(t2t: Ruleset) -> None:
    """YAML ``any`` / ``not`` / ``all`` become Or / Not / And; a date literal stays a date."""
    expected = Or(
        (
            Cmp("weeks_in_treatment", ">=", 20),
            Not(And((Present("phq9.latest"), Cmp("phq9.latest_date", ">=", dt.date(2020, 1, 1))))),
        )
    )
    assert expected == _rule(t2t, "fx-tie-a").condition


def test_rule_ir_carries_the_then_fields(t2t: Ruleset) -> None:
    """A RuleIR carries everything its alert needs."""
    rule = _rule(t2t, "fx-not-improving")
    expected = (
        "fixture-treat-to-target",
        "1.2.3",
        "Not improving after 10 weeks",
        "treatment_to_target",
        "high",
        70,
        "psychiatric_case_review",
        "Discuss at the next psychiatric case review",
        "AIMS Center CoCM implementation guide",
    )
    actual = (
        rule.ruleset,
        rule.ruleset_version,
        rule.title,
        rule.category,
        rule.severity,
        rule.priority,
        rule.action,
        rule.action_text,
        rule.source,
    )
    assert expected == actual
    assert ("phq9.baseline", "weeks_in_treatment", "phq9.pct_reduction") == rule.facts


# -- titles follow their parameters; numbers that copy a parameter are refused (issue 12, item 2) --

_ONE_RULE = """\
ruleset: one-rule
version: "1"
effective: 2026-12-01
owner: Test suite
description: One rule with parameters.

parameters:
  review_after_weeks:
    value: 10
    unit: weeks
    source: Test suite
  response_reduction:
    value: 0.5
    source: Test suite
  loss_window_days:
    value: 90
    unit: days
    source: Test suite

rules:
  - id: r1
    title: {title}
    source: Test suite
    when: weeks_in_treatment >= review_after_weeks and phq9.pct_reduction < response_reduction
    then:
      category: treatment_to_target
      severity: high
      priority: 70
      action: psychiatric_case_review
      message: "{message} ({{loss_window_days}})"
"""


def _one_rule(title: str, message: str = "PHQ-9 {phq9.latest}.") -> RulesetSet:
    return load_rulesets(text=_ONE_RULE.format(title=title, message=message))


def test_a_title_shows_the_parameter_it_names() -> None:
    """``{review_after_weeks}`` in a title is filled in when the ruleset loads, with its format,
    so every alert's title says the value the rule really uses."""
    rule = _one_rule("Under {response_reduction:.0%} after {review_after_weeks} weeks").rulesets[0].rules[0]
    assert "Under 50% after 10 weeks" == rule.title


def test_a_title_follows_a_changed_parameter() -> None:
    """Change the parameter, and the title (and the message) change with it: 0.4 and 12 weeks."""
    text = _ONE_RULE.format(
        title="Under {response_reduction:.0%} after {review_after_weeks} weeks",
        message="Less than {response_reduction:.0%} better",
    )
    text = text.replace("value: 10", "value: 12").replace("value: 0.5", "value: 0.4")
    engine = Engine(load_rulesets(text=text), safety_floor=False)
    (alert,) = engine.evaluate_facts({"weeks_in_treatment": 12, "phq9.pct_reduction": 0.1}, dt.date(2026, 12, 1))
    assert ("Under 40% after 12 weeks", "Less than 40% better (90)") == (alert.title, alert.message)


def test_a_parameter_named_only_in_a_title_is_used() -> None:
    """A parameter that appears only in a title counts as used (it is not refused as unused)."""
    text = _ONE_RULE.format(title="After {loss_window_days} days", message="x").replace(" ({loss_window_days})", "")
    assert "After 90 days" == load_rulesets(text=text).rulesets[0].rules[0].title


def test_a_title_with_a_stray_brace_says_title() -> None:
    """A stray brace in a title is reported as the title's, at the title."""
    (problem,) = text_problems(_ONE_RULE.format(title="After review_after_weeks} weeks", message="x"))
    assert (
        "<string>:22:12",
        "the title has a stray brace (Single '}' encountered in format string); write {{ or }} for a literal brace",
    ) == (problem.location, problem.message)


@pytest.mark.parametrize(
    ("title", "message"),
    [
        ("PHQ-9 not improving", "PHQ-9 is 10; the usual review is at 10-12 weeks."),  # a range, and no unit
        ("No admissions in 90 days", "PHQ-9 {phq9.latest}."),  # 90 days is a parameter the condition does not use
        ("PCL-5 and GAD-7", "A 5-point and 7 point rise."),  # numbers in names, and no parameter of 5 or 7 points
        ("Less than {response_reduction:.0%}", "{phq9.pct_reduction:.0%} lower after {weeks_in_treatment} weeks"),
        ("After 11 weeks", "Half (0.5) is not written as a percentage."),
    ],
)
def test_numbers_that_do_not_copy_a_used_parameter_are_allowed(title: str, message: str) -> None:
    """Only a number written with the unit (or as a percentage) of a parameter the rule's
    condition uses, and equal to its value, is refused: ranges, measure names, other numbers
    and other parameters' values are not."""
    assert 1 == len(_one_rule(title, message).rulesets[0].rules)


@pytest.mark.parametrize(
    ("title", "message", "found"),
    [
        ("After 10 weeks", "x", "'10 weeks' in the title"),
        ("After a 10-week course", "x", "'10-week' in the title"),
        ("x", "Under 50 % better", "'50 %' in the message"),
        ("x", "A review at 10 Weeks", "'10 Weeks' in the message"),
        ("x", "Less than 50.0% better", "'50.0%' in the message"),
    ],
)
def test_numbers_that_copy_a_used_parameter_are_refused(title: str, message: str, found: str) -> None:
    """A parameter's value written out with its unit, hyphenated, in capitals, or as a
    percentage with a space or decimals, is found."""
    (problem,) = text_problems(_ONE_RULE.format(title=title, message=message))
    assert found == problem.message.split(" is the value")[0]


def test_message_is_split_into_text_and_placeholders(t2t: Ruleset) -> None:
    """Placeholders keep their format spec and know whether they name a parameter."""
    rule = _rule(t2t, "fx-not-improving")
    placeholders = [(p.name, p.spec, p.is_param) for p in rule.message if p.name]
    expected = [
        ("phq9.latest", "", False),
        ("weeks_in_treatment", "", False),
        ("phq9.baseline", "", False),
        ("phq9.pct_reduction", ".0%", False),
        ("review_after_weeks", "", True),
    ]
    assert expected == placeholders
    assert MessagePart(text="PHQ-9 ") == rule.message[0]


def test_facts_needed_include_message_placeholders(t2t: Ruleset) -> None:
    """The program needs the facts of conditions and of messages (not parameters), sorted."""
    program = load_rulesets(T2T).program
    expected = (
        "days_since_psych_consult",  # only in a message
        "has_relapse_prevention_plan",
        "phq9.baseline",
        "phq9.change",  # only in a message
        "phq9.latest",
        "phq9.latest_date",
        "phq9.pct_reduction",
        "status",
        "weeks_in_treatment",
    )
    assert expected == program.facts_needed


def test_embedded_tests_are_parsed(t2t: Ruleset) -> None:
    """Test cases are kept as TestCaseSpec objects, dates parsed."""
    assert 3 == len(t2t.tests)
    assert all(isinstance(t, CaseSpec) for t in t2t.tests)
    episode_case = t2t.tests[2]
    assert (dt.date(2026, 11, 2), ["fx-moderate-band", "fx-not-active"]) == (episode_case.as_of, episode_case.expect)


def test_where_locates_a_test_case(t2t: Ruleset) -> None:
    """``Ruleset.where`` turns a path into ``file:line:column``."""
    line = T2T.read_text(encoding="utf-8").splitlines().index("  - name: twelve weeks, 20 -> 16, not improving") + 1
    assert f"{T2T}:{line}:5" == t2t.where(("tests", 0))


def test_bundled_suicide_ruleset_loads() -> None:
    """The bundled suicide-risk ruleset is valid."""
    rs = load_ruleset(bundled_rulesets_path() / "suicide_risk.yaml")
    assert "suicide-risk" == rs.name
    assert all(r.category == "suicide_risk" for r in rs.rules)


@pytest.mark.parametrize(
    ("when", "message", "suggestion"),
    [
        (
            "phq9.latest == null",
            "'null' is not a value: to test that phq9.latest has no value, write 'phq9.latest is missing' "
            "('is present' for the opposite)",
            None,
        ),
        (
            "cssrs_screener.level == None",
            "'None' is not a value: to test that cssrs_screener.level has no value, write "
            "'cssrs_screener.level is missing' ('is present' for the opposite)",
            "none",
        ),
        (
            "phq9.response == yes",
            "phq9.response is yes/no: write 'phq9.response' (or 'phq9.response == true') for yes and "
            "'not phq9.response' (or 'phq9.response == false') for no",
            None,
        ),
        ("phq9.latest == missing", "to test whether a fact has a value, write 'FACT is missing'", None),
    ],
    ids=["null", "None-on-a-level", "yes", "missing"],
)
def test_no_value_and_yes_no_words_teach_the_right_form(when: str, message: str, suggestion: str | None) -> None:
    """Words a lead might use for "no value" or for yes/no point to 'is missing' and true/false."""
    problems = text_problems(_TEMPLATE.format(when=when))
    assert [(message, suggestion)] == [(p.message, p.suggestion) for p in problems]


def test_a_level_named_none_is_still_a_value(tmp_path: Path) -> None:
    """'none' is an allowed level of the C-SSRS screener: comparing with it is fine."""
    path = tmp_path / "level.yaml"
    path.write_text(_TEMPLATE.format(when="cssrs_screener.level == none"), encoding="utf-8")
    (rule,) = load_rulesets(path).rulesets[0].rules
    assert Cmp("cssrs_screener.level", "==", "none") == rule.condition

"""The ``cocm-rules`` command line: content through typer's CliRunner, exit codes and streams
through real ``python -m cocm_rules`` processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import cocm_rules
from cocm_rules import InvalidInput, load_measures
from cocm_rules.cli import app, parse_answers, parse_params
from cocm_rules.measures import MeasureDefinition

ROOT = Path(__file__).resolve().parent.parent
ITEM9_ONLY = "0,0,0,0,0,0,0,0,1"
OUT_OF_RANGE = (
    "error: measure 'phq9', item 'item1': answer out of range (got 4 (number)); "
    "allowed: 0 = not at all, 1 = several days, 2 = more than half the days, 3 = nearly every day"
)


pytestmark = pytest.mark.usefixtures("restore_structlog")


def invoke(*args: str) -> Any:
    """Run the app in-process with a wide terminal, so rich does not wrap what we look for."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "220", "NO_COLOR": "1"})


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m cocm_rules`` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "cocm_rules", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "160"},
    )


# -- answers and parameters -------------------------------------------------------------------


def test_parse_answers_numbers_yes_no_and_blanks() -> None:
    """Numbers, yes/no (y/n) and the blank spellings are parsed; case and spaces do not matter."""
    expected = [0, 3, "yes", "no", "yes", "no", None, None, None, None, -1]
    assert expected == parse_answers("0, 3,YES,no,y,N,,-,null, NA,-1")


@pytest.mark.parametrize(("text", "position", "token"), [("0,0,x", 3, "x"), ("1.5", 1, "1.5"), ("0,two", 2, "two")])
def test_parse_answers_bad_token_names_position_and_token(text: str, position: int, token: str) -> None:
    """A token that is not an answer is an InvalidInput naming its 1-based position and the token."""
    with pytest.raises(InvalidInput) as info:
        parse_answers(text)
    assert f"position {position} is not an answer (got {token!r} (text))" in str(info.value)


def test_parse_params_numbers_and_text() -> None:
    """Integer and decimal values become numbers; other values stay text for the scorer to check."""
    assert {"cut_point": 31, "ratio": 0.5, "sex": "female"} == parse_params(
        ["cut_point=31", "ratio = 0.5", "sex=female"]
    )


@pytest.mark.parametrize(
    ("pairs", "message"),
    [(["cut_point"], "expected NAME=VALUE"), (["=3"], "expected NAME=VALUE"), (["a=1", "a=2"], "given twice")],
)
def test_parse_params_rejects_bad_shapes(pairs: list[str], message: str) -> None:
    """A --param without NAME=VALUE, or a name given twice, is refused."""
    with pytest.raises(InvalidInput, match=message):
        parse_params(pairs)


# -- score ----------------------------------------------------------------------------------


def test_score_json_is_exactly_the_score_model() -> None:
    """--json prints exactly Score.model_dump_json(indent=2) and nothing else on stdout."""
    result = invoke("score", "phq9", "--answers", ITEM9_ONLY, "--json")
    assert 0 == result.exit_code, result.output
    expected = cocm_rules.score("phq9", [0, 0, 0, 0, 0, 0, 0, 0, 1]).model_dump_json(indent=2)
    assert expected + "\n" == result.stdout


def test_score_panel_shows_total_band_and_flags() -> None:
    """Without --json, the panel shows total and range, band, flags and validity."""
    result = invoke("score", "phq9", "--answers", ITEM9_ONLY)
    assert 0 == result.exit_code, result.output
    for text in ("Patient Health Questionnaire-9 (phq9)", "1 of 0-27", "minimal", "suicide_risk", "valid"):
        assert text in result.stdout


def test_score_panel_shows_missing_items_proration_and_undetermined_flags() -> None:
    """A blank safety item shows the missing item, the prorated total and the fail-closed flag."""
    result = invoke("score", "phq9", "--answers", "1,1,1,1,1,1,1,1,-")
    assert 0 == result.exit_code, result.output
    for text in ("9 of 0-27 (prorated)", "safety_item_missing", "missing items", "item9", "cannot rule out"):
        assert text in result.stdout


def test_score_panel_shows_subscores_diagnosis_and_unconfirmed() -> None:
    """Subscores, the provisional diagnosis, other results and unconfirmed elements are shown."""
    pcl5 = invoke("score", "pcl5", "--answers", "2,0,0,0,0,2,0,2,2,0,0,0,0,0,2,2,0,0,0,0")
    assert "provisional_ptsd" in pcl5.stdout
    assert "cluster_b 2, cluster_c 2, cluster_d 4, cluster_e 4" in pcl5.stdout
    whodas = invoke("score", "whodas12", "--answers", "2,2,2,2,2,1,1,1,1,1,1,1")
    assert "percent_of_max 10.4" in whodas.stdout
    assert "percent_of_max (unconfirmed)" in whodas.stdout


def test_score_yes_no_answers_and_skipped_questions() -> None:
    """yes/no answers and blanks for skipped questions score the C-SSRS screener."""
    result = invoke("score", "cssrs_screener", "--answers", "yes,yes,no,yes,no,no", "--json")
    data = json.loads(result.stdout)
    assert ("high", ["suicide_risk", "urgent_suicide_risk"]) == (data["band"], data["flags"])
    skipped = json.loads(invoke("score", "cssrs_screener", "--answers", "no,no,,,,no", "--json").stdout)
    assert ("none", True) == (skipped["band"], skipped["valid"])


def test_score_sex_and_param_reach_the_scorer() -> None:
    """--sex is the AUDIT-C context and --param overrides a documented parameter within its limits."""
    default = json.loads(invoke("score", "auditc", "--answers", "2,1,1", "--sex", "male", "--json").stdout)
    stricter = invoke("score", "auditc", "--answers", "2,1,1", "--sex", "male", "--param", "cutoff_male=5", "--json")
    assert (4, True) == (default["total"], default["positive_screen"])
    assert False is json.loads(stricter.stdout)["positive_screen"]


def test_score_reported_total_is_checked() -> None:
    """A reported total that differs from the items is reported, not accepted."""
    data = json.loads(
        invoke("score", "phq9", "--answers", "1,1,1,1,1,1,1,1,1", "--reported-total", "12", "--json").stdout
    )
    assert (9, 12, False) == (data["total"], data["reported_total"], data["total_agrees"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["score", "phq9", "--answers", "4,0,0,0,0,0,0,0,0"], OUT_OF_RANGE),
        (["score", "phq9", "--answers", "0,0,x,0,0,0,0,0,0"], "error: field '--answers': position 3 is not an answer"),
        (["score", "phq9", "--answers", "0,0,0,0,0,0,0,0,yes"], "item 'item9': an answer must be one of"),
        (["score", "phq9", "--answers", "0,0,0"], "wrong number of answers"),
        (["score", "phq", "--answers", "0"], "unknown measure"),
        (["score", "auditc", "--answers", "2,1,1"], "missing required context 'sex'"),
        (
            ["score", "auditc", "--answers", "2,1,1", "--sex", "f"],
            "invalid sex (got 'f' (text)); allowed: female, male",
        ),
        (["score", "auditc", "--answers", "2,1,1", "--sex", "male", "--param", "sex=female"], "sex is given twice"),
        (["score", "pcl5", "--answers", "0", "--param", "cut_point=38"], "outside its documented limits"),
        (["score", "phq9", "--param", "cut_pont=9", "--answers", ITEM9_ONLY], "did you mean 'cut_point'?"),
        (["score", "phq9", "--reported-total", "abc"], "a reported total must be a number"),
        (["score", "phq9"], "no answers and no reported total"),
        (["measures", "show", "phq"], "unknown measure"),
    ],
)
def test_invalid_input_exits_2_with_one_error_line(args: list[str], message: str) -> None:
    """Invalid input exits 2 with one `error: ...` line on stderr and nothing on stdout."""
    result = invoke(*args)
    assert 2 == result.exit_code
    assert "" == result.stdout
    lines = result.stderr.splitlines()
    assert 1 == len(lines), result.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]


def test_out_of_range_message_is_the_documented_one() -> None:
    """The out-of-range error names the measure, item, value and allowed answers, as documented."""
    assert OUT_OF_RANGE + "\n" == invoke("score", "phq9", "--answers", "4,0,0,0,0,0,0,0,0").stderr


def test_unknown_measure_suggests_a_close_one() -> None:
    """An unknown measure id lists the known ones and says "did you mean"."""
    stderr = invoke("measures", "show", "phq-9").stderr
    assert "error: measure 'phq-9': unknown measure; allowed: asrm, auditc," in stderr
    assert "did you mean 'phq9'?" in stderr


@pytest.mark.parametrize("value", ["1e400", "1" + "0" * 400], ids=["float-beyond-range", "401-digit-integer"])
def test_a_parameter_beyond_float_range_is_a_one_line_error(value: str) -> None:
    """``--param cut_point=`` with a number beyond float range exits with status 2 and a
    one-line reason naming the parameter (issue 11: a long integer once raised OverflowError)."""
    result = invoke("score", "pcl5", "--answers", ",".join(["2"] * 20), "--param", f"cut_point={value}")
    assert 2 == result.exit_code, result.output[-500:]
    assert 1 == len(result.stderr.strip().splitlines())
    assert "cut_point" in result.stderr


def test_answers_are_never_logged() -> None:
    """Even at debug level the log names the measure and counts, never the answers."""
    result = invoke("-vv", "score", "phq9", "--answers", "3,2,1,0,3,2,1,0,1", "--json")
    assert 0 == result.exit_code, result.output
    assert "cli.score" in result.stderr
    assert "measure=phq9" in result.stderr
    for leak in ("3,2,1", "3, 2, 1", "'item1'", "item1="):
        assert leak not in result.stderr
    assert 1 == json.loads(result.stdout)["answers"]["item9"]


def test_warnings_only_by_default() -> None:
    """Without -v nothing is logged on stderr for a successful command."""
    result = invoke("score", "phq9", "--answers", ITEM9_ONLY, "--json")
    assert "" == result.stderr


# -- measures ---------------------------------------------------------------------------------


def test_measures_lists_every_measure_with_range_bands_and_marker() -> None:
    """`measures` lists every bundled measure with its items, range, bands and a marker."""
    result = invoke("measures")
    assert 0 == result.exit_code, result.output
    lines = result.stdout.splitlines()
    for measure_id in load_measures():
        assert any(line.split()[:1] == [measure_id] for line in lines), measure_id
    phq9 = next(line for line in lines if line.split()[:1] == ["phq9"])
    assert "Patient Health Questionnaire-9" in phq9
    for text in (" 10 ", "0-27", "minimal 0-4, mild 5-9"):
        assert text in phq9
    assert "! 1 unconfirmed" in result.stdout  # e.g. AUDIT-C's missing-item policy
    auditc_at = next(n for n, line in enumerate(lines) if line.split()[:1] == ["auditc"])
    assert "! 1 unconfirmed" in lines[auditc_at] + lines[auditc_at + 1]


def test_measures_show_has_everything_a_clinician_needs() -> None:
    """`measures show phq9` shows items, values, safety item, LOINC, total, bands, policy,
    parameters, flags, results, targets and sources, with statuses."""
    result = invoke("measures", "show", "phq9")
    assert 0 == result.exit_code, result.output
    for text in (
        "Patient Health Questionnaire-9 (phq9)",
        "last 2 weeks",
        "respondent",
        "little interest or pleasure in doing things",
        "0 = not at all",
        "3 = nearly every day",
        "SAFETY",
        "optional",
        "not scored",
        "44260-8",
        "range 0-27",
        "moderately_severe",
        "15-19",
        "prorate",
        "cut_point",
        "suicide_risk",
        "item9 >= 1",
        "safety_item_missing",
        "provisional_diagnosis",
        "major_depressive_syndrome",
        "remission",
        "[confirmed] kroenke2001",
        "Kroenke K, Spitzer RL",
        "worked examples",
    ):
        assert text in result.stdout, text


def test_measures_show_marks_unconfirmed_and_skip_logic() -> None:
    """Unconfirmed elements are listed; skip logic and context are shown."""
    auditc = invoke("measures", "show", "auditc").stdout
    assert "[unconfirmed] project" in auditc
    assert "Not confirmed" in auditc
    assert "female, male" in auditc
    assert "3 to 5" in auditc  # cutoff_female limits
    cssrs = invoke("measures", "show", "cssrs_screener").stdout
    assert "asked when q2 = 1" in cssrs
    assert "(also yes/no)" in cssrs
    assert "[policy] project" in cssrs


@pytest.mark.parametrize("measure_id", sorted(load_measures()))
def test_measures_show_json_round_trips(measure_id: str) -> None:
    """`measures show ID --json` is the whole definition: it validates back to the same one."""
    result = invoke("measures", "show", measure_id, "--json")
    assert 0 == result.exit_code, result.output
    assert load_measures()[measure_id] == MeasureDefinition.model_validate(json.loads(result.stdout))


def test_version() -> None:
    """--version prints the package version."""
    result = invoke("--version")
    assert (0, f"cocm-rules {cocm_rules.__version__}\n") == (result.exit_code, result.stdout)


# -- real processes ---------------------------------------------------------------------------


def test_process_score_json_example() -> None:
    """The documented example: total 1, band minimal, flags [suicide_risk]; stdout is pure JSON."""
    proc = run("score", "phq9", "--answers", ITEM9_ONLY, "--json")
    assert (0, "") == (proc.returncode, proc.stderr)
    data = json.loads(proc.stdout)
    assert (1, "minimal", ["suicide_risk"]) == (data["total"], data["band"], data["flags"])


def test_process_debug_logs_go_to_stderr_only() -> None:
    """With -vv the library's debug events go to stderr; stdout still parses as JSON."""
    proc = run("-vv", "score", "phq9", "--answers", ITEM9_ONLY, "--json")
    assert 0 == proc.returncode
    assert "measure.loaded" in proc.stderr
    assert 1 == json.loads(proc.stdout)["total"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("score", "phq9", "--answers", "4,0,0,0,0,0,0,0,0"), OUT_OF_RANGE),
        (("score", "phq9", "--answers", "0,0,x"), "error: field '--answers': position 3 is not an answer"),
        (("score", "phq9", "--answers", ITEM9_ONLY, "--json", "--param", "cut_point=12"), "error: field 'cut_point'"),
        (("measures", "show", "nope"), "error: measure 'nope': unknown measure"),
    ],
)
def test_process_invalid_input_exit_2_one_line_no_traceback(args: tuple[str, ...], expected: str) -> None:
    """A real process exits 2 with exactly one stderr line starting `error: `, and no traceback."""
    proc = run(*args)
    assert 2 == proc.returncode
    assert "" == proc.stdout
    assert 1 == len(proc.stderr.splitlines()), proc.stderr
    assert proc.stderr.startswith(expected)
    assert "Traceback" not in proc.stderr


def test_console_script_is_installed() -> None:
    """The `cocm-rules` console script is installed beside this Python and works."""
    script = Path(sysconfig.get_path("scripts")) / "cocm-rules"
    assert script.exists(), f"{script} missing: install the package (make venv)"
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert (0, f"cocm-rules {cocm_rules.__version__}\n") == (proc.returncode, proc.stdout)

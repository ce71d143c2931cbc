"""The engine and caseload commands: validate, test, facts, schema, evaluate, review, caseload,
synth, score --fhir and serve."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cocm_rules import load_rulesets
from cocm_rules.cli import app
from cocm_rules.facts import catalog_markdown

ROOT = Path(__file__).resolve().parent.parent
CASELOAD = str(ROOT / "examples" / "caseload.jsonl")
EPISODE = str(ROOT / "examples" / "episode_phq9_not_improving.json")
BROKEN = ROOT / "tests" / "fixtures" / "rulesets_broken"
OK = ROOT / "tests" / "fixtures" / "rulesets_ok"
FHIR = ROOT / "tests" / "fixtures" / "fhir"
AS_OF = "2026-11-20"


pytestmark = pytest.mark.usefixtures("restore_structlog")


def invoke(*args: str) -> Any:
    """Run the app in-process with a wide terminal."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "240", "NO_COLOR": "1"})


def test_validate_the_bundled_rulesets() -> None:
    """The bundled set is valid and passes the safety floor: exit 0 and a summary line."""
    result = invoke("validate")
    assert 0 == result.exit_code, result.output
    loaded = load_rulesets()
    summary = f"{len(loaded.rulesets)} rulesets, {sum(len(rs.rules) for rs in loaded.rulesets)} rules"
    assert f"{summary}: valid; safety floor passed." in result.output


def test_validate_reports_every_problem_with_its_location_and_exits_1() -> None:
    """A broken file: each problem as file:line:column, the summary, exit status 1."""
    path = BROKEN / "multiple_errors.yaml"
    result = invoke("validate", str(path))
    assert 1 == result.exit_code
    lines = [ln for ln in result.output.splitlines() if ln.startswith(str(path))]
    assert 7 == len(lines)
    assert "7 errors in 1 file; nothing was loaded." in result.output


def test_validate_warns_when_a_priority_tries_to_outrank_suicide_risk(tmp_path: Path) -> None:
    """A rule at priority 100 beside the suicide rules: a located warning that teaches why, and
    the set is still valid (exit 0), since suicide risk comes first whatever the priority."""
    shutil.copy(ROOT / "rulesets" / "suicide_risk.yaml", tmp_path)
    shutil.copy(OK / "outranking.yaml", tmp_path)
    result = invoke("validate", str(tmp_path))
    assert 0 == result.exit_code, result.output
    warning = f"{tmp_path / 'outranking.yaml'}:18:17: warning: rule 'fx-outrank-not-improving': priority 100 cannot"
    assert warning in result.output
    assert "  allowed here: 0-100; 0-84 keeps it below every suicide_risk rule (85-100)" in result.output
    assert "2 rulesets, 9 rules: valid, 2 warnings; safety floor passed." in result.output


def test_validate_locates_a_nul_byte_and_a_bracketed_key(tmp_path: Path) -> None:
    """Both used to end ``validate`` with a traceback (ReaderError, IndexError): each is a
    located problem and exit status 1."""
    nul = tmp_path / "nul.yaml"
    nul.write_bytes(b"ruleset: a\x00\n")
    result = invoke("validate", str(nul))
    assert 1 == result.exit_code
    assert f"{nul}:1:11: the file contains U+0000 (NUL), a control character" in result.output
    bracket = tmp_path / "bracket.yaml"
    bracket.write_text("x[1]: 2\n", encoding="utf-8")
    result = invoke("validate", str(bracket))
    assert 1 == result.exit_code
    assert f"{bracket}:1:1: unknown key 'x[1]'" in result.output


def test_validate_refuses_a_set_without_suicide_rules(tmp_path: Path) -> None:
    """A valid ruleset that escalates nothing fails the safety floor (exit 1) unless the floor
    is skipped explicitly."""
    shutil.copy(OK / "treat_to_target.yaml", tmp_path)
    refused = invoke("validate", str(tmp_path))
    assert 1 == refused.exit_code
    assert "not escalated; the rulesets were refused" in refused.output
    assert 0 == invoke("validate", str(tmp_path), "--no-safety-floor").exit_code


def test_test_runs_the_embedded_cases_and_the_floor(each_backend: str) -> None:
    """All bundled cases pass on both backends, and the safety floor is reported."""
    result = invoke("test", "--backend", each_backend)
    assert 0 == result.exit_code, result.output
    assert f"0 failed ({each_backend} backend); safety floor: passed" in result.output


def test_test_shows_what_failed_and_the_facts_involved(tmp_path: Path) -> None:
    """A wrong expectation: FAIL with its location, the rules that did or did not fire, the
    facts they read, and exit status 1."""
    shutil.copy(OK / "wrong_expectation.yaml", tmp_path)
    result = invoke("test", str(tmp_path), "--no-safety-floor")
    assert 1 == result.exit_code
    assert "FAIL " in result.output
    assert "wrong_expectation.yaml:" in result.output
    assert "expected to fire but did not" in result.output or "fired but not expected" in result.output


def test_facts_of_an_episode() -> None:
    """The example episode's facts as of the example date, as JSON."""
    result = invoke("facts", EPISODE, "--as-of", AS_OF, "--json")
    assert 0 == result.exit_code, result.output
    facts = json.loads(result.output)
    assert (18, 16) == (facts["phq9.baseline"], facts["phq9.latest"])
    assert 13 == facts["weeks_in_treatment"]


def test_facts_needs_a_patient_in_a_caseload() -> None:
    """In a caseload file, --patient picks the record; without it the command says so (exit 2)."""
    assert 2 == invoke("facts", CASELOAD, "--as-of", AS_OF).exit_code
    picked = invoke("facts", CASELOAD, "--as-of", AS_OF, "--patient", "P000001", "--json")
    assert 0 == picked.exit_code
    assert "cocm" == json.loads(picked.output)["program"]


def test_facts_catalog_markdown_is_the_docs_page() -> None:
    """`facts --catalog --markdown` prints exactly docs/facts.md."""
    result = invoke("facts", "--catalog", "--markdown")
    assert catalog_markdown() == result.output


@pytest.mark.parametrize("kind", ["episode", "ruleset", "measure", "score", "alert"])
def test_schema(kind: str) -> None:
    """Each schema is a JSON object with properties."""
    result = invoke("schema", kind)
    assert 0 == result.exit_code
    assert "properties" in json.loads(result.output)


def test_schema_unknown_kind_exits_2() -> None:
    """An unknown schema name is a one-line error, exit 2."""
    result = invoke("schema", "patient")
    assert 2 == result.exit_code


def test_evaluate_writes_one_line_per_record(tmp_path: Path) -> None:
    """Every input record gives exactly one output line, results and errors alike, in order."""
    records = [json.loads(ln) for ln in Path(CASELOAD).read_text().splitlines()[:5]]
    records.insert(2, {"patient_id": "broken", "program": "cocm"})
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    result = invoke("evaluate", str(path), "--as-of", AS_OF)
    assert 3 == result.exit_code  # a record failed (issue 11: it was 0); every line is still written
    lines = [json.loads(ln) for ln in result.stdout.splitlines() if ln.startswith("{")]
    assert [0, 1, 2, 3, 4, 5] == [line["record"] for line in lines]
    assert "error" == lines[2]["kind"]


def test_evaluate_survives_an_integer_of_5000_digits(tmp_path: Path) -> None:
    """A line holding an integer of 5,000 digits (more than Python reads as text) is one error
    record; the batch goes on to its end (issue 11: it once ended the run with a ValueError)."""
    records = [json.loads(ln) for ln in Path(CASELOAD).read_text().splitlines()[:2]]
    huge = json.dumps(dict(records[0], care_manager=0)).replace('"care_manager": 0', '"care_manager": 1' + "0" * 5000)
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join([json.dumps(records[0]), huge, json.dumps(records[1])]) + "\n")
    result = invoke("evaluate", str(path), "--as-of", AS_OF)
    assert 3 == result.exit_code, result.output[-500:]  # 3: the batch ran, and some records are errors
    lines = [json.loads(ln) for ln in result.stdout.splitlines() if ln.startswith("{")]
    assert [("result", 0), ("error", 1), ("result", 2)] == [(line["kind"], line["record"]) for line in lines]


def test_review_ranks_suicide_risk_first() -> None:
    """On the bundled caseload the first patients on the list are there for suicide risk."""
    result = invoke("review", CASELOAD, "--as-of", AS_OF, "--json")
    assert 0 == result.exit_code
    entries = json.loads(result.output)["entries"]
    assert entries
    assert "suicide_risk" == entries[0]["reasons"][0]["category"]
    assert list(range(1, len(entries) + 1)) == [e["rank"] for e in entries]


def test_review_csv_and_table() -> None:
    """The CSV has a header and one row per listed patient; the table shows the title."""
    csv_out = invoke("review", CASELOAD, "--as-of", AS_OF, "--csv", "--limit", "3")
    rows = list(csv.reader(io.StringIO(csv_out.stdout)))
    assert ["rank", "patient_id", "priority", "severity", "reasons", "rule_ids"] == rows[0][:6]
    assert 4 == len(rows)
    table = invoke("review", CASELOAD, "--as-of", AS_OF, "--limit", "3")
    assert "Psychiatric case review list as of 2026-11-20" in table.output


def test_caseload_metrics_json() -> None:
    """The metrics of the bundled caseload, with one entry per care manager."""
    result = invoke("caseload", CASELOAD, "--as-of", AS_OF, "--json")
    metrics = json.loads(result.output)
    assert 60 == metrics["records"]
    assert {"cm1", "cm2", "cm3"} == set(metrics["per_care_manager"])


def _fte_caseload(tmp_path: Path) -> str:
    """Three active patients of cm1 and one of cm2, as JSON Lines."""
    lines = [
        json.dumps(
            {
                "patient_id": f"p{i}",
                "program": "cocm",
                "enrollment_date": "2026-10-01",
                "status": "active_treatment",
                "care_manager": "cm1" if i < 3 else "cm2",
            }
        )
        for i in range(4)
    ]
    path = tmp_path / "fte.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_caseload_compares_each_care_manager_with_the_payer_mix_range(tmp_path: Path) -> None:
    """--fte and --payer-mix set the caseload size check (issue 12, item 15): cm1 at 0.05 FTE
    of ~90-120 per FTE is 4.5-6, so 3 patients are below; cm2 has no FTE given (1.0 assumed,
    said in the JSON and the table)."""
    path = _fte_caseload(tmp_path)
    args = ("caseload", path, "--as-of", AS_OF, "--fte", "cm1=0.05", "--payer-mix", "commercial_behavioral")

    as_json = json.loads(invoke(*args, "--json").stdout)
    table = invoke(*args).stdout

    cm1, cm2 = (as_json["per_care_manager"][cm]["caseload_size_target"] for cm in ("cm1", "cm2"))
    assert (3, 0.05, 4.5, 6.0, "below", False) == (
        cm1["caseload_size"],
        cm1["fte"],
        cm1["low"],
        cm1["high"],
        cm1["position"],
        cm1["fte_assumed"],
    )
    assert (1, 1.0, True) == (cm2["caseload_size"], cm2["fte"], cm2["fte_assumed"])
    assert "3: below 4.5-6 (0.05 FTE)" in table
    assert "1: below 90-120 (1.0 FTE assumed: none given)" in table


def _first_column(table: str) -> list[str]:
    """The cells of a rich table's first column (a cell wrapped on several lines joined)."""
    cells: list[str] = []
    current: list[str] = []
    for line in table.splitlines():
        if line.startswith(("├", "└")) and current:
            cells.append(" ".join(current))
            current = []
        elif line.startswith("│"):
            part = line[1:].split("│")[0].strip()
            if part:
                current.append(part)
    return cells


def test_caseload_table_labels_each_metric_with_its_definition() -> None:
    """The table's first column states each metric's definition, e.g. the two improvement
    definitions side by side, contacts with the patient, the episode cohort, an SMI target."""
    labels = _first_column(invoke("caseload", CASELOAD, "--as-of", AS_OF).stdout)

    for start in (
        "PHQ-9 >= 50% improvement at the latest (baseline >= 10",
        "PHQ-9 < 10 or >= 50% improvement at the latest (baseline >= 10",
        "active patients with a contact with the patient (initial assessment, follow up,",
        "episode cohort: patients enrolled in the 365 days up to as_of",
        "ASRM at target: total < 6 (team_choice: no published target)",
    ):
        assert 1 == sum(label.startswith(start) for label in labels), start


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (("--fte", "cm1"), "--fte takes a care manager id and an FTE"),
        (("--fte", "cm1=2"), "the FTE of care manager 'cm1' must be a number above 0 and at most 1"),
        (("--fte", "cm1=0.5", "--fte", "cm1=0.4"), "care manager 'cm1' is given twice"),
        (("--payer-mix", "medicaid"), "unknown payer mix"),
    ],
)
def test_caseload_refuses_a_wrong_fte_or_payer_mix(tmp_path: Path, option: tuple[str, ...], message: str) -> None:
    """A malformed or out-of-range FTE, a care manager given twice or an unknown payer mix:
    one line on stderr, exit 2, nothing on stdout."""
    result = invoke("caseload", _fte_caseload(tmp_path), "--as-of", AS_OF, *option)

    assert (2, "") == (result.exit_code, result.stdout)
    assert message in result.stderr


def test_synth_is_deterministic_and_writes_files(tmp_path: Path) -> None:
    """The same seed gives the same lines; -o writes a file."""
    first = invoke("synth", "--patients", "3", "--seed", "5").stdout
    assert first == invoke("synth", "--patients", "3", "--seed", "5").stdout
    assert 3 == len(first.splitlines())
    out = tmp_path / "c.jsonl"
    assert 0 == invoke("synth", "--patients", "4", "-o", str(out)).exit_code
    assert 4 == len(out.read_text().splitlines())


def test_score_fhir_flags_the_wrong_sdc_total() -> None:
    """The SDC PHQ-9 example through the CLI: total 10 recomputed, the reported 13 flagged."""
    args = [
        "score",
        "--fhir",
        str(FHIR / "sdc-phq9-questionnaireresponse.json"),
        "--questionnaire",
        str(FHIR / "sdc-phq9-questionnaire.json"),
        "--json",
    ]
    for n in range(1, 10):
        args += ["--item-map", f"H1/T1/Q{n}=phq9.item{n}"]
    result = invoke(*args)
    assert 0 == result.exit_code, result.output
    report = json.loads(result.output)
    assert [(13, 10)] == [(d["reported_total"], d["total"]) for d in report["disagreements"]]


def test_score_fhir_refuses_a_measure_as_well() -> None:
    """--fhir and a MEASURE together is an error (exit 2)."""
    result = invoke("score", "phq9", "--fhir", str(FHIR / "sdc-phq9-questionnaireresponse.json"))
    assert 2 == result.exit_code


def test_serve_refuses_insecure_dev_off_loopback() -> None:
    """`serve --insecure-dev` on a non-loopback address is refused before anything listens."""
    result = invoke("serve", "--insecure-dev", "--host", "0.0.0.0")
    assert 2 == result.exit_code


def test_serve_locates_a_nul_byte_in_its_configuration(tmp_path: Path) -> None:
    """`serve --config` with a NUL byte in the file used to crash with PyYAML's ReaderError; it
    is a one-line located error (exit 2) before anything listens."""
    config = tmp_path / "cds.yaml"
    config.write_bytes(b"service_url: https://cds.example.org\x00\n")
    result = invoke("serve", "--config", str(config))
    assert 2 == result.exit_code
    assert f"{config}:1:37: the file contains U+0000 (NUL), a control character" in result.output


# -- batch accounting: exit status 3, where failed records are, no values on stderr (issue 11) ----

SECRET = "SECRET-free-text"


def _bad_caseload(tmp_path: Path, *, extra: int = 0) -> Path:
    """Five example patients with, after a blank line, a record whose status is free text
    (record 5, line 7) and the first patient again (record 6, line 8); ``extra`` more invalid
    records after them."""
    records = [json.loads(ln) for ln in Path(CASELOAD).read_text().splitlines()[:5]]
    lines = [json.dumps(r) for r in records]
    lines += ["", json.dumps(dict(records[1], patient_id="P-bad", status=SECRET)), json.dumps(records[0])]
    lines += [json.dumps({"patient_id": f"X{i}", "status": SECRET}) for i in range(extra)]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines[:5]) + "\n" + "\n".join(lines[5:]) + "\n")
    return path


def test_evaluate_exits_3_and_says_how_many_failed_and_where(tmp_path: Path) -> None:
    """A record that cannot be evaluated: all output written, exit status 3, and stderr gives
    the count and the place (record and line, once each, and the field), never the value;
    the error record on stdout carries the full reason, with the value. A patient sent twice
    is evaluated twice (evaluate is per record)."""
    result = invoke("evaluate", str(_bad_caseload(tmp_path)), "--as-of", AS_OF)

    assert 3 == result.exit_code
    out = [json.loads(ln) for ln in result.stdout.splitlines()]
    assert ["result"] * 5 + ["error", "result"] == [r["kind"] for r in out]
    assert (5, 7, "status") == (out[5]["record"], out[5]["line"], out[5]["field"])
    assert SECRET in out[5]["error"]
    assert "1 of 7 records could not be evaluated (their error records are in the output):" in result.stderr
    assert "  record 5 (line 7), field 'status'\n" in result.stderr
    assert SECRET not in result.stderr
    assert "record 5: record 5" not in result.stderr


def test_stderr_lists_the_first_ten_places_and_counts_the_rest(tmp_path: Path) -> None:
    """Many failed records: stderr lists ten places and says how many more (the output has all)."""
    result = invoke("evaluate", str(_bad_caseload(tmp_path, extra=12)), "--as-of", AS_OF)

    assert 3 == result.exit_code
    assert 13 == len([ln for ln in result.stdout.splitlines() if '"kind":"error"' in ln])
    places = [ln for ln in result.stderr.splitlines() if ln.startswith("  record ")]
    assert (10, True) == (len(places), "  ... and 3 more" in result.stderr)


def test_evaluate_table_lists_the_failed_records_on_stdout(tmp_path: Path) -> None:
    """--table: the records that could not be evaluated are a table after the alerts, with
    their reasons; exit status 3."""
    result = invoke("evaluate", str(_bad_caseload(tmp_path)), "--as-of", AS_OF, "--table")

    assert 3 == result.exit_code
    assert "1 record could not be evaluated" in result.stdout
    assert SECRET in result.stdout
    assert SECRET not in result.stderr


def test_review_csv_has_a_row_for_each_rejected_patient(tmp_path: Path) -> None:
    """review --csv never leaves a rejected patient out silently: an error row at the end
    (empty rank, NOT EVALUATED, the record, line and reason), including the patient sent
    twice; listed patients carry their record and line; exit status 3."""
    result = invoke("review", str(_bad_caseload(tmp_path)), "--as-of", AS_OF, "--csv")

    assert 3 == result.exit_code
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    errors = [r for r in rows if r["rank"] == ""]
    assert [("P-bad", "5", "7"), (json.loads(Path(CASELOAD).read_text().splitlines()[0])["patient_id"], "6", "8")] == [
        (r["patient_id"], r["record"], r["line"]) for r in errors
    ]
    assert ["NOT EVALUATED: see the error column"] * 2 == [r["reasons"] for r in errors]
    assert SECRET in errors[0]["error"]
    assert errors[1]["error"].startswith("this patient_id was already in record 0 (line 1)")
    listed = [r for r in rows if r["rank"] != ""]
    assert all(r["record"] and r["line"] and not r["error"] for r in listed)
    assert "2 of 7 records could not be evaluated (rows with an empty rank at the end of the CSV):" in result.stderr
    assert SECRET not in result.stderr


@pytest.mark.parametrize("command", ["review", "caseload"])
def test_review_and_caseload_exit_3_with_the_errors_in_the_output(tmp_path: Path, command: str) -> None:
    """review and caseload (table and --json) write their output, list the failed records in
    it and exit 3; the patient sent twice is counted once."""
    path = str(_bad_caseload(tmp_path))
    table = invoke(command, path, "--as-of", AS_OF)
    as_json = invoke(command, path, "--as-of", AS_OF, "--json")

    assert (3, 3) == (table.exit_code, as_json.exit_code)
    assert "2 records could not be evaluated" in table.stdout
    assert [(5, 7), (6, 8)] == [(e["record"], e["line"]) for e in json.loads(as_json.stdout)["errors"]]
    assert "2 of 7 records could not be evaluated" in as_json.stderr
    if command == "caseload":
        assert 5 == json.loads(as_json.stdout)["records"]


def test_help_documents_exit_status_3_and_patients_sent_twice() -> None:
    """The exit status 3 and the once-per-patient rule are in --help."""
    assert "status 3" in " ".join(invoke("--help").stdout.split())
    for command in ("review", "caseload"):
        text = " ".join(invoke(command, "--help").stdout.split())
        assert "exit status is then 3" in text
        assert "later record with the same patient_id is an error record" in text


def test_evaluate_table_says_who_each_alert_is_for() -> None:
    """--table has a "for" column: the example patient's not-improving alert is for the
    psychiatric consultant, the care manager and the PCP."""
    result = invoke("evaluate", EPISODE, "--as-of", AS_OF, "--table")
    assert 0 == result.exit_code, result.output
    header = next(line for line in result.stdout.splitlines() if "priority" in line)
    assert header.rstrip(" ┃").endswith("for")
    assert "psychiatric consultant, care manager, PCP" in result.stdout

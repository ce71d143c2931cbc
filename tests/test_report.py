"""The caseload report (issue 13): its data (trajectories, target lines, the metrics table), the
HTML page (escaped, self-contained, deterministic) and the ``report`` command. The page in a
real browser: tests/test_report_browser.py."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from typer.testing import CliRunner

from cocm_rules import BackendUnavailable, Engine, InvalidInput, derive_facts, parse_episode
from cocm_rules.batch import read_records
from cocm_rules.caseload import CaseloadMetrics, Rate, caseload_metrics
from cocm_rules.cli import app
from cocm_rules.facts.targets import responded
from cocm_rules.report import (
    _charts,
    _html,
    build_report,
    caseload_report,
    metrics_table,
    render_report,
    response_level,
    trajectories,
)

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 11, 6)
pytestmark = pytest.mark.usefixtures("restore_structlog")  # the command configures structlog
HOSTILE_ID = '<script>alert("x")</script>&amp;'


def episode(
    pid: str, assessments: list[tuple[str, str, list[Any]]], *, initial: str | None = "2026-08-03"
) -> dict[str, Any]:
    """An active CoCM episode with these (measure, date, answers) and an initial assessment."""
    contacts = [{"date": "2026-11-02", "kind": "follow_up", "minutes": 30}]
    if initial is not None:
        contacts.insert(0, {"date": initial, "kind": "initial_assessment", "minutes": 60})
    return {
        "patient_id": pid,
        "program": "cocm",
        "enrollment_date": "2026-08-01",
        "status": "active_treatment",
        "care_manager": "cm1",
        "assessments": [{"measure": m, "date": d, "answers": a} for m, d, a in assessments],
        "contacts": contacts,
    }


PHQ9_18 = [3, 3, 2, 2, 2, 2, 2, 2, 0]
PHQ9_16 = [2, 2, 2, 2, 2, 2, 2, 2, 0]
PHQ9_ITEM9 = [0, 0, 0, 0, 0, 0, 0, 0, 1]
GAD7_14 = [2, 2, 2, 2, 2, 2, 2]
GAD7_12 = [2, 2, 2, 2, 2, 1, 1]
PCL5_40 = [2] * 20


def not_improving(pid: str = "not-improving") -> dict[str, Any]:
    """PHQ-9 18 -> 16 at 13 weeks, GAD-7 14 -> 12, PCL-5 40 once: on the review list."""
    return episode(
        pid,
        [
            ("phq9", "2026-08-03", PHQ9_18),
            ("gad7", "2026-08-03", GAD7_14),
            ("pcl5", "2026-08-03", PCL5_40),
            ("phq9", "2026-08-31", PHQ9_16),
            ("phq9", "2026-09-14", [9, 0, 0, 0, 0, 0, 0, 0, 0]),  # out of range: not scored
            ("gad7", "2026-11-02", GAD7_12),
            ("phq9", "2026-11-02", PHQ9_16),
            ("phq9", "2026-12-01", PHQ9_ITEM9),  # after as_of: not plotted
        ],
    )


@pytest.fixture(scope="module")
def engine() -> Engine:
    """The bundled rulesets on the compiled backend."""
    return Engine.load()


def _trajectories(record: dict[str, Any], as_of: dt.date = AS_OF) -> dict[str, Any]:
    return {t.measure: t for t in trajectories(parse_episode(record), as_of)}


# -- trajectories ------------------------------------------------------------------------------


def test_points_are_the_valid_totals_up_to_as_of_over_weeks_from_the_initial_assessment() -> None:
    """Each valid administration on or before as_of is a point at days since the initial
    assessment / 7; one that cannot be scored is counted and said, one after as_of is absent."""
    phq9 = _trajectories(not_improving())["phq9"]
    assert [(dt.date(2026, 8, 3), 0.0, 18), (dt.date(2026, 8, 31), 4.0, 16), (dt.date(2026, 11, 2), 13.0, 16)] == [
        (p.date, p.weeks, p.total) for p in phq9.points
    ]
    assert dt.date(2026, 8, 3) == phq9.start
    assert 1 == phq9.not_scored
    assert ["1 PHQ-9 administration(s) could not be scored and are not plotted"] == phq9.notes
    assert 13.57 == phq9.as_of_weeks


def test_whole_weeks_of_a_point_are_the_weeks_in_treatment_fact_on_its_date() -> None:
    """Weeks follow the facts' definition: on each point's date, ``weeks_in_treatment`` is the
    whole part of the point's weeks (here with an administration 9 days in: 1.29 weeks)."""
    record = episode("p", [("phq9", "2026-08-03", PHQ9_18), ("phq9", "2026-08-12", PHQ9_16)], initial="2026-08-03")
    points = _trajectories(record)["phq9"].points
    assert [0, 1] == [int(p.weeks // 1) for p in points if p.weeks is not None]
    assert [0, 1] == [derive_facts(record, p.date, names=["weeks_in_treatment"])["weeks_in_treatment"] for p in points]
    assert [0.0, 1.29] == [p.weeks for p in points]


def test_phq9_lines_are_the_measure_files_response_and_remission_targets() -> None:
    """PHQ-9: response at 50% below the baseline (18 -> 9), remission below 5, both confirmed,
    each labelled with its source and status."""
    lines = {line.target: line for line in _trajectories(not_improving())["phq9"].lines}
    assert {"response": 9.0, "remission": 5.0} == {k: v.total for k, v in lines.items()}
    assert "response: at or below 9 (50% below the baseline of 18; drr_e, confirmed)" == lines["response"].label
    assert "remission: below 5 (cms159, confirmed)" == lines["remission"].label
    assert [True, True] == [line.confirmed for line in lines.values()]


def test_gad7_targets_are_labelled_unconfirmed_on_the_chart() -> None:
    """GAD-7's targets are a convention (status unconfirmed): the lines, a note under the chart,
    the legend and an annotation on the chart say so."""
    gad7 = _trajectories(not_improving())["gad7"]
    assert [("response", 7.0, False), ("remission", 5.0, False)] == [
        (x.target, x.total, x.confirmed) for x in gad7.lines
    ]
    assert any("GAD-7 response and remission targets are unconfirmed (source: convention)" in n for n in gad7.notes)
    fig = _charts.figure(gad7)
    assert ["GAD-7 response and remission targets UNCONFIRMED"] == [a["text"] for a in fig["layout"]["annotations"]]
    assert all("UNCONFIRMED" in trace["name"] for trace in fig["data"][1:])


def test_a_measure_without_response_or_remission_targets_has_no_lines_and_says_so() -> None:
    """PCL-5's file defines no response or remission: no line is invented, and the chart says so."""
    pcl5 = _trajectories(not_improving())["pcl5"]
    assert [] == pcl5.lines
    assert ["PCL-5 has no response or remission target in its measure file: no target lines"] == pcl5.notes
    fig = _charts.figure(pcl5)
    assert ([], 1) == (fig["layout"].get("annotations", []), len(fig["data"]))


@pytest.mark.parametrize("lo", [0, 1, 4])
@pytest.mark.parametrize("share", [0.25, 0.5, 0.6])
def test_the_response_line_is_where_responded_turns(lo: int, share: float) -> None:
    """The response line is where the facts' one definition of a response turns: every total
    (in steps of 0.25, as prorated totals may be) at or below the line is a response, every
    total above it is not, for every baseline above the floor."""
    for baseline in range(lo + 1, lo + 80):
        level = response_level(baseline, share, lo)
        for total in (lo + k / 4 for k in range(4 * (baseline - lo) + 1)):
            assert (total <= level + 1e-9) == responded(total, baseline, share, lo), (baseline, total, level)


def test_a_baseline_at_the_floor_has_no_response_line() -> None:
    """A PHQ-9 baseline of 0 cannot fall by half of itself: no response line, a note says why."""
    record = episode("p", [("phq9", "2026-08-03", [0] * 9), ("phq9", "2026-09-03", PHQ9_16)])
    phq9 = _trajectories(record)["phq9"]
    assert ["remission"] == [line.target for line in phq9.lines]
    assert ["the PHQ-9 baseline is at the scale's floor: it cannot fall by a share of itself"] == phq9.notes


def test_without_an_initial_assessment_totals_are_plotted_by_date() -> None:
    """No initial assessment: no weeks are made up; the chart's x axis is the date, and says why."""
    record = episode("p", [("phq9", "2026-08-03", PHQ9_18), ("phq9", "2026-09-03", PHQ9_16)], initial=None)
    phq9 = _trajectories(record)["phq9"]
    assert (None, [None, None]) == (phq9.start, [p.weeks for p in phq9.points])
    assert phq9.notes[0].startswith("no initial assessment recorded")
    fig = _charts.figure(phq9)
    assert "date" == fig["layout"]["xaxis"]["type"]
    assert ["2026-08-03", "2026-09-03"] == list(fig["data"][0]["x"])


def test_only_tracked_measures_the_patient_has_are_charted() -> None:
    """The charted measures are the metrics' tracked measures (PHQ-9, GAD-7, PCL-5) that the
    patient has; an AUDIT-C is not charted, a measure never given has no empty chart."""
    record = episode("p", [("phq9", "2026-08-03", PHQ9_18), ("auditc", "2026-08-03", [1, 1, 0])])
    assert ["phq9"] == [t.measure for t in trajectories(parse_episode(record), AS_OF)]


def test_trajectories_needs_a_parsed_episode() -> None:
    """A mapping is a programmer's mistake here: TypeError saying to parse it first."""
    with pytest.raises(TypeError, match="parse it first"):
        trajectories(not_improving(), AS_OF)  # type: ignore[arg-type]


# -- the metrics table -------------------------------------------------------------------------


def test_the_metrics_table_has_a_column_per_care_manager_and_names_measures() -> None:
    """Columns: the caseload, then each care manager; the improvement rows are headed by the
    measure's name; a rate shows its percentage with its parts."""
    records = [not_improving("a"), {**not_improving("b"), "care_manager": "cm2"}]
    table = metrics_table(caseload_metrics(records, AS_OF), {"phq9": "PHQ-9", "gad7": "GAD-7"})
    rows = {row.key: row for row in table.rows}
    assert ("all", "cm1", "cm2") == table.columns
    assert ("2", "1", "1") == rows["caseload_size"].values
    assert (
        "improvement \N{MIDDLE DOT} PHQ-9 \N{MIDDLE DOT} at least 50% improvement"
        == rows["improvement.PHQ-9.improved_50"].label
    )
    assert ("0.0% (0/2)", "0.0% (0/1)", "0.0% (0/1)") == rows["improvement.PHQ-9.improved_50"].values


def test_a_metric_added_to_the_model_appears_without_a_change_to_the_report() -> None:
    """The table reads the metrics model generically: a new field (a rate, a count, a nested
    model) is a row, labelled by its description, without code in the report."""

    class MoreMetrics(CaseloadMetrics):
        seen_by_consultant: Rate
        new_count: int = 0

    base = caseload_metrics([not_improving()], AS_OF)
    more = MoreMetrics(**base.model_dump(), seen_by_consultant=Rate.of(1, 4), new_count=7)
    rows = {row.key: row for row in metrics_table(more).rows}
    assert ("25.0% (1/4)", "new count", "7") == (
        rows["seen_by_consultant"].values[0],
        rows["new_count"].label,
        rows["new_count"].values[0],
    )
    assert "patients in the active caseload" == rows["caseload_size"].help
    assert not {"as_of", "errors"} & set(rows)
    assert not any(key.startswith("per_care_manager") for key in rows)


# -- the report's data -------------------------------------------------------------------------


def test_build_report_on_each_backend_lists_charts_per_review_entry(engine: Engine, each_backend: str) -> None:
    """One chart set per review-list entry, in rank order, the same on both backends; a record
    that cannot be evaluated is kept in the errors, never dropped."""
    records = [episode("phq9-only", [("phq9", "2026-11-02", PHQ9_ITEM9)]), not_improving(), {"patient_id": "broken"}]
    report = build_report(Engine.load(backend=each_backend), records, AS_OF)
    assert [(1, "phq9-only"), (2, "not-improving")] == [(e.rank, e.patient_id) for e in report.review.entries]
    assert [(1, "phq9-only"), (2, "not-improving")] == [(c.rank, c.patient_id) for c in report.charts]
    assert [["phq9"], ["phq9", "gad7", "pcl5"]] == [[t.measure for t in c.trajectories] for c in report.charts]
    assert [(2, "broken")] == [(e.record, e.patient_id) for e in report.review.errors]
    assert (3, 2) == (report.records, report.review.patients_evaluated)
    assert "PHQ-9" == report.measure_names["phq9"]


def test_build_report_reads_a_stream_once(engine: Engine) -> None:
    """A generator (e.g. read_records) is read once, yet feeds the list, the metrics and the charts."""
    report = build_report(engine, read_records(ROOT / "examples" / "caseload.jsonl", lines_as_text=True), AS_OF)
    assert report.review.entries
    assert len(report.review.entries) == len(report.charts)
    assert report.metrics.records == report.review.patients_evaluated


def test_build_report_limit_keeps_the_first_entries(engine: Engine) -> None:
    """``limit`` keeps the first N entries of the review list, and their charts only."""
    report = build_report(engine, read_records(ROOT / "examples" / "caseload.jsonl"), AS_OF, limit=2)
    assert [1, 2] == [c.rank for c in report.charts]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"engine": "bundled"}, TypeError),
        ({"records": {"patient_id": "one"}}, TypeError),
        ({"limit": 0}, InvalidInput),
        ({"as_of": "2026-11-06"}, InvalidInput),
    ],
)
def test_build_report_refuses_wrong_arguments(engine: Engine, kwargs: dict[str, Any], error: type[Exception]) -> None:
    """A wrong engine or one record in place of many is a TypeError; a bad limit or as_of an
    InvalidInput (a ValueError of the library's family)."""
    args: dict[str, Any] = {"engine": engine, "records": [not_improving()], "as_of": AS_OF, **kwargs}
    with pytest.raises(error):
        build_report(args.pop("engine"), args.pop("records"), args.pop("as_of"), **args)


def test_only_counts_are_logged(engine: Engine) -> None:
    """Building the report logs one event of counts: no patient id, score or message."""
    with capture_logs() as logs:
        build_report(engine, [not_improving("secret-id"), {"patient_id": "broken-id"}], AS_OF)
    events = [e for e in logs if e["event"] == "report.built"]
    assert [{"records": 2, "evaluated": 1, "listed": 1, "charts": 3, "errors": 1}] == [
        {k: v for k, v in e.items() if k not in ("event", "log_level")} for e in events
    ]
    assert "secret-id" not in repr(logs)
    assert "broken-id" not in repr(logs)


# -- the page ----------------------------------------------------------------------------------


class _Page(HTMLParser):
    """What a page loads and runs: scripts (with or without src), links, the CSP, text."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._script: dict[str, str | None] | None = None
        self._text: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script, self._text = dict(attrs), []

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._text)))
            self._script = None

    def handle_data(self, data: str) -> None:
        (self._text if self._script is not None else self.text).append(data)


@pytest.fixture(scope="module")
def page(engine: Engine) -> str:
    """The report of a caseload with a hostile patient id on the review list and a broken record."""
    hostile = not_improving(HOSTILE_ID)
    return caseload_report(engine, [hostile, not_improving(), {"patient_id": "<b>broken</b>"}], AS_OF)


def _parse(html: str) -> _Page:
    parsed = _Page()
    parsed.feed(html)
    return parsed


def test_patient_ids_and_messages_are_escaped(page: str) -> None:
    """A patient id is data: it is shown as text (escaped), never read as markup, in the list,
    the patient's section and the table of records not evaluated."""
    assert HOSTILE_ID not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;amp;" in page
    assert "<b>broken</b>" not in page
    parsed = _parse(page)
    assert 3 == sum(HOSTILE_ID in t for t in parsed.text)  # review table, heading, registry row
    assert "<b>broken</b>" in parsed.text
    assert "b" not in {tag for tag, _ in parsed.tags}
    assert 3 == len(parsed.scripts)  # plotly.js, the chart data, the drawing script: none from the data


def test_the_page_loads_nothing_and_runs_only_its_own_scripts(page: str) -> None:
    """Self-contained: no element loads from a URL (no script src, link, img, iframe), no CSS
    import or url(); the Content-Security-Policy allows only the page's own scripts, by hash."""
    parsed = _parse(page)
    assert [] == [(tag, a) for tag, a in parsed.tags if {"src", "href"} & set(a) and tag != "a"]
    assert [] == [a["href"] for tag, a in parsed.tags if tag == "a" and not (a["href"] or "").startswith("#")]
    assert [] == [tag for tag, _ in parsed.tags if tag in ("link", "img", "iframe", "object", "embed")]
    styles = page[page.index("<style>") : page.index("</style>")]
    assert not re.search(r"@import|url\(", styles)
    run = [body for attrs, body in parsed.scripts if attrs.get("type") != "application/json"]
    hashes = {"'sha256-" + base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() + "'" for b in run}
    csp = next(
        a["content"] for tag, a in parsed.tags if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    )
    assert csp is not None
    assert "default-src 'none'" in csp
    assert hashes == set(re.findall(r"'sha256-[^']+'", csp))
    assert 2 == len(run)


def test_chart_data_is_json_escaped_for_html(page: str) -> None:
    """The chart figures are JSON in a data element; '<' and '&' are escaped in it, so no text
    can close the element."""
    data = page[page.index('<script type="application/json" id="chart-data">') :]
    data = data[: data.index("</script>")]
    assert "<" not in data[len('<script type="application/json" id="chart-data">') :]
    assert '"id": "chart-1-phq9"' in data


def test_the_page_lists_records_not_evaluated_and_says_it_is_confidential(page: str) -> None:
    """The broken record is in a table of its own; the page says it holds patient data."""
    text = " ".join(" ".join(_parse(page).text).split())
    assert "Records not evaluated" in text
    assert "this page holds patient identifiers, scores and alerts" in text


def test_the_same_data_gives_the_same_page(engine: Engine, page: str) -> None:
    """No clock or random id goes into the page: rendering again gives the same bytes."""
    hostile = not_improving(HOSTILE_ID)
    assert page == caseload_report(engine, [hostile, not_improving(), {"patient_id": "<b>broken</b>"}], AS_OF)


def test_rendering_without_the_report_extra_names_the_install_line(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without plotly (or Jinja2) rendering raises BackendUnavailable with the pip line; building
    the data needs neither."""
    report = build_report(engine, [not_improving()], AS_OF)
    _without_the_report_extra(monkeypatch)
    with pytest.raises(BackendUnavailable, match=re.escape("pip install 'cocm-rules[report]'")):
        render_report(report)


def _without_the_report_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("plotly", "plotly.graph_objects", "plotly.offline"):
        monkeypatch.setitem(sys.modules, module, None)


def test_caseload_report_without_the_extra_fails_before_reading_records(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the ``report`` extra, caseload_report says so before it reads (and evaluates) a
    single record: a large caseload is not evaluated only to fail at the end."""
    read: list[int] = []

    def records() -> Any:
        read.append(1)
        yield not_improving()

    _without_the_report_extra(monkeypatch)
    with pytest.raises(BackendUnavailable, match=re.escape("pip install 'cocm-rules[report]'")):
        caseload_report(engine, records(), AS_OF)
    assert [] == read


def test_render_report_needs_a_report() -> None:
    """A review list or a dict in place of the report is a TypeError."""
    with pytest.raises(TypeError, match="build_report"):
        render_report({"as_of": "2026-11-06"})  # type: ignore[arg-type]


def test_the_csp_hashes_the_scripts_exactly() -> None:
    """The policy's second hash is the drawing script's own (a changed script is refused)."""
    digest = base64.b64encode(hashlib.sha256(_html.BOOT_SCRIPT.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in _html.content_security_policy()


# -- the command -------------------------------------------------------------------------------


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "220", "NO_COLOR": "1"})


def test_report_command_writes_the_page(tmp_path: Path) -> None:
    """``cocm-rules report CASELOAD --as-of --out`` writes the page (making its folder) and says
    where on stderr; stdout stays empty."""
    out = tmp_path / "new" / "report.html"
    result = _invoke("report", "examples/caseload.jsonl", "--as-of", "2026-11-20", "--out", str(out), "--limit", "3")
    assert 0 == result.exit_code, result.output
    assert "" == result.stdout
    assert f"report written to {out}: 3 of 60 patients on the review list\n" == result.stderr
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_report_command_exits_3_when_records_could_not_be_evaluated(tmp_path: Path) -> None:
    """A caseload with a broken record: the page is written with the record listed, and the
    exit status is 3 (as review and caseload do)."""
    caseload = tmp_path / "caseload.jsonl"
    caseload.write_text('{"patient_id": "broken"}\n', encoding="utf-8")
    out = tmp_path / "report.html"
    result = _invoke("report", str(caseload), "--as-of", "2026-11-20", "--out", str(out))
    assert 3 == result.exit_code
    assert "1 of 1 record could not be evaluated (listed in the report under 'Records not evaluated'):" in result.stderr
    assert "Records not evaluated" in out.read_text(encoding="utf-8")


def test_report_command_that_cannot_write_exits_2(tmp_path: Path) -> None:
    """An --out that is a folder: one error line and exit status 2, no traceback."""
    result = _invoke("report", "examples/caseload.jsonl", "--as-of", "2026-11-20", "--out", str(tmp_path))
    assert 2 == result.exit_code
    assert result.stderr.startswith(f"error: cannot write the report to {tmp_path}: ")
    assert 1 == len(result.stderr.splitlines())


def test_report_command_without_the_extra_exits_2_with_the_install_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without plotly: one error line naming the pip line, exit status 2, no file written."""
    _without_the_report_extra(monkeypatch)
    out = tmp_path / "report.html"
    result = _invoke("report", "examples/caseload.jsonl", "--as-of", "2026-11-20", "--out", str(out))
    assert 2 == result.exit_code
    assert result.stderr.startswith("error: the HTML report needs the optional dependencies of the 'report' extra: ")
    assert "pip install 'cocm-rules[report]'" in result.stderr
    assert 1 == len(result.stderr.splitlines())
    assert not out.exists()


def test_report_command_needs_out() -> None:
    """--out is required (a usage error, exit 2)."""
    assert 2 == _invoke("report", "examples/caseload.jsonl", "--as-of", "2026-11-20").exit_code


def test_the_demo_ends_by_writing_the_report() -> None:
    """``make demo`` ends with the report command writing build/report.html."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    commands = [line.strip() for line in recipe.splitlines() if line.strip().startswith("@$(CLI)")]
    assert "@$(CLI) report examples/caseload.jsonl --as-of $(DEMO_DATE) --out build/report.html" == commands[-1]

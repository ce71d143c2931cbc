"""The caseload report in a real browser (issue 13): the distribution's headless Chromium,
driven through the distribution's chromedriver with selenium, loads the page from a file://
URL. No console error, nothing fetched, every chart drawn with a non-zero size, and a
screenshot saved to build/test-results/report.png.

Chromium and chromedriver come from Debian's packages (``apt-get install chromium
chromium-driver``; .ci/run installs them when missing). This test never skips: without them it
fails, saying what to install.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

from cocm_rules import Engine
from cocm_rules.batch import read_records
from cocm_rules.report import CaseloadReport, build_report, render_report

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "build" / "test-results" / "report.png"
AS_OF = dt.date(2026, 11, 20)
HOSTILE_ID = "<img src=x onerror=\"document.title='pwned'\">"
#: Seconds the page may take to draw every chart (a generous bound for a slow machine, not a
#: timing assertion: the test waits for the page to say it is done).
DRAW_TIMEOUT = 120


def _chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        pytest.fail("the browser test needs Chromium and its driver: apt-get install chromium chromium-driver")
    return browser, driver


def _caseload() -> list[Any]:
    """The bundled example caseload, a patient with a hostile id (on the review list: item 9
    positive, and a GAD-7) and a record that cannot be evaluated."""
    records: list[Any] = list(read_records(ROOT / "examples" / "caseload.jsonl"))
    records.append(
        {
            "patient_id": HOSTILE_ID,
            "program": "cocm",
            "enrollment_date": "2026-08-01",
            "status": "active_treatment",
            "assessments": [
                {"measure": "phq9", "date": "2026-08-03", "answers": [3, 3, 2, 2, 2, 2, 2, 2, 0]},
                {"measure": "gad7", "date": "2026-08-03", "answers": [2, 2, 2, 2, 2, 2, 2]},
                {"measure": "phq9", "date": "2026-11-16", "answers": [2, 2, 2, 2, 2, 2, 2, 2, 1]},
                {"measure": "gad7", "date": "2026-11-16", "answers": [1, 1, 1, 1, 1, 1, 1]},
            ],
            "contacts": [{"date": "2026-08-03", "kind": "initial_assessment", "minutes": 60}],
        }
    )
    records.append({"patient_id": "broken", "program": "cocm"})
    return records


@pytest.fixture(scope="module")
def report() -> CaseloadReport:
    """The report's data (the page is rendered from it)."""
    return build_report(Engine.load(), _caseload(), AS_OF)


@pytest.fixture(scope="module")
def browser(
    report: CaseloadReport, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, list[dict[str, Any]]]]:
    """Chromium with the page loaded and every chart drawn, and the console messages so far."""
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_report(report), encoding="utf-8")
    binary, driver_path = _chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1800",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        driver.get(path.as_uri())
        try:
            WebDriverWait(driver, DRAW_TIMEOUT).until(
                lambda d: d.execute_script("return document.body.getAttribute('data-charts-rendered')")
            )
        except TimeoutException:
            pytest.fail(f"the charts were not all drawn; console: {driver.get_log('browser')}")
        yield driver, driver.get_log("browser")
    finally:
        driver.quit()


def test_the_page_loads_without_console_errors(browser: tuple[Any, list[dict[str, Any]]]) -> None:
    """Nothing is written to the console at warning level or above: no script error, no
    refused load (the page's Content-Security-Policy would log one), no failed resource."""
    _driver, console = browser
    assert [] == [entry for entry in console if entry["level"] in ("SEVERE", "WARNING")]


def test_nothing_is_fetched(browser: tuple[Any, list[dict[str, Any]]]) -> None:
    """The page is self-contained: the browser loaded no resource (script, font, style, image)."""
    driver, _console = browser
    assert [] == driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")


def test_every_chart_is_drawn_with_a_size(report: CaseloadReport, browser: tuple[Any, list[dict[str, Any]]]) -> None:
    """Each listed patient's trajectories are drawn: one plotly SVG per chart with a non-zero
    size, a marker per valid total and one line per target."""
    driver, _console = browser
    expected = {
        f"chart-{c.rank}-{t.measure}": {"points": len(t.points), "traces": 1 + len(t.lines)}
        for c in report.charts
        for t in c.trajectories
    }
    assert expected  # the example caseload has charts to draw
    drawn = driver.execute_script(
        """
        const out = {};
        for (const box of document.querySelectorAll('.chart')) {
          const svg = box.querySelector('svg.main-svg');
          const r = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
          out[box.id] = {rendered: box.getAttribute('data-rendered'), width: r.width, height: r.height,
                         points: box.querySelectorAll('.scatterlayer .trace:first-child path.point').length,
                         traces: box.querySelectorAll('.scatterlayer .trace').length};
        }
        return out;
        """
    )
    assert set(expected) == set(drawn)
    assert [] == [k for k, v in drawn.items() if v["rendered"] != "true" or not v["width"] or not v["height"]]
    assert expected == {k: {"points": v["points"], "traces": v["traces"]} for k, v in drawn.items()}
    assert str(len(expected)) == driver.execute_script("return document.body.getAttribute('data-charts-rendered')")


def test_an_unconfirmed_target_is_marked_on_the_chart(
    report: CaseloadReport, browser: tuple[Any, list[dict[str, Any]]]
) -> None:
    """The hostile patient's GAD-7 chart shows that its targets are unconfirmed, as drawn text."""
    driver, _console = browser
    rank = next(c.rank for c in report.charts if c.patient_id == HOSTILE_ID)
    texts = driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent)",
        f"#chart-{rank}-gad7 .annotation-text",
    )
    assert ["GAD-7 response and remission targets UNCONFIRMED"] == texts


def test_no_toolbar_covers_the_unconfirmed_note(browser: tuple[Any, list[dict[str, Any]]]) -> None:
    """plotly's toolbar sits top right, where the unconfirmed-target note is: no chart shows
    a toolbar that overlaps one of its notes (the screenshot showed it did)."""
    driver, _console = browser
    overlaps = driver.execute_script(
        """
        const hit = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
        const out = [];
        for (const box of document.querySelectorAll('.chart')) {
          const notes = Array.from(box.querySelectorAll('.annotation-text')).map(e => e.getBoundingClientRect());
          const bars = Array.from(box.querySelectorAll('.modebar-group'))
            .filter(e => getComputedStyle(e).display !== 'none').map(e => e.getBoundingClientRect());
          if (notes.some(n => bars.some(b => b.width && b.height && hit(n, b)))) out.push(box.id);
        }
        return out;
        """
    )
    assert [] == overlaps


def test_a_hostile_patient_id_is_shown_as_text(
    report: CaseloadReport, browser: tuple[Any, list[dict[str, Any]]]
) -> None:
    """A patient id that is markup is shown literally: no element is made of it and its
    handler never ran."""
    driver, _console = browser
    rank = next(c.rank for c in report.charts if c.patient_id == HOSTILE_ID)
    heading = driver.execute_script("return document.querySelector(arguments[0]).textContent", f"#p-{rank} h3")
    assert heading.startswith(f"#{rank} {HOSTILE_ID}")
    assert (0, "Caseload report as of 2026-11-20") == (
        driver.execute_script("return document.querySelectorAll('img').length"),
        driver.title,
    )


def test_the_record_not_evaluated_is_listed(browser: tuple[Any, list[dict[str, Any]]]) -> None:
    """The broken record is in the table of records not evaluated."""
    driver, _console = browser
    rows = driver.execute_script(
        "return Array.from(document.querySelectorAll('#errors tbody tr')).map(r => r.cells[2].textContent)"
    )
    assert ["broken"] == rows


def _png_size(path: Path) -> list[int]:
    header = path.read_bytes()[:24]
    assert b"\x89PNG\r\n\x1a\n" == header[:8]
    return [int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")]


@pytest.mark.parametrize(("name", "target"), [("report.png", None), ("report-charts.png", "hostile")])
def test_a_screenshot_is_taken(
    report: CaseloadReport, browser: tuple[Any, list[dict[str, Any]]], name: str, target: str | None
) -> None:
    """Screenshots for a person to look at, in build/test-results/: report.png is the top of the
    page (metrics, review list), report-charts.png a patient's PHQ-9 and GAD-7 charts; each a
    PNG of the browser window's size."""
    driver, _console = browser
    if target is None:
        driver.execute_script("window.scrollTo(0, 0)")
    else:
        rank = next(c.rank for c in report.charts if c.patient_id == HOSTILE_ID)
        driver.execute_script("document.getElementById(arguments[0]).scrollIntoView()", f"p-{rank}")
    path = SCREENSHOT.with_name(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    assert driver.save_screenshot(str(path))
    assert json.loads(json.dumps(driver.execute_script("return [window.innerWidth, window.innerHeight]"))) == _png_size(
        path
    )

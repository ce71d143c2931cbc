"""The Engine: loading with a backend, alerts and their explanation, batches, logging, errors."""

from __future__ import annotations

import datetime as dt
import inspect
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from cocm_rules import Alert, BackendUnavailable, Engine, InvalidInput, PatientResult, RecordError, SafetyFloorError
from cocm_rules.lifecycle import alert_identity
from cocm_rules.rules import bundled_rulesets_path, load_rulesets

T2T = Path(__file__).parent / "fixtures" / "rulesets_ok" / "treat_to_target.yaml"
OUTRANKING = Path(__file__).parent / "fixtures" / "rulesets_ok" / "outranking.yaml"
SUICIDE = bundled_rulesets_path() / "suicide_risk.yaml"
AS_OF = dt.date(2026, 5, 2)

# Facts that make five rules of the fixture fire, with ties on priority and on severity.
MANY = {
    "phq9.baseline": 20,
    "phq9.latest": 12,
    "phq9.pct_reduction": 0.4,
    "weeks_in_treatment": 25,
    "status": "discharged",
    "phq9.latest_date": dt.date(2026, 4, 30),
    "has_relapse_prevention_plan": False,
}


@pytest.fixture(scope="module")
def engine() -> Engine:
    """The treat-to-target fixture on the compiled backend (it has no suicide rules)."""
    return Engine.load(T2T, safety_floor=False)


def episode(patient_id: str = "p1", *, status: str = "active_treatment", item9: int = 0) -> dict[str, Any]:
    """A CoCM episode: PHQ-9 20 -> 13 over three months, 17 weeks after the initial assessment."""
    return {
        "patient_id": patient_id,
        "program": "cocm",
        "enrollment_date": "2026-01-01",
        "status": status,
        "assessments": [
            {"measure": "phq9", "date": "2026-02-01", "answers": [3, 3, 3, 3, 2, 2, 2, 2, 0]},
            {"measure": "phq9", "date": "2026-05-01", "answers": [2, 2, 2, 2, 2, 2, 1, 0, item9]},
        ],
        "contacts": [{"date": "2026-01-02", "kind": "initial_assessment", "minutes": 60}],
    }


def by_id(alerts: list[Alert]) -> dict[str, Alert]:
    """Alerts keyed by rule id."""
    return {a.rule_id: a for a in alerts}


# -- loading --------------------------------------------------------------------------------------


def test_load_without_safety_floor_warns() -> None:
    """``safety_floor=False`` loads, and says so with a warning naming the rulesets."""
    with capture_logs() as logs:
        engine = Engine.load(T2T, safety_floor=False)
    skipped = [e for e in logs if e["event"] == "engine.safety_floor_skipped"]
    assert [
        {"event": "engine.safety_floor_skipped", "log_level": "warning", "rulesets": ["fixture-treat-to-target"]}
    ] == (skipped)
    assert (False, "compiled") == (engine.safety_floor_checked, engine.backend_name)


def test_load_logs_engine_loaded() -> None:
    """``engine.loaded`` names backend, rulesets with versions, counts and the program digest."""
    with capture_logs() as logs:
        engine = Engine.load(T2T, safety_floor=False)
    loaded = [e for e in logs if e["event"] == "engine.loaded"]
    assert 1 == len(loaded)
    expected = {
        "backend": "compiled",
        "rulesets": ["fixture-treat-to-target@1.2.3"],
        "rules": 7,
        "facts": 9,
        "program": engine.program.digest[:16],
        "safety_floor": False,
    }
    assert expected == {k: loaded[0][k] for k in expected}


def test_load_checks_the_safety_floor_by_default() -> None:
    """A set without suicide-risk rules is refused unless the check is skipped."""
    with pytest.raises(SafetyFloorError):
        Engine.load(T2T)


def test_load_with_the_suicide_ruleset_passes_the_floor() -> None:
    """The fixture together with the bundled suicide ruleset passes the safety floor."""
    engine = Engine.load([T2T, SUICIDE])
    assert engine.safety_floor_checked


def test_unknown_backend_on_load() -> None:
    """An unknown backend name is InvalidInput listing the backends."""
    with pytest.raises(InvalidInput) as info:
        Engine.load(T2T, backend="drools", safety_floor=False)
    assert ("backend", "drools", "compiled, durable") == (info.value.field, info.value.value, info.value.allowed)


def test_durable_backend_where_durable_rules_does_not_import(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where durable-rules does not import (Python 3.13+), asking for the durable backend says
    why and what to use instead; no extra installs it, so no pip line for an extra is given."""
    from cocm_rules.rules import _durable

    monkeypatch.setattr(_durable, "_engine", None)
    monkeypatch.setattr(_durable, "_HOST", None)
    monkeypatch.setattr(_durable, "_IMPORT_ERROR", "No module named 'durable'")

    with pytest.raises(BackendUnavailable) as info:
        Engine.load(T2T, backend="durable", safety_floor=False)

    assert (
        "the durable backend is not available here: it needs durable-rules 2.0.28, which cocm-rules "
        "installs on Python 3.11 and 3.12 (pip install 'durable-rules==2.0.28' if it was left out); "
        "it does not import on Python 3.13 or newer, where the compiled backend (the default) gives "
        "the same alerts (No module named 'durable')"
    ) == str(info.value)
    assert Engine.load(T2T, safety_floor=False).backend_name == "compiled"


def test_unknown_backend_on_construction() -> None:
    """The constructor refuses an unknown backend the same way."""
    with pytest.raises(InvalidInput) as info:
        Engine(load_rulesets(T2T), backend="Compiled", safety_floor=False)
    assert "backend" == info.value.field


# -- alerts: order and content ----------------------------------------------------------------


def test_alerts_sorted_by_priority_then_severity_then_rule_id(engine: Engine) -> None:
    """Highest priority first; on a tie the higher severity; then the rule id."""
    alerts = engine.evaluate_facts(MANY, AS_OF)
    expected = [
        ("fx-not-improving", 70, "high"),
        ("fx-moderate-band", 50, "moderate"),
        ("fx-not-active", 50, "low"),
        ("fx-tie-a", 30, "low"),  # listed after fx-tie-b in the file
        ("fx-tie-b", 30, "low"),
    ]
    assert expected == [(a.rule_id, a.priority, a.severity) for a in alerts]


def test_alert_fields(engine: Engine) -> None:
    """An alert carries the rule's identity, its ruleset and version, and what to do."""
    alert = by_id(engine.evaluate_facts(MANY, AS_OF, patient_id="p-42"))["fx-not-improving"]
    expected = {
        "rule_id": "fx-not-improving",
        "ruleset": "fixture-treat-to-target",
        "ruleset_version": "1.2.3",
        "title": "Not improving after 10 weeks",
        "category": "treatment_to_target",
        "severity": "high",
        "priority": 70,
        "message": "PHQ-9 12 after 25 weeks (baseline 20, reduction 40%); review after 10 weeks.",
        "action": "psychiatric_case_review",
        "action_text": "Discuss at the next psychiatric case review",
        "recipients": ["psychiatric_consultant", "care_manager", "pcp"],
        "source": "AIMS Center CoCM implementation guide",
        "evidence": {"phq9.baseline": 20, "weeks_in_treatment": 25, "phq9.pct_reduction": 0.4},
        "parameters": {"review_after_weeks": 10, "response_drop": 0.5},
        "as_of": AS_OF,
        "patient_id": "p-42",
        # identity: the patient, the rule and the phq9 administration (not given here: null)
        "alert_id": alert_identity("p-42", "fx-not-improving", {"phq9.last_administered_date": None}),
        "state": "new",
        "state_until": None,
        "acknowledgement": None,
    }
    assert expected == alert.model_dump()


def test_evidence_is_the_condition_facts_only(engine: Engine) -> None:
    """Evidence holds the facts the condition read, not the facts only used in the message."""
    alert = by_id(engine.evaluate_facts(MANY, AS_OF))["fx-moderate-band"]
    assert {"phq9.latest": 12} == alert.evidence


def test_evidence_includes_missing_facts_as_none(engine: Engine) -> None:
    """A fact the condition read and found missing is evidence too (value None)."""
    alert = by_id(engine.evaluate_facts({"weeks_in_treatment": 3}, AS_OF))["fx-tie-a"]
    expected = {"weeks_in_treatment": 3, "phq9.latest": None, "phq9.latest_date": None}
    assert expected == alert.evidence


def test_missing_fact_renders_unknown(engine: Engine) -> None:
    """A placeholder whose fact is missing reads "unknown"."""
    alert = by_id(engine.evaluate_facts(MANY, AS_OF))["fx-tie-a"]
    assert "Last psychiatric consultation: unknown days ago." == alert.message


def test_missing_fact_with_format_spec_renders_unknown(engine: Engine) -> None:
    """A missing fact with a number format (``{phq9.change:+.1f}``) still reads "unknown"."""
    alert = by_id(engine.evaluate_facts(MANY, AS_OF))["fx-moderate-band"]
    assert "PHQ-9 12 on 2026-04-30; change unknown points." == alert.message


def test_float_format_spec_and_dates(engine: Engine) -> None:
    """``{phq9.change:+.1f}`` formats the number; dates render as YYYY-MM-DD."""
    alert = by_id(engine.evaluate_facts({**MANY, "phq9.change": -8}, AS_OF))["fx-moderate-band"]
    assert "PHQ-9 12 on 2026-04-30; change -8.0 points." == alert.message


def test_percent_format_spec_and_parameter_placeholder(engine: Engine) -> None:
    """``{phq9.pct_reduction:.0%}`` renders 0.35 as 35%; a parameter placeholder shows its value."""
    alert = by_id(engine.evaluate_facts({**MANY, "phq9.pct_reduction": 0.35}, AS_OF))["fx-not-improving"]
    assert "PHQ-9 12 after 25 weeks (baseline 20, reduction 35%); review after 10 weeks." == alert.message


def test_plain_numbers_and_yes_no_render_plainly(engine: Engine) -> None:
    """Without a format, 1.0 reads "1", 0.5 reads "0.5" and a yes/no fact reads "yes"/"no"."""
    facts = {"phq9.latest": 4, "phq9.pct_reduction": 1.0, "has_relapse_prevention_plan": False}
    alerts = by_id(engine.evaluate_facts(facts, AS_OF))
    assert "Reduction 1." == alerts["fx-halved"].message
    assert "PHQ-9 4; relapse prevention plan no." == alerts["fx-no-plan"].message
    half = by_id(engine.evaluate_facts({"phq9.pct_reduction": 0.5}, AS_OF))["fx-halved"]
    assert "Reduction 0.5." == half.message


def test_folded_message_whitespace_is_collapsed(engine: Engine) -> None:
    """A message folded over several YAML lines renders as one line with single spaces."""
    alert = by_id(engine.evaluate_facts(MANY, AS_OF))["fx-not-improving"]
    assert "\n" not in alert.message
    assert "  " not in alert.message


def test_evaluate_an_episode(engine: Engine) -> None:
    """A whole episode goes through the fact builder: baseline 20, latest 13 after 17 weeks."""
    alerts = engine.evaluate(episode("p7"), AS_OF)
    assert ["fx-not-improving", "fx-moderate-band"] == [a.rule_id for a in alerts]
    first = alerts[0]
    assert {"phq9.baseline": 20, "weeks_in_treatment": 17, "phq9.pct_reduction": 0.35} == first.evidence
    assert ("p7", AS_OF) == (first.patient_id, first.as_of)


def test_evaluate_an_episode_on_the_bundled_suicide_rules() -> None:
    """PHQ-9 item 9 at 1 raises the bundled item-9 alert, dated and explained."""
    engine = Engine.load(SUICIDE)
    alerts = engine.evaluate(episode("p8", item9=1), AS_OF)
    assert ["suicide-phq9-item9"] == [a.rule_id for a in alerts]
    assert {"phq9.item9_latest": 1} == alerts[0].evidence
    assert "PHQ-9 item 9 (thoughts of death or self-harm) answered 1 of 3 on 2026-05-01." == alerts[0].message


def test_no_priority_outranks_suicide_risk(each_backend: str) -> None:
    """A treat-to-target rule at priority 100 and severity critical fires with PHQ-9 item 9 at 1
    (priority 95, high), yet the suicide-risk alert comes first, on both backends."""
    engine = Engine.load([SUICIDE, OUTRANKING], backend=each_backend)
    alerts = engine.evaluate(episode("p9", item9=1), AS_OF)
    assert [
        ("suicide-phq9-item9", "suicide_risk", 95),
        ("fx-outrank-not-improving", "treatment_to_target", 100),
        ("fx-outrank-engagement", "engagement", 85),
        ("fx-below-suicide", "engagement", 84),
    ] == [(a.rule_id, a.category, a.priority) for a in alerts]


def test_facts_are_those_the_rules_need(engine: Engine) -> None:
    """``Engine.facts`` computes exactly the facts the program needs."""
    facts = engine.facts(episode(), AS_OF)
    assert engine.program.facts_needed == tuple(facts)
    assert (20, 13, -7) == (facts["phq9.baseline"], facts["phq9.latest"], facts["phq9.change"])


def test_nothing_matching_is_an_empty_list(engine: Engine) -> None:
    """No rule fires: an empty list, not None."""
    assert [] == engine.evaluate_facts(
        {"phq9.latest": 8, "phq9.latest_date": AS_OF, "status": "active_treatment"}, AS_OF
    )


def test_same_input_twice_gives_identical_alerts(engine: Engine) -> None:
    """Evaluation is deterministic: the same episode gives equal alerts, in the same order."""
    first = [a.model_dump() for a in engine.evaluate(episode(), AS_OF)]
    second = [a.model_dump() for a in engine.evaluate(episode(), AS_OF)]
    assert first == second
    assert first


# -- invalid input ----------------------------------------------------------------------------


def test_evaluate_facts_unknown_fact_suggests(engine: Engine) -> None:
    """An unknown fact name is InvalidInput with "did you mean"."""
    with pytest.raises(InvalidInput) as info:
        engine.evaluate_facts({"phq9.lastest": 12}, AS_OF)
    assert ("phq9.lastest", "phq9.latest") == (info.value.field, info.value.suggestion)
    assert "did you mean 'phq9.latest'?" in str(info.value)


@pytest.mark.parametrize(
    ("fact", "value"),
    [("phq9.latest", "high"), ("phq9.latest", True), ("status", "bogus")],
)
def test_evaluate_facts_refuses_values_of_the_wrong_type(engine: Engine, fact: str, value: Any) -> None:
    """A value that does not fit the fact's type is InvalidInput naming the fact, never a bare
    TypeError or a silently wrong alert (the catalog knows every fact's type and values)."""
    with pytest.raises(InvalidInput) as info:
        engine.evaluate_facts({fact: value}, AS_OF)
    assert fact == info.value.field


def test_evaluate_invalid_episode(engine: Engine) -> None:
    """An invalid episode is InvalidInput naming the field."""
    with pytest.raises(InvalidInput) as info:
        engine.evaluate(episode(status="bogus"), AS_OF)
    assert "status" == info.value.field


@pytest.mark.parametrize("as_of", ["2026-05-02", dt.datetime(2026, 5, 2, 9, 0), None, 20260502])
def test_as_of_must_be_a_date(engine: Engine, as_of: Any) -> None:
    """``as_of`` is a date: text, a date-time or a number is refused."""
    with pytest.raises(InvalidInput) as info:
        engine.evaluate(episode(), as_of)
    assert "as_of" == info.value.field


def test_evaluate_many_as_of_must_be_a_date(engine: Engine) -> None:
    """A batch with a date-time ``as_of`` fails before any record is evaluated."""
    with pytest.raises(InvalidInput):
        next(engine.evaluate_many([episode()], dt.datetime(2026, 5, 2, 9, 0)))


# -- batches --------------------------------------------------------------------------------------


def test_evaluate_many_is_a_generator(engine: Engine) -> None:
    """``evaluate_many`` returns a generator (nothing is evaluated before it is read)."""
    assert inspect.isgenerator(engine.evaluate_many([], AS_OF))


def test_evaluate_many_is_lazy(engine: Engine) -> None:
    """An endless stream of records can be read three results at a time."""
    pulled: list[int] = []

    def endless() -> Iterator[dict[str, Any]]:
        for i in itertools.count():
            if i > 1000:  # a guard so a non-lazy implementation fails instead of hanging
                raise RuntimeError("evaluate_many read far ahead of its consumer")
            pulled.append(i)
            yield episode(f"p{i}")

    first = list(itertools.islice(engine.evaluate_many(endless(), AS_OF), 3))
    assert [(0, "p0"), (1, "p1"), (2, "p2")] == [(r.record, r.patient_id) for r in first]
    assert [0, 1, 2] == pulled


def _mixed() -> list[Any]:
    return [
        episode("p0"),
        episode("p1", status="bogus"),  # invalid record
        json.dumps(episode("p2")),  # JSON text
        RecordError(record=0, error="line 4: not valid JSON"),  # a reader already failed
        42,  # not an object
        json.dumps(episode("p5")).encode(),  # JSON bytes
        {"patient_id": "p6"},  # required fields missing
        episode("p7", status="discharged"),
    ]


def test_evaluate_many_yields_one_output_per_record_in_order(engine: Engine) -> None:
    """Valid, invalid and reader-failed records each yield exactly one output, in input order."""
    out = list(engine.evaluate_many(_mixed(), AS_OF))
    expected = [
        (0, "result", "p0"),
        (1, "error", "p1"),
        (2, "result", "p2"),
        (3, "error", None),
        (4, "error", None),
        (5, "result", "p5"),
        (6, "error", "p6"),
        (7, "result", "p7"),
    ]
    assert expected == [(r.record, r.kind, r.patient_id) for r in out]
    assert [PatientResult, RecordError] == [type(out[0]), type(out[1])]


def test_evaluate_many_results_match_single_evaluation(engine: Engine) -> None:
    """A batch result holds the same alerts as evaluating the record alone."""
    out = list(engine.evaluate_many([episode("p0"), episode("p7", status="discharged")], AS_OF))
    for result, ep in zip(out, [episode("p0"), episode("p7", status="discharged")], strict=True):
        assert isinstance(result, PatientResult)
        assert engine.evaluate(ep, AS_OF) == result.alerts
        assert AS_OF == result.as_of


def test_evaluate_many_renumbers_reader_errors(engine: Engine) -> None:
    """A RecordError from a reader keeps its message and takes the record's position."""
    out = list(engine.evaluate_many([episode(), RecordError(record=0, error="line 2: not valid JSON")], AS_OF))
    assert RecordError(record=1, error="line 2: not valid JSON") == out[1]


def test_record_error_names_the_record_and_field(engine: Engine) -> None:
    """An invalid record's error names its position, the field, the value and what is allowed.
    The position is in fields (``record``, ``line``), not repeated in ``error`` (issue 11:
    ``record 0: record 0: ...``); ``str()`` puts it in front once, and ``summary()`` names
    where without the value."""
    out = list(engine.evaluate_many([episode(), episode("p1", status="bogus")], AS_OF))
    error = out[1]
    assert isinstance(error, RecordError)
    assert ("p1", "status", 1, None) == (error.patient_id, error.field, error.record, error.line)
    expected = (
        "status: 'bogus' (text) is not allowed; allowed: active_treatment, relapse_prevention_plan, "
        "discharged, inactive"
    )
    assert expected == error.error
    assert f"record 1: {expected}" == str(error)
    assert "record 1, field 'status'" == error.summary()


def test_batch_finished_is_logged_once_with_counts(engine: Engine) -> None:
    """One ``batch.finished`` event sums up the batch: records, results, errors, alerts by category."""
    with capture_logs() as logs:
        out = list(engine.evaluate_many(_mixed(), AS_OF))
    finished = [e for e in logs if e["event"] == "batch.finished"]
    assert 1 == len(finished)
    alerts = [a for r in out if isinstance(r, PatientResult) for a in r.alerts]
    by_category: dict[str, int] = {}
    for a in alerts:
        by_category[a.category] = by_category.get(a.category, 0) + 1
    expected = {
        "records": 8,
        "results": 4,
        "errors": 4,
        "alerts": len(alerts),
        "alerts_by_category": by_category,
    }
    assert expected == {k: finished[0][k] for k in expected}
    assert "info" == finished[0]["log_level"]


def _values(obj: Any) -> Iterator[Any]:
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _values(v)
    elif isinstance(obj, list | tuple):
        yield obj
        for v in obj:
            yield from _values(v)
    else:
        yield obj


SECRET_IDS = [f"SECRET-{i}" for i in range(8)]
ANSWERS = [[3, 3, 3, 3, 2, 2, 2, 2, 0], [2, 2, 2, 2, 2, 2, 1, 0, 0]]


def _secret_batch() -> list[Any]:
    return [
        episode(SECRET_IDS[0]),
        episode(SECRET_IDS[1], status="bogus"),
        {"patient_id": SECRET_IDS[2], "program": "cocm"},
        episode(SECRET_IDS[3], status="discharged"),
    ]


def test_batch_logs_no_patient_ids_or_answers(engine: Engine) -> None:
    """No log event of a batch holds a patient id, an answer list or clinical values."""
    with capture_logs() as logs:
        list(engine.evaluate_many(_secret_batch(), AS_OF))
    assert logs
    text = repr(logs)
    assert [] == [pid for pid in SECRET_IDS if pid in text]
    for event in logs:
        assert set() == set(event) & {"patient_id", "answers", "total", "facts", "evidence", "message", "score"}
        assert [] == [v for v in _values(event) if v in ANSWERS]


def test_record_invalid_events_name_the_record_index(engine: Engine) -> None:
    """Without opting in, an invalid record is logged by its index and field only."""
    with capture_logs() as logs:
        list(engine.evaluate_many(_secret_batch(), AS_OF))
    invalid = [e for e in logs if e["event"] == "batch.record_invalid"]
    expected = [
        {"event": "batch.record_invalid", "log_level": "warning", "record": 1, "field": "status"},
        {"event": "batch.record_invalid", "log_level": "warning", "record": 2, "field": "enrollment_date"},
    ]
    assert expected == invalid


def test_patient_ids_are_logged_only_when_the_host_opts_in() -> None:
    """``log_patient_ids=True`` adds the patient id to invalid-record events, and nothing else."""
    engine = Engine.load(T2T, safety_floor=False, log_patient_ids=True)
    with capture_logs() as logs:
        list(engine.evaluate_many(_secret_batch(), AS_OF))
    invalid = [e.get("patient_id") for e in logs if e["event"] == "batch.record_invalid"]
    assert [SECRET_IDS[1], SECRET_IDS[2]] == invalid
    others = repr([e for e in logs if e["event"] != "batch.record_invalid"])
    assert [] == [pid for pid in SECRET_IDS if pid in others]


def test_single_evaluation_logs_no_patient_data(engine: Engine) -> None:
    """Evaluating one patient logs neither its id nor its facts or answers."""
    with capture_logs() as logs:
        engine.evaluate(episode(SECRET_IDS[0]), AS_OF)
        engine.evaluate_facts(MANY, AS_OF, patient_id=SECRET_IDS[1])
    assert [] == [pid for pid in SECRET_IDS if pid in repr(logs)]
    for event in logs:
        assert set() == set(event) & {"patient_id", "answers", "total", "facts", "evidence", "message", "score"}


def test_a_fault_inside_a_fact_is_not_rendered_as_unknown() -> None:
    """Facts are computed as they are read; a KeyError raised inside a fact's computation
    propagates instead of turning into a missing ("unknown") value in an alert."""
    from cocm_rules.alerts import make_alert

    engine = Engine.load()
    rule = next(r for r in engine.program.rules if r.rule_id == "suicide-phq9-item9")

    class Faulty(dict):
        def __missing__(self, name: str) -> Any:
            raise KeyError("phq9.some_internal_key")

    with pytest.raises(KeyError):
        make_alert(rule, Faulty(), dt.date(2026, 1, 1), None, {})
    alert = make_alert(rule, {}, dt.date(2026, 1, 1), None, {})  # a plain missing fact reads unknown
    assert all(value is None for value in alert.evidence.values())


# -- invalid records that once ended a batch or leaked into logs ----------------------------------


def test_record_invalid_log_names_no_unknown_field() -> None:
    """A made-up field name (which may hold a name, an MRN or what the patient said) is logged as
    ``<unknown field>``; the error record returned to the caller still names it."""
    engine = Engine.load(T2T, safety_floor=False)
    secret = "Jane Doe MRN12345 says she wants to die"
    nested = episode("p2")
    nested["assessments"][1][secret] = 1
    with capture_logs() as logs:
        out = list(engine.evaluate_many([dict(episode("p1"), **{secret: 1}), nested], AS_OF))
    invalid = [(e["record"], e["field"]) for e in logs if e["event"] == "batch.record_invalid"]
    assert [(0, "<unknown field>"), (1, "assessments[1].<unknown field>")] == invalid
    assert "MRN12345" not in repr(logs)
    assert [secret, f"assessments[1].{secret}"] == [r.field for r in out]


@pytest.mark.parametrize(
    "records", ["caseload.jsonl", '{"patient_id": "p1"}', b"{}", {"patient_id": "p1"}, Path("caseload.jsonl")]
)
def test_evaluate_many_refuses_one_record_or_a_path(engine: Engine, records: Any) -> None:
    """One record or a path in place of an iterable of records raises TypeError saying what
    to pass, instead of yielding an error record per character or key."""
    with pytest.raises(TypeError) as info:
        next(engine.evaluate_many(records, AS_OF))
    assert "pass a list of records, or read_records(path) to read a file" in str(info.value)


def test_evaluate_many_refuses_one_episode(engine: Engine) -> None:
    """An Episode is one record (iterating it would yield its fields): TypeError."""
    from cocm_rules import parse_episode

    with pytest.raises(TypeError):
        next(engine.evaluate_many(parse_episode(episode()), AS_OF))


def test_an_invalid_patient_id_is_not_echoed_in_the_error_record(engine: Engine) -> None:
    """A patient id with a lone surrogate or a control character makes an error record whose
    patient_id is None, so the record can always be written out as JSON (a lone surrogate
    escape in JSON text is refused by the strict JSON reader, before any field is read)."""
    text = json.dumps(episode("XX")).replace('"XX"', '"S\\ud800"')
    out = list(engine.evaluate_many([text, episode("p\x00"), episode("p2")], AS_OF))
    assert [("error", None, None), ("error", None, "patient_id"), ("result", "p2", None)] == [
        (r.kind, r.patient_id, getattr(r, "field", None)) for r in out
    ]
    assert 3 == len([json.loads(r.model_dump_json()) for r in out])


def test_bytes_not_utf8_and_text_nested_too_deeply_are_error_records(engine: Engine) -> None:
    """Bytes that are not UTF-8 and JSON text nested thousands of levels deep each become an
    error record; the records after them are still evaluated."""
    deep = json.dumps(episode("p1")).replace('"p1"', '"p1", "sex": ' + '{"a": ' * 3000 + "{}" + "}" * 3000)
    out = list(engine.evaluate_many([b'{"patient_id": "caf\xe9"}', deep, episode("p2")], AS_OF))
    expected = [
        (
            0,
            "error",
            "line 1: not valid UTF-8 (byte 0xe9 at byte 20 of the line); the input must be UTF-8 text",
        ),
        (
            1,
            "error",
            "not valid JSON: nested too deeply (objects and lists may be nested a few hundred levels at most)",
        ),
        (2, "result", None),
    ]
    assert expected == [(r.record, r.kind, getattr(r, "error", None)) for r in out]


@pytest.mark.parametrize("as_of", ["2026-11-20", None, dt.datetime(2026, 11, 20, 9)])
def test_every_entry_point_checks_as_of(engine: Engine, as_of: Any) -> None:
    """evaluate_facts checks as_of like evaluate does; text gets told how to make a date."""
    with pytest.raises(InvalidInput) as info:
        engine.evaluate_facts(MANY, as_of)
    assert "as_of" == info.value.field
    if isinstance(as_of, str):
        expected = "field 'as_of': as_of must be a datetime.date, not text: use datetime.date.fromisoformat(...)"
        assert str(info.value).startswith(expected)


# -- issue 11: input integrity --------------------------------------------------------------------


def test_json_text_with_a_repeated_key_is_an_error_record_naming_path_and_key(engine: Engine) -> None:
    """A JSON text whose answer mapping repeats item 9 is an error record (the last value would
    otherwise win and hide a 3): it names the record, the path and the key, and the patient."""
    text = json.dumps(episode("p9")).replace(
        '"answers": [2, 2, 2, 2, 2, 2, 1, 0, 0]', '"answers": {"item9": 3, "item9": 0}'
    )
    out = list(engine.evaluate_many([episode("p1"), text], AS_OF))

    assert ["result", "error"] == [r.kind for r in out]
    assert ("p9", "assessments[1].answers") == (out[1].patient_id, out[1].field)
    assert 1 == out[1].record
    assert out[1].error.startswith("field 'assessments[1].answers': the key 'item9' appears more than once")


@pytest.mark.parametrize(
    ("fact", "value"),
    [("phq9.latest", 10**400), ("weeks_in_treatment", 10**5000), ("phq9.latest", 28), ("weeks_in_treatment", -1)],
    ids=["401-digits", "5001-digits", "above-the-range", "below-the-range"],
)
def test_evaluate_facts_refuses_numbers_out_of_range(engine: Engine, fact: str, value: int) -> None:
    """A number beyond float range (which once raised OverflowError) or outside the fact's
    range is an InvalidInput naming the fact; a huge value is shown by its length."""
    with pytest.raises(InvalidInput) as info:
        engine.evaluate_facts({fact: value}, AS_OF)

    assert fact == info.value.field
    assert len(str(info.value)) < 300


def _phq9_reported(date: str, total: int | None, **answers: int) -> dict[str, Any]:
    out: dict[str, Any] = {"measure": "PHQ-9", "date": date}
    if total is not None:
        out["total"] = total
    if answers:
        out["answers"] = answers
    return out


def test_a_phq9_sent_as_total_and_item9_is_treated_to_target() -> None:
    """PHQ-9s stored as a total and item 9 (as many EHRs do) give baseline and latest, so
    treat-to-target speaks; item 9 at 0 raises no suicide alert."""
    record = dict(
        episode(),
        assessments=[
            _phq9_reported("2026-02-01", 20, item9=0),
            _phq9_reported("2026-05-01T09:00:00-05:00", 18, item9=0),
        ],
    )
    engine = Engine.load()

    facts = engine.facts(record, AS_OF)
    alerts = engine.evaluate(record, AS_OF)

    assert (20, 18, False, False) == (
        facts["phq9.baseline"],
        facts["phq9.latest"],
        facts["phq9.item9_latest"] != 0,
        facts["safety_item_missing"],
    )
    assert "t2t-phq9-not-improving" in [a.rule_id for a in alerts]
    assert [] == [a.rule_id for a in alerts if a.category == "suicide_risk"]


def test_a_phq9_sent_as_total_and_a_positive_item9_escalates() -> None:
    """Item 9 sent beside a reported total is read: at 2 it raises the item 9 alert."""
    record = dict(episode(), assessments=[_phq9_reported("2026-05-01", 18, item9=2)])

    alerts = Engine.load().evaluate(record, AS_OF)

    assert "suicide-phq9-item9" == alerts[0].rule_id
    assert {"phq9.item9_latest": 2} == alerts[0].evidence


def test_a_phq9_total_only_fails_closed_saying_item9_was_not_sent() -> None:
    """A PHQ-9 total without item 9 still gives the total, but risk cannot be ruled out; the
    alert says exactly what is missing."""
    record = dict(episode(), assessments=[_phq9_reported("2026-05-01", 18)])

    alerts = Engine.load().evaluate(record, AS_OF)
    first = alerts[0]

    assert "suicide-risk-unknown" == first.rule_id
    assert "what is missing: PHQ-9 item 9 was not sent (2026-05-01)." in first.message
    assert "PHQ-9 item 9 was not sent (2026-05-01)" == first.evidence["safety_missing_reason"]


def test_an_unrecognized_measure_id_is_named_in_the_alerts_evidence() -> None:
    """A screen sent under an id no measure declares fails closed, and both the suicide-risk and
    the data-quality alert name the id in their evidence and message."""
    record = dict(episode(), assessments=[{"measure": "PHQ-9x", "date": "2026-05-01", "answers": [0] * 9}])

    alerts = by_id(Engine.load().evaluate(record, AS_OF))

    unknown, invalid = alerts["suicide-risk-unknown"], alerts["dq-invalid-administration"]
    assert "measure id 'PHQ-9x' is not recognized" in unknown.evidence["safety_missing_reason"]
    assert "'PHQ-9x' (not recognized)" == invalid.evidence["measures_latest_invalid_names"]
    assert "could not be scored: 'PHQ-9x' (not recognized)." in invalid.message


def test_measure_aliases_give_the_same_alerts_as_ids() -> None:
    """The same episode with its measure ids written as hosts write them gives the same facts
    and alerts as with the ids."""
    plain = episode()
    written = dict(
        plain, assessments=[dict(a, measure=m) for a, m in zip(plain["assessments"], ["PHQ9", "44249-1"], strict=True)]
    )
    engine = Engine.load()

    assert engine.facts(plain, AS_OF) == engine.facts(written, AS_OF)
    assert engine.evaluate(plain, AS_OF) == engine.evaluate(written, AS_OF)


# -- the fact plan ------------------------------------------------------------------------------


def test_facts_of_a_measure_never_administered_are_missing_without_being_computed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fact plan: for a patient with no GAD-7, the GAD-7 facts the rules read are missing
    and their functions are never called (one lookup for the whole measure); with a GAD-7
    they are computed as before, and the alerts are the same either way."""
    engine = Engine.load()
    called: list[str] = []
    fns = engine.catalog.fns
    for name in [n for n in engine.needed if n.startswith("gad7.")]:
        original = fns[name]
        monkeypatch.setitem(fns, name, lambda v, name=name, original=original: called.append(name) or original(v))
    as_of = dt.date(2026, 5, 2)
    without = engine.evaluate(episode(), as_of)
    facts = engine.facts(episode(), as_of)

    assert [] == called
    assert all(facts[n] is None for n in engine.needed if n.startswith("gad7."))
    with_gad7 = episode()
    with_gad7["assessments"].append({"measure": "gad7", "date": "2026-05-01", "answers": [1, 1, 1, 1, 1, 1, 1]})
    engine.evaluate(with_gad7, as_of)
    assert "gad7.baseline" in called
    assert [a.rule_id for a in without] == [a.rule_id for a in Engine.load().evaluate(episode(), as_of)]


def test_every_measure_fact_says_which_measure_leaves_it_missing() -> None:
    """Each measure fact of the catalog is marked with its measure (the fact plan relies on it),
    and no episode fact is."""
    catalog = Engine.load().catalog
    expected = {name: spec.measure for name, spec in catalog.specs.items() if spec.measure is not None}
    assert expected == catalog.series_of

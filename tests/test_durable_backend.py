"""The durable-rules backend handles the pitfalls measured in shared/reference/durable_rules.md.

Each test names the pitfall it guards against: identical facts colliding, reserved ``id`` /
``sid`` keys, "no match" as an exception, ``post`` consuming events, exponent floats, booleans
and dates, the 1024-session limit, double registration, thread safety, hidden timer threads,
and memory kept by asserted facts.
"""

from __future__ import annotations

import datetime as dt
import gc
import math
import os
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from cocm_rules import Alert, Engine, EngineError
from cocm_rules.rules import _durable
from cocm_rules.rules.compiled import CompiledBackend
from cocm_rules.rules.ir import And, Cmp, In, Missing, Node, Not, Or, Present, ProgramIR, RuleIR, facts_of

pytestmark = pytest.mark.skipif(not _durable.available(), reason="durable-rules does not import here (Python 3.13+?)")

T2T = Path(__file__).parent / "fixtures" / "rulesets_ok" / "treat_to_target.yaml"
AS_OF = dt.date(2026, 5, 2)

# Facts on which five rules of the fixture fire.
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
def durable() -> Engine:
    """The treat-to-target fixture on the durable backend."""
    return Engine.load(T2T, backend="durable", safety_floor=False)


@pytest.fixture(scope="module")
def compiled() -> Engine:
    """The same rules on the compiled backend, the reference."""
    return Engine.load(T2T, backend="compiled", safety_floor=False)


def ids(alerts: list[Alert]) -> list[str]:
    """Rule ids of alerts, in order."""
    return [a.rule_id for a in alerts]


def random_facts(rng: random.Random) -> dict[str, Any]:
    """Facts for the fixture's rules, each sometimes missing, values often on a threshold."""

    def maybe(value: Any) -> Any:
        return None if rng.random() < 0.15 else value

    return {
        "phq9.baseline": maybe(rng.choice([5, 9, 10, 11, 20, 27])),
        "phq9.latest": maybe(rng.randint(0, 27)),
        "phq9.pct_reduction": maybe(rng.choice([-0.5, 0.0, 0.4999, 0.5, 0.5001, rng.randint(-10000, 10000) / 10000])),
        "weeks_in_treatment": maybe(rng.choice([0, 9, 10, 11, 19, 20, 21, rng.randint(0, 60)])),
        "status": maybe(rng.choice(["active_treatment", "relapse_prevention_plan", "discharged", "inactive"])),
        "phq9.latest_date": maybe(dt.date(2019, 12, 31) + dt.timedelta(days=rng.choice([0, 1, 2, 400]))),
        "has_relapse_prevention_plan": maybe(rng.random() < 0.5),
        "phq9.change": maybe(rng.randint(-27, 27)),
        "days_since_psych_consult": maybe(rng.randint(0, 90)),
    }


def _rule(rule_id: str, condition: Node) -> RuleIR:
    return RuleIR(
        rule_id=rule_id,
        ruleset="durable-test",
        ruleset_version="1",
        title=rule_id,
        category="engagement",
        severity="low",
        priority=10,
        action="review",
        action_text=None,
        source="test",
        message=(),
        condition=condition,
        facts=tuple(facts_of(condition)),
    )


def _program(*conditions: Node) -> ProgramIR:
    """A program of one rule per condition; a unique tag keeps its digest (and durable ruleset) new."""
    tag = uuid.uuid4().hex[:8]
    return ProgramIR(tuple(_rule(f"r{i}-{tag}", c) for i, c in enumerate(conditions)))


def _both(program: ProgramIR, facts: dict[str, Any]) -> tuple[list[str], list[str]]:
    full = {name: facts.get(name) for name in program.facts_needed}
    durable = _durable.DurableBackend(program)
    return (
        [r.rule_id for r in CompiledBackend(program).matches(full)],
        [r.rule_id for r in durable.matches(full)],
    )


# -- pitfalls 2-5: identity, reserved keys, no match, post ------------------------------------------


def test_two_identical_patients_in_a_row_both_alert(durable: Engine) -> None:
    """Pitfall 4: identical facts would collide (MessageObservedException); both still alert."""
    first = durable.evaluate_facts(MANY, AS_OF)
    second = durable.evaluate_facts(MANY, AS_OF)
    assert ["fx-not-improving", "fx-moderate-band", "fx-not-active", "fx-tie-a", "fx-tie-b"] == ids(first)
    assert first == second


def test_identical_facts_on_the_backend_directly() -> None:
    """The backend itself gives the same answer for the same facts many times in a row."""
    program = _program(Cmp("phq9.latest", ">=", 10))
    backend = _durable.DurableBackend(program)
    assert [[program.rules[0]]] * 5 == [backend.matches({"phq9.latest": 12}) for _ in range(5)]


def test_fact_keys_are_renamed(durable: Engine) -> None:
    """Pitfalls 4-5: facts reach durable as f0, f1, ... so no fact can be called ``id`` or ``sid``."""
    backend = durable.backend
    assert isinstance(backend, _durable.DurableBackend)
    assert [f"f{i}" for i in range(len(backend.keys))] == list(backend.keys.values())
    assert list(durable.program.facts_needed) == list(backend.keys)


def test_facts_named_id_and_sid_compare_as_ordinary_facts() -> None:
    """A fact called ``sid`` does not open a durable session per value (1024-sid limit, pitfall 6),
    and one called ``id`` does not replace the fact's identity: 1,100 distinct values all work."""
    program = _program(Cmp("sid", ">=", 0), Cmp("id", "==", 5))
    on_sid, on_id = program.rules
    backend = _durable.DurableBackend(program)
    results = [backend.matches({"sid": i, "id": 5 if i % 2 else 6}) for i in range(1100)]
    expected = [[on_sid, on_id] if i % 2 else [on_sid] for i in range(1100)]
    assert expected == results


def test_nothing_matching_returns_an_empty_list(durable: Engine) -> None:
    """Pitfall 3: "no rule matched" is durable's MessageNotHandledException; the backend returns []."""
    facts = {"phq9.latest": 8, "phq9.latest_date": AS_OF, "status": "active_treatment"}
    assert [] == durable.evaluate_facts(facts, AS_OF)
    assert [] == durable.backend.matches(dict.fromkeys(durable.needed) | facts)


def test_no_fact_at_all_matches_nothing_or_only_missing_rules() -> None:
    """A patient with every fact missing: only rules asking for a missing fact fire."""
    program = _program(Cmp("x", "!=", 3), Missing("x"), Present("x"))
    assert ([program.rules[1].rule_id],) * 2 == _both(program, {})


def test_several_rules_matching_one_patient_all_fire(durable: Engine, compiled: Engine) -> None:
    """Pitfall 2: ``post`` would fire only the first matching rule; every matching rule fires."""
    assert 5 == len(durable.evaluate_facts(MANY, AS_OF))
    assert compiled.evaluate_facts(MANY, AS_OF) == durable.evaluate_facts(MANY, AS_OF)


def test_lone_missing_rule_fires_once() -> None:
    """Pitfall 11: a rule that is only ``is missing`` fires once and returns (no endless loop)."""
    program = _program(Missing("x"))
    backend = _durable.DurableBackend(program)
    assert [list(program.rules), []] == [backend.matches({"x": None}), backend.matches({"x": 1})]


# -- pitfall 15: values -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (True, 1),
        (False, 0),
        (dt.date(2026, 1, 1), dt.date(2026, 1, 1).toordinal()),
        (2.0, 2),
        (-50.0, -50),
        (0.5, 0.5),
        (0.0001, 0.0001),
        (-0.0001, -0.0001),
        (12.857142857142858, 12.857142857142858),
        (7, 7),
        ("active_treatment", "active_treatment"),
    ],
)
def test_encode(value: Any, encoded: Any) -> None:
    """Booleans become 1/0, dates day numbers, whole floats ints; other values pass unchanged."""
    result = _durable._encode(value)
    assert (encoded, type(encoded)) == (result, type(result))


@pytest.mark.parametrize("value", [0.00005, 1e-05, 1.5e-07, 9.999e-05, 1e-300])
def test_encode_refuses_exponent_floats(value: float) -> None:
    """Floats Python writes with an exponent (durable misreads some) are refused, never sent."""
    with pytest.raises(EngineError, match="exponent form"):
        _durable._encode(value)


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_encode_refuses_non_finite_numbers(value: float) -> None:
    """inf and nan are refused (durable fails or never matches on them)."""
    with pytest.raises(EngineError, match="non-finite"):
        _durable._encode(value)


def test_four_decimal_thresholds_compare_right() -> None:
    """The smallest threshold the loader allows (4 decimals) and facts around it compare like Python."""
    program = _program(Cmp("p", ">=", 0.0001), Cmp("p", "<", -0.0001), Cmp("p", "==", 0.0001))
    for p in (0.0, 0.0001, 0.0002, -0.0001, -0.0002, 0.9999, 1.0):
        compiled, durable = _both(program, {"p": p})
        assert compiled == durable, p


def test_tiny_fraction_from_evaluate_facts_does_not_break_durable(durable: Engine, compiled: Engine) -> None:
    """A fraction like 0.00005 passed to ``evaluate_facts`` gives the compiled backend's alerts.

    The fact builder rounds fractions to 4 decimals, so durable never sees an exponent float
    from an episode; ``evaluate_facts`` takes facts from the caller and must do the same (or
    refuse the value as InvalidInput), not fail with an EngineError on one backend only."""
    facts = {"phq9.baseline": 20, "weeks_in_treatment": 12, "phq9.pct_reduction": 0.00005}
    assert ids(compiled.evaluate_facts(facts, AS_OF)) == ids(durable.evaluate_facts(facts, AS_OF))


@pytest.mark.parametrize(
    "condition",
    [
        Cmp("flag", "==", True),
        Cmp("flag", "==", False),
        Cmp("flag", "!=", True),
        Not(Cmp("flag", "==", True)),
        Cmp("day", ">=", dt.date(2026, 1, 1)),
        Cmp("day", "<", dt.date(2026, 1, 1)),
        Cmp("day", "==", dt.date(2026, 1, 1)),
        Cmp("day", "!=", dt.date(2026, 1, 1)),
        Not(Cmp("day", ">", dt.date(2026, 1, 1))),
        In("day", (dt.date(2025, 12, 31), dt.date(2026, 1, 2))),
        And((Cmp("day", ">=", dt.date(2025, 12, 31)), Cmp("day", "<=", dt.date(2026, 1, 1)))),
    ],
    ids=repr,
)
def test_booleans_and_dates_compare_right(condition: Node) -> None:
    """Yes/no facts (sent as 1/0) and dates (sent as day numbers) decide like Python, missing included."""
    program = _program(condition)
    for flag in (None, True, False):
        for day in (None, dt.date(2025, 12, 31), dt.date(2026, 1, 1), dt.date(2026, 1, 2)):
            compiled, durable = _both(program, {"flag": flag, "day": day})
            assert compiled == durable, (flag, day)


def test_text_and_not_in_compare_right() -> None:
    """``in`` / ``not in`` on text, and ``!=`` on a missing fact (false), decide like Python."""
    program = _program(
        In("status", ("active_treatment", "inactive")),
        Not(In("status", ("active_treatment",))),
        Cmp("status", "!=", "inactive"),
        Or((Missing("status"), Cmp("status", "==", "discharged"))),
    )
    for status in (None, "active_treatment", "inactive", "discharged"):
        compiled, durable = _both(program, {"status": status})
        assert compiled == durable, status


# -- pitfalls 6, 14, 17: sessions and registration ---------------------------------------------


def test_1100_sequential_evaluations_on_one_engine(durable: Engine, compiled: Engine) -> None:
    """Pitfall 6: more evaluations than durable's 1024 sessions, all on one engine, all right."""
    rng = random.Random(1100)
    patients = [random_facts(rng) for _ in range(1100)]
    expected = [ids(compiled.evaluate_facts(p, AS_OF)) for p in patients]
    assert expected == [ids(durable.evaluate_facts(p, AS_OF)) for p in patients]
    assert any(expected)


def test_same_program_registers_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pitfalls 14/17: a program is registered with the Host once, however many backends use it."""
    host = _durable._host()
    calls: list[list[str]] = []
    real = host.set_rulesets

    def counting(definition: dict[str, Any]) -> Any:
        calls.append(list(definition))
        return real(definition)

    monkeypatch.setattr(host, "set_rulesets", counting)
    program = _program(Cmp("x", ">", 1))
    first = _durable.DurableBackend(program)
    second = _durable.DurableBackend(program)
    assert [[first.ruleset]] == calls
    assert first.ruleset == second.ruleset
    assert [list(program.rules)] * 2 == [first.matches({"x": 2}), second.matches({"x": 2})]


def test_same_rulesets_loaded_twice_work(durable: Engine) -> None:
    """Loading the same files again on the durable backend reuses the registered ruleset."""
    again = Engine.load(T2T, backend="durable", safety_floor=False)
    assert durable.backend.ruleset == again.backend.ruleset
    assert durable.evaluate_facts(MANY, AS_OF) == again.evaluate_facts(MANY, AS_OF)


def test_ruleset_name_comes_from_the_program_digest(durable: Engine) -> None:
    """The durable ruleset is named by the IR digest, so a changed program gets a new name."""
    assert f"cocm_{durable.program.digest[:24]}" == durable.backend.ruleset


# -- pitfalls 8-10: threads -----------------------------------------------------------------------


def test_concurrent_evaluation_gives_the_sequential_alerts(durable: Engine, compiled: Engine) -> None:
    """Pitfall 9: four threads sharing one engine get exactly the alerts of one thread (and of the
    compiled backend) for 2,000 patients: none lost, none delivered to the wrong patient."""
    rng = random.Random(2000)
    patients = list(enumerate(random_facts(rng) for _ in range(2000)))

    def run(engine: Engine, item: tuple[int, dict[str, Any]]) -> list[tuple[str, str | None]]:
        i, facts = item
        return [(a.rule_id, a.patient_id) for a in engine.evaluate_facts(facts, AS_OF, patient_id=f"p{i}")]

    sequential = [run(durable, p) for p in patients]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(lambda p: run(durable, p), patients))
    assert sequential == concurrent
    assert [run(compiled, p) for p in patients] == sequential
    assert sum(len(x) for x in sequential) > 1000


def test_backend_starts_no_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pitfall 8/10: the Host's self-re-arming timer threads are disabled: creating the Host,
    registering rules and evaluating leave the thread count unchanged."""
    monkeypatch.setattr(_durable, "_HOST", None)  # force a new Host for this test
    monkeypatch.setattr(_durable, "_REGISTERED", set())
    before = threading.active_count()
    engine = Engine.load(T2T, backend="durable", safety_floor=False)
    for _ in range(20):
        engine.evaluate_facts(MANY, AS_OF)
    time.sleep(0.3)  # the stock Host re-arms its timers every ~0.2 s
    assert _durable._HOST is not None
    assert before == threading.active_count()


def test_hits_never_leak_between_calls(durable: Engine) -> None:
    """Pitfalls 8/12: alerts belong to the call that evaluated the patient: alternating a matching
    and a non-matching patient gives 5 alerts then none, every time."""
    quiet = {"phq9.latest": 8, "phq9.latest_date": AS_OF, "status": "active_treatment"}
    results = [len(durable.evaluate_facts(facts, AS_OF)) for _ in range(200) for facts in (MANY, quiet)]
    assert [5, 0] * 200 == results


# -- memory -------------------------------------------------------------------------------------


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc (Linux)")
def test_memory_stays_flat_over_20000_patients(durable: Engine) -> None:
    """Every asserted fact is retracted: 20,000 patients (most matching, which durable would
    otherwise keep at ~8.6 KB each, ~170 MB) grow RSS by a few MB at most. A sanity bound."""
    rng = random.Random(20000)
    for _ in range(2000):  # warm up caches and allocator pools
        durable.evaluate_facts(random_facts(rng), AS_OF)
    gc.collect()
    before = _rss_mb()
    fired = 0
    for _ in range(20000):
        fired += len(durable.evaluate_facts(random_facts(rng), AS_OF))
    gc.collect()
    grown = _rss_mb() - before
    assert fired > 10000
    assert grown < 10, f"RSS grew by {grown:.1f} MB"

"""End to end, both backends give the same alerts: generated rulesets (YAML text, through the
loader) evaluated on generated episodes (through the fact builder)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cocm_rules import Engine, RulesetError, load_rulesets, parse_episode
from cocm_rules import derive_facts as facts
from cocm_rules.rules import _durable
from cocm_rules.strategies import AS_OF, episodes, rulesets

pytestmark = pytest.mark.skipif(not _durable.available(), reason="durable-rules does not import here")


def _engines(text: str) -> tuple[Engine, Engine]:
    set_ = load_rulesets(text=text)
    return tuple(  # type: ignore[return-value]
        Engine(set_, backend=b, safety_floor=False, skip_reason="property test") for b in ("compiled", "durable")
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(records=st.lists(episodes(), min_size=1, max_size=6), data=st.data())
def test_both_backends_give_identical_alerts(records: list[dict[str, Any]], data: st.DataObject) -> None:
    """Every generated episode gets exactly the same alerts (ids, messages, evidence, order)
    from the compiled and the durable backend, for rulesets whose literals often equal the
    episodes' own fact values (where an off-by-one translation would show)."""
    seen: dict[str, list[Any]] = {}
    for record in records:
        for name, value in facts(record, AS_OF).items():
            seen.setdefault(name, []).append(value)
    text = data.draw(rulesets(favour=seen), label="ruleset")
    compiled, durable = _engines(text)
    for record in records:
        expected = [a.model_dump() for a in compiled.evaluate(record, AS_OF)]
        assert expected == [a.model_dump() for a in durable.evaluate(record, AS_OF)]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=rulesets())
def test_generated_rulesets_always_load(text: str) -> None:
    """The strategy only produces rulesets the loader accepts (so the property above is not
    vacuous)."""
    try:
        load_rulesets(text=text)
    except RulesetError as error:  # pragma: no cover - a failure shows the problem
        pytest.fail(str(error))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=episodes())
def test_generated_episodes_always_parse_and_evaluate(record: dict[str, Any]) -> None:
    """Every generated episode is a valid record, and the default engine gives it a list of
    alerts (invalid answers inside it become data-quality or safety alerts, never a crash)."""
    parse_episode(record)
    alerts = _DEFAULT.evaluate(record, AS_OF)
    assert all(a.patient_id == record["patient_id"] for a in alerts)


_DEFAULT = Engine.load()

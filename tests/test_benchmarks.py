"""The benchmark stays honest: its hand-written rules are the bundled rules (no timing here)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from cocm_rules import Engine
from cocm_rules.synth import generate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import handwritten


def test_handwritten_rules_agree_with_the_engine_on_a_synthetic_caseload() -> None:
    """On 400 synthetic patients the hand-written function fires exactly the rules the engine
    fires: the benchmark compares like with like, and the two are independent oracles. The
    engine's own path (facts computed only as the rules read them) fires the same rules."""
    as_of = dt.date(2026, 11, 20)
    engine = Engine.load()
    disagreements = []
    fired = 0
    for record in generate(400, seed=11, as_of=as_of):
        facts = engine.facts(record, as_of)
        expected = sorted(handwritten.rules(facts))
        actual = sorted(r.rule_id for r in engine.backend.matches(facts))
        lazily = sorted(a.rule_id for a in engine.evaluate(record, as_of))  # facts computed as read
        fired += len(actual)
        if not expected == actual == lazily:
            disagreements.append((record["patient_id"], expected, actual, lazily))
    assert [] == disagreements
    assert fired > 400  # the caseload really exercises the rules

"""Synthetic medical outcomes (``cocm_rules.synth.generate(..., medical=True)``): SMI patients
get antipsychotics, vital signs, labs and a smoking status from a random stream of their own,
so the rest of every record, and the default caseload, stay as they were."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from cocm_rules import Engine, InvalidInput, parse_episode
from cocm_rules.cli import app
from cocm_rules.synth import generate

AS_OF = dt.date(2026, 11, 20)
MEDICAL = ("observations", "medications")


def test_the_default_caseload_has_no_medical_data_and_is_otherwise_the_same():
    """Off by default (the committed example caseload does not change); switched on, each
    record differs only by its observations and medications."""
    plain = list(generate(120, seed=5, as_of=AS_OF))
    medical = list(generate(120, seed=5, as_of=AS_OF, medical=True))

    assert [] == [r["patient_id"] for r in plain if set(MEDICAL) & set(r)]
    assert plain == [{k: v for k, v in r.items() if k not in MEDICAL} for r in medical]


def test_smi_patients_get_medical_outcomes_that_parse_and_alert():
    """Every SMI patient has observations (most an antipsychotic), no CoCM patient does; every
    record is a valid episode, and the caseload raises medical-outcome alerts (the demo's)."""
    records = list(generate(200, seed=5, as_of=AS_OF, medical=True, smi_share=0.5))
    smi = [r for r in records if r["program"] == "smi"]
    engine = Engine.load()

    assert smi
    assert all(r.get("observations") for r in smi)
    assert [] == [r["patient_id"] for r in records if r["program"] == "cocm" and set(MEDICAL) & set(r)]
    assert sum(1 for r in smi if r.get("medications")) > len(smi) // 2
    episodes = [parse_episode(r) for r in records]
    fired = {a.rule_id for e in episodes for a in engine.evaluate(e, AS_OF)}
    assert {"smi-med-weight-gain", "smi-med-bp-severe", "smi-med-lipid-check-due"} <= fired


def test_medical_outcomes_are_deterministic():
    """The same arguments give the same records."""
    assert list(generate(30, seed=9, as_of=AS_OF, medical=True)) == list(
        generate(30, seed=9, as_of=AS_OF, medical=True)
    )


def test_the_medical_flag_must_be_true_or_false():
    """A flag that is not a boolean is refused, naming it."""
    with pytest.raises(InvalidInput) as info:
        generate(3, as_of=AS_OF, medical="yes")

    assert "medical" == info.value.field


def test_the_synth_command_takes_the_medical_flag():
    """``cocm-rules synth --medical`` writes SMI patients with observations; without it, none."""

    def lines(*flags: str) -> list[dict]:
        result = CliRunner().invoke(app, ["synth", "--patients", "40", "--seed", "3", *flags])
        assert 0 == result.exit_code, result.output
        return [json.loads(line) for line in result.stdout.splitlines()]

    assert any("observations" in r for r in lines("--medical"))
    assert not any("observations" in r for r in lines())

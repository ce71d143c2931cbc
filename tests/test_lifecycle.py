"""Alert identity across runs and alert states given acknowledgements (cocm_rules.lifecycle)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cocm_rules import Acknowledgement, Alert, Engine, InvalidInput, SafetyFloorError
from cocm_rules.lifecycle import card_uuid
from cocm_rules.rules.safety import check_safety_floor

NOV2 = dt.date(2026, 11, 2)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def episode(*assessments: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An active CoCM episode with an initial assessment on 2026-08-03 and these assessments."""
    return {
        "patient_id": "p1",
        "program": "cocm",
        "enrollment_date": "2026-08-01",
        "status": "active_treatment",
        "contacts": [{"date": "2026-08-03", "kind": "initial_assessment", "minutes": 60}],
        "assessments": list(assessments),
        **extra,
    }


def phq9(date: str, *answers: int) -> dict[str, Any]:
    return {"measure": "phq9", "date": date, "answers": list(answers)}


ITEM9 = phq9("2026-11-02", 0, 0, 0, 0, 0, 0, 0, 0, 1)


def by_rule(alerts: list[Alert]) -> dict[str, Alert]:
    return {a.rule_id: a for a in alerts}


def ack(alert: Alert, **fields: Any) -> dict[str, Any]:
    """An acknowledgement of ``alert`` by cm1 on 2026-11-03 with a reason (override with ``fields``)."""
    base = {
        "alert_id": alert.alert_id,
        "patient_id": alert.patient_id,
        "rule_id": alert.rule_id,
        "by": "cm1",
        "at": "2026-11-03",
        "reason": "safety plan reviewed",
        "severity": alert.severity,
    }
    return {**base, **fields}


# -- identity -----------------------------------------------------------------------------------


def test_identity_is_stable_across_as_of_dates(engine: Engine) -> None:
    """The same evidence gives the same alert id on every run, whatever the as_of date."""
    ep = episode(ITEM9)
    first = by_rule(engine.evaluate(ep, NOV2))["suicide-phq9-item9"]
    later = by_rule(engine.evaluate(ep, NOV2 + dt.timedelta(days=17)))["suicide-phq9-item9"]
    assert first.alert_id == later.alert_id
    assert 20 == len(first.alert_id or "")


def test_identity_changes_with_a_new_administration(engine: Engine) -> None:
    """A new PHQ-9 (same answers, a later date) is new evidence: a new alert id."""
    before = by_rule(engine.evaluate(episode(ITEM9), NOV2))["suicide-phq9-item9"]
    repeated = episode(ITEM9, phq9("2026-11-09", 0, 0, 0, 0, 0, 0, 0, 0, 1))
    after = by_rule(engine.evaluate(repeated, dt.date(2026, 11, 9)))["suicide-phq9-item9"]
    assert before.alert_id != after.alert_id


def test_identity_differs_by_patient_and_rule(engine: Engine) -> None:
    """Two patients with the same evidence, or two rules on one patient, never share an id."""
    mine = engine.evaluate(episode(ITEM9), NOV2)
    theirs = engine.evaluate({**episode(ITEM9), "patient_id": "p2"}, NOV2)
    assert len({a.alert_id for a in mine}) == len(mine)
    assert not {a.alert_id for a in mine} & {a.alert_id for a in theirs}


def test_identity_of_an_elapsed_time_rule_counts_the_date_it_counts_from(engine: Engine) -> None:
    """engage-follow-up-overdue reads days_since_last_contact (growing daily): its identity
    stands on the last contact's date, so it is the same a week later."""
    ep = episode(phq9("2026-08-03", 2, 2, 2, 2, 2, 2, 0, 0, 0))
    a = by_rule(engine.evaluate(ep, dt.date(2026, 11, 2)))
    b = by_rule(engine.evaluate(ep, dt.date(2026, 11, 9)))
    overdue = [r for r in a if r.startswith("engage-")]
    assert overdue, sorted(a)
    assert [a[r].alert_id for r in overdue] == [b[r].alert_id for r in overdue]
    ident = engine.evidence_identity(a[overdue[0]], ep)
    assert not any(k.startswith("days_since") for k in ident)


def test_card_uuid_is_a_stable_uuid() -> None:
    """A card's uuid is the same for the same alerts in any order, and is a UUID."""
    import uuid

    assert card_uuid(["b", "a"]) == card_uuid(["a", "b"])
    assert str(uuid.UUID(card_uuid(["a"]))) == card_uuid(["a"])
    assert card_uuid(["a"]) != card_uuid(["b"])


# -- states -------------------------------------------------------------------------------------


def test_without_acknowledgements_every_alert_is_new(engine: Engine) -> None:
    """No acknowledgement: state new, nothing acknowledged."""
    alerts = engine.evaluate(episode(ITEM9), NOV2)
    assert {"new"} == {a.state for a in alerts}
    assert [None] * len(alerts) == [a.acknowledgement for a in alerts]


def test_acknowledged_alert_stays_in_the_result(engine: Engine) -> None:
    """An acknowledged alert is kept, first in review order, with its state and end date
    (the suicide-risk ruleset's max_snooze_days, 14, from the day it was recorded)."""
    ep = episode(ITEM9)
    alert = engine.evaluate(ep, NOV2)[0]
    alerts = engine.evaluate(ep, dt.date(2026, 11, 9), [ack(alert)])
    first = alerts[0]
    assert ("suicide-phq9-item9", "acknowledged", dt.date(2026, 11, 17)) == (
        first.rule_id,
        first.state,
        first.state_until,
    )
    assert "cm1" == first.acknowledgement.by  # type: ignore[union-attr]


def test_acknowledgement_ends_at_the_cap(engine: Engine) -> None:
    """Past max_snooze_days the alert is back: refired."""
    ep = episode(ITEM9)
    alert = engine.evaluate(ep, NOV2)[0]
    assert "refired" == engine.evaluate(ep, dt.date(2026, 11, 18), [ack(alert)])[0].state


def test_a_snooze_is_capped_by_the_ruleset(engine: Engine) -> None:
    """A snooze asked for a year ends after max_snooze_days (28 for the depression ruleset)."""
    ep = episode(phq9("2026-08-03", 3, 3, 3, 2, 2, 2, 0, 0, 0), phq9("2026-10-26", 3, 3, 2, 2, 2, 2, 0, 0, 0))
    alert = by_rule(engine.evaluate(ep, NOV2))["t2t-phq9-not-improving"]
    snooze = ack(alert, at="2026-10-27", until="2027-10-27")
    again = by_rule(engine.evaluate(ep, dt.date(2026, 11, 10), [snooze]))["t2t-phq9-not-improving"]
    assert ("snoozed", dt.date(2026, 11, 24)) == (again.state, again.state_until)
    after = by_rule(engine.evaluate(ep, dt.date(2026, 11, 25), [snooze]))["t2t-phq9-not-improving"]
    assert "refired" == after.state


def test_an_acknowledgement_after_as_of_does_not_apply(engine: Engine) -> None:
    """Evaluating as of a day before the acknowledgement was recorded ignores it (deterministic)."""
    ep = episode(ITEM9)
    alert = engine.evaluate(ep, NOV2)[0]
    assert "new" == engine.evaluate(ep, NOV2, [ack(alert)])[0].state


def test_another_patients_acknowledgement_does_not_apply(engine: Engine) -> None:
    """Acknowledgements are matched by patient id."""
    ep = episode(ITEM9)
    alert = engine.evaluate(ep, NOV2)[0]
    assert "new" == engine.evaluate(ep, dt.date(2026, 11, 5), [ack(alert, patient_id="p2")])[0].state


def _not_improving(*later: dict[str, Any]) -> dict[str, Any]:
    return episode(phq9("2026-08-03", 3, 3, 3, 2, 2, 2, 0, 0, 0), phq9("2026-10-26", 3, 3, 2, 2, 2, 2, 0, 0, 0), *later)


def test_snooze_holds_over_new_evidence_that_is_not_worse(engine: Engine) -> None:
    """A snoozed not-improving alert stays snoozed when a new PHQ-9 is a little better (still
    not improving): a new identity, but not worse."""
    alert = by_rule(engine.evaluate(_not_improving(), NOV2))["t2t-phq9-not-improving"]
    snooze = ack(alert, until="2026-11-20")
    ep = _not_improving(phq9("2026-11-09", 3, 2, 2, 2, 2, 2, 0, 0, 0))
    again = by_rule(engine.evaluate(ep, dt.date(2026, 11, 10), [snooze]))["t2t-phq9-not-improving"]
    assert alert.alert_id != again.alert_id
    assert ("snoozed", dt.date(2026, 11, 20)) == (again.state, again.state_until)


def test_snooze_comes_back_on_a_worse_score(engine: Engine) -> None:
    """A new, worse PHQ-9 brings a snoozed alert back at once: refired."""
    alert = by_rule(engine.evaluate(_not_improving(), NOV2))["t2t-phq9-not-improving"]
    snooze = ack(alert, until="2026-11-20")
    ep = _not_improving(phq9("2026-11-09", 3, 3, 3, 2, 2, 2, 0, 0, 0))
    assert "refired" == by_rule(engine.evaluate(ep, dt.date(2026, 11, 10), [snooze]))["t2t-phq9-not-improving"].state


def test_plain_acknowledgement_covers_only_its_evidence(engine: Engine) -> None:
    """An acknowledgement without an end date does not hold over new evidence: refired."""
    alert = by_rule(engine.evaluate(_not_improving(), NOV2))["t2t-phq9-not-improving"]
    ep = _not_improving(phq9("2026-11-09", 3, 2, 2, 2, 2, 2, 0, 0, 0))
    assert (
        "refired" == by_rule(engine.evaluate(ep, dt.date(2026, 11, 10), [ack(alert)]))["t2t-phq9-not-improving"].state
    )


# -- suicide risk: the safety floor ----------------------------------------------------------------


def test_suicide_snooze_never_holds_over_a_new_positive_screen(engine: Engine) -> None:
    """A snoozed suicide-risk alert is back at once on a new administration with item 9 positive
    (lower than before, so not 'worse' by score): refired."""
    first = phq9("2026-11-02", 0, 0, 0, 0, 0, 0, 0, 0, 2)
    alert = engine.evaluate(episode(first), NOV2)[0]
    snooze = ack(alert, until="2026-11-15")
    ep = episode(first, phq9("2026-11-05", 0, 0, 0, 0, 0, 0, 0, 0, 1))
    again = engine.evaluate(ep, dt.date(2026, 11, 5), [snooze])[0]
    assert ("suicide-phq9-item9", "refired") == (again.rule_id, again.state)


def test_suicide_acknowledgement_without_a_reason_is_ignored(engine: Engine) -> None:
    """Acknowledging a suicide-risk alert needs a reason: without one it stays new."""
    alert = engine.evaluate(episode(ITEM9), NOV2)[0]
    state = engine.evaluate(episode(ITEM9), dt.date(2026, 11, 5), [ack(alert, reason="  ")])[0].state
    assert "new" == state


def test_safety_floor_refuses_an_engine_whose_acknowledgements_hide_new_evidence() -> None:
    """If acknowledgements outlived their evidence (identity blind to a new screen, suicide
    rules treated like others), the safety floor refuses the engine."""
    engine = Engine.load()
    engine.identity = {
        k: dataclasses.replace(v, values=(), since=(), suicide_risk=False) for k, v in engine.identity.items()
    }
    with pytest.raises(SafetyFloorError) as e:
        check_safety_floor(engine)
    assert "still hides the suicide_risk alert" in str(e.value)


# -- input checks -----------------------------------------------------------------------------------


def test_invalid_acknowledgement_names_the_field(engine: Engine) -> None:
    """A bad acknowledgement is InvalidInput naming it and its field."""
    alert = engine.evaluate(episode(ITEM9), NOV2)[0]
    with pytest.raises(InvalidInput) as e:
        engine.evaluate(episode(ITEM9), NOV2, [ack(alert, until="next week")])
    assert "acknowledgements[0].until" == e.value.field


def test_acknowledgements_must_be_an_iterable(engine: Engine) -> None:
    """One acknowledgement in place of a list is a programmer's TypeError."""
    alert = engine.evaluate(episode(ITEM9), NOV2)[0]
    with pytest.raises(TypeError):
        engine.evaluate(episode(ITEM9), NOV2, ack(alert))  # type: ignore[arg-type]


def test_acknowledgement_models_are_accepted(engine: Engine) -> None:
    """Acknowledgement objects work as well as mappings, and in evaluate_many."""
    alert = engine.evaluate(episode(ITEM9), NOV2)[0]
    model = Acknowledgement.model_validate(ack(alert))
    results = list(engine.evaluate_many([episode(ITEM9)], dt.date(2026, 11, 5), acknowledgements=[model]))
    assert "acknowledged" == results[0].alerts[0].state  # type: ignore[union-attr]


def test_alert_ids_are_the_documented_hash_of_patient_rule_and_evidence(engine: Engine) -> None:
    """An alert id is the first 20 hex digits of the SHA-256 of the JSON text (keys sorted, no
    spaces) of [patient id, rule id, evidence identity]: pinned, so ids kept in a store stay
    valid when the code that computes them changes."""
    import hashlib
    import json
    from pathlib import Path

    episode = json.loads((Path(__file__).parent.parent / "examples" / "episode_phq9_not_improving.json").read_text())
    as_of = dt.date(2026, 11, 20)
    alerts = engine.evaluate(episode, as_of)
    assert alerts
    for alert in alerts:
        evidence = engine.evidence_identity(alert, episode)
        text = json.dumps([alert.patient_id, alert.rule_id, evidence], sort_keys=True, separators=(",", ":"))
        assert hashlib.sha256(text.encode()).hexdigest()[:20] == alert.alert_id


_JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.dates().map(dt.date.isoformat)
)


@given(
    patient_id=st.text(),
    rule_id=st.text(),
    evidence=st.dictionaries(st.text(), _JSON_SCALARS | st.lists(_JSON_SCALARS, max_size=3), max_size=8),
)
def test_the_identity_text_is_json_dumps_with_sorted_keys(patient_id: str, rule_id: str, evidence: dict) -> None:
    """The identity's JSON text (the C encoder built once) is exactly ``json.dumps`` with
    sorted keys and no spaces, for any patient id (non-ASCII, quotes, control characters
    included), rule id and evidence values: the same ids as before the encoder was reused."""
    import json

    from cocm_rules.lifecycle import _identity_json

    value = [patient_id, rule_id, evidence]
    assert json.dumps(value, sort_keys=True, separators=(",", ":")) == _identity_json(value)


def test_the_identity_text_refuses_a_value_json_cannot_hold() -> None:
    """A value JSON cannot hold is a TypeError, as with ``json.dumps`` (never a silent text)."""
    from cocm_rules.lifecycle import _identity_json

    with pytest.raises(TypeError, match="set"):
        _identity_json(["p", "r", {"x": {1, 2}}])

"""The alert-state store on SQLite and PostgreSQL (a real server): migrations, acknowledgements,
alerts seen, CDS Hooks feedback, and the engine reading what it keeps."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from cocm_rules import Acknowledgement, Engine, InvalidInput, StoreError
from cocm_rules.store import AlertStore, CardFeedback, store_url

NOV2 = dt.date(2026, 11, 2)
EPISODE: dict[str, Any] = {
    "patient_id": "p1",
    "program": "cocm",
    "enrollment_date": "2026-10-01",
    "status": "active_treatment",
    "assessments": [{"measure": "phq9", "date": "2026-11-02", "answers": [0, 0, 0, 0, 0, 0, 0, 0, 1]}],
}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def test_opening_migrates_to_the_latest_schema(store_target: str) -> None:
    """A new store gets the three alert-state tables, and Alembic's version row; opening it
    again is harmless."""
    AlertStore(store_target).close()
    with AlertStore(store_target) as store:
        names = set(sa.inspect(store.engine).get_table_names())
        with store.engine.connect() as conn:
            version = conn.execute(sa.text("select version_num from alembic_version")).scalar()
    assert {"alerts_seen", "acknowledgements", "card_feedback", "alembic_version"} == names
    assert "0001" == version


def test_no_clinical_data_in_the_schema(store_target: str) -> None:
    """The store's columns are alert state only: no answers, scores, totals or episode fields."""
    with AlertStore(store_target) as store:
        inspector = sa.inspect(store.engine)
        columns = {
            c["name"] for t in ("alerts_seen", "acknowledgements", "card_feedback") for c in inspector.get_columns(t)
        }
    forbidden = {"answers", "total", "score", "evidence", "message", "birth_date", "assessments", "facts"}
    assert set() == columns & forbidden


def test_acknowledgement_round_trip_sets_the_state(store_target: str, engine: Engine) -> None:
    """An acknowledgement recorded in the store and read back makes the alert acknowledged."""
    alerts = engine.evaluate(EPISODE, NOV2)
    with AlertStore(store_target) as store:
        store.record_alerts(alerts, NOV2)
        first = alerts[0]
        ack = Acknowledgement(
            alert_id=first.alert_id or "",
            patient_id="p1",
            rule_id=first.rule_id,
            by="cm1",
            at=dt.date(2026, 11, 3),
            reason="safety plan reviewed",
            until=dt.date(2026, 11, 10),
            severity=first.severity,
        )
        store.acknowledge(ack)
        stored = store.acknowledgements(["p1"])
        assert [ack] == stored
        assert [] == store.acknowledgements(["p2"])
    again = engine.evaluate(EPISODE, dt.date(2026, 11, 5), stored)
    assert ("snoozed", dt.date(2026, 11, 10)) == (again[0].state, again[0].state_until)


def test_suicide_acknowledgement_needs_a_reason(store_target: str, engine: Engine) -> None:
    """The store refuses to record a suicide-risk acknowledgement without a reason (it knows
    the category from the alerts it saw)."""
    alert = engine.evaluate(EPISODE, NOV2)[0]
    with AlertStore(store_target) as store:
        store.record_alerts([alert], NOV2)
        ack = Acknowledgement(alert_id=alert.alert_id or "", patient_id="p1", rule_id=alert.rule_id, by="cm1", at=NOV2)
        with pytest.raises(InvalidInput) as e:
            store.acknowledge(ack)
        assert "reason" == e.value.field
        assert [] == store.acknowledgements()


def test_alerts_seen_keep_first_and_last_day(store_target: str, engine: Engine) -> None:
    """Recording the same alert on two days keeps the first day and moves the last."""
    alert = engine.evaluate(EPISODE, NOV2)[0]
    with AlertStore(store_target) as store:
        store.record_alerts([alert], NOV2)
        store.record_alerts([alert], dt.date(2026, 11, 9), {alert.alert_id or "": "card-1"})
        seen = store.seen_alert(alert.alert_id or "")
        assert seen is not None
        assert (NOV2, dt.date(2026, 11, 9), "card-1") == (seen.first_seen, seen.last_seen, seen.card_uuid)
        assert [seen] == store.alerts_of_card("card-1")


def test_two_writers_recording_the_same_new_alerts_at_once_both_succeed(store_target: str, engine: Engine) -> None:
    """Two service processes that show the same new alert at the same moment both record it
    (one row, no error): recording is one upsert, not an update then an insert that races."""
    import threading

    alerts = [
        a.model_copy(update={"alert_id": f"{i:020x}", "patient_id": f"p{i}"})
        for i in range(30)
        for a in engine.evaluate(EPISODE, NOV2)[:1]
    ]
    # Two stores, as two service processes would have, opened (and migrated) one after the
    # other: Alembic's migration context is process-global, so it is not run from two threads.
    stores = [AlertStore(store_target), AlertStore(store_target)]
    barrier = threading.Barrier(2, timeout=30)
    failures: list[BaseException] = []

    def write(store: AlertStore) -> None:
        for alert in alerts:
            barrier.wait()
            try:
                store.record_alerts([alert], NOV2)
            except StoreError as e:
                failures.append(e)

    writers = [threading.Thread(target=write, args=(store,)) for store in stores]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    for store in stores:
        store.close()
    assert [] == failures
    with AlertStore(store_target) as store:
        assert 30 == len([a for a in alerts if store.seen_alert(a.alert_id or "") is not None])


def test_overridden_card_acknowledges_its_alerts(store_target: str, engine: Engine) -> None:
    """CDS Hooks feedback 'overridden' with a reason acknowledges each alert of the card;
    'accepted' is recorded without acknowledging."""
    alerts = engine.evaluate(EPISODE, NOV2)
    cards = {a.alert_id or "": f"card-{a.rule_id}" for a in alerts}
    when = dt.datetime(2026, 11, 3, 9, 30, tzinfo=dt.UTC)
    with AlertStore(store_target) as store:
        store.record_alerts(alerts, NOV2, cards)
        store.record_feedback(CardFeedback("cocm", "card-engage-no-initial-assessment", "accepted", when), by="cds")
        assert [] == store.acknowledgements()
        feedback = CardFeedback(
            "cocm",
            "card-suicide-phq9-item9",
            "overridden",
            when,
            "already-addressed",
            "Already addressed",
            "seen today",
        )
        shown = store.record_feedback(feedback, by="cds-hooks:ehr")
        assert ["suicide-phq9-item9"] == [a.rule_id for a in shown]
        (ack,) = store.acknowledgements()
        assert ("cds-hooks:ehr", "Already addressed; seen today", dt.date(2026, 11, 3)) == (ack.by, ack.reason, ack.at)
        assert ["accepted", "overridden"] == [f.outcome for f in store.feedback()]


def test_suicide_card_overridden_without_a_reason_stays_unacknowledged(store_target: str, engine: Engine) -> None:
    """Overriding a suicide-risk card without a reason is recorded as feedback only."""
    alert = engine.evaluate(EPISODE, NOV2)[0]
    when = dt.datetime(2026, 11, 3, tzinfo=dt.UTC)
    with AlertStore(store_target) as store:
        store.record_alerts([alert], NOV2, {alert.alert_id or "": "card-s"})
        store.record_feedback(CardFeedback("cocm", "card-s", "overridden", when), by="cds")
        assert [] == store.acknowledgements()
        assert 1 == len(store.feedback("card-s"))


def test_store_url_forms() -> None:
    """A path is a SQLite file; postgres URLs use psycopg 3."""
    assert "sqlite:///alerts.db" == store_url("alerts.db")
    assert "postgresql+psycopg://u@h/db" == store_url("postgresql://u@h/db")
    assert "postgresql+psycopg://u@h/db" == store_url("postgres://u@h/db")


def test_unreachable_database_is_a_store_error(tmp_path: Any) -> None:
    """A store that cannot be opened raises StoreError naming it (without a password)."""
    with pytest.raises(StoreError) as e:
        AlertStore(str(tmp_path / "missing-dir" / "alerts.db"))
    assert str(tmp_path / "missing-dir" / "alerts.db") in str(e.value)
    with pytest.raises(StoreError) as e:
        AlertStore("postgresql://cocm:secret@127.0.0.1:1/none?connect_timeout=2")
    assert "secret" not in str(e.value)

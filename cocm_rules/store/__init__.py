"""The alert-state store: acknowledgements, snoozes and CDS Hooks feedback kept between runs.

An adapter at the edge. The engine stays a pure function of (episode, acknowledgements,
rulesets, ``as_of``): a caller reads the acknowledgements from here, passes them to
:meth:`~cocm_rules.Engine.evaluate`, and records what it showed. The store holds alert state
only (alert ids, the patient id as the host gave it, rule ids, who, when, why, until when,
card feedback), never the clinical record.

>>> from cocm_rules.store import AlertStore
>>> store = AlertStore(":memory:")              # a SQLite file path, or a database URL
>>> store.acknowledgements()
[]

One database layer (SQLAlchemy 2 Core) with migrations (Alembic, applied when the store is
opened): SQLite as the embedded default (a file path, or ``sqlite:///...``), PostgreSQL for a
shared service (``postgresql://user@host/db``, driven by psycopg 3). Needs the ``store`` extra:
``pip install 'cocm-rules[store]'``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._log import get_logger
from ..alerts import Acknowledgement, Alert
from ..errors import BackendUnavailable, InvalidInput, StoreError
from ..vocabulary import SUICIDE_RISK

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

__all__ = ["AlertStore", "CardFeedback", "SeenAlert", "StoredAcknowledgement", "store_url"]

log = get_logger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def _sa() -> Any:
    try:
        import alembic  # noqa: F401
        import sqlalchemy
    except ImportError as e:
        raise BackendUnavailable("the alert-state store", "store", cause=str(e)) from e
    return sqlalchemy


def _upsert_insert(dialect: str) -> Any:
    """The ``insert`` of the database's dialect, which has ``on_conflict_do_update`` (SQLite
    and PostgreSQL, the two stores supported)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def store_url(target: str | Path) -> str:
    """The SQLAlchemy URL of a store: a file path becomes ``sqlite:///path``; ``postgresql://``
    and ``postgres://`` URLs use psycopg 3 (``postgresql+psycopg://``); ``:memory:`` is an
    in-memory SQLite database (for tests)."""
    text = str(target)
    if text == ":memory:":
        return "sqlite://"
    for prefix in ("postgresql://", "postgres://"):
        if text.startswith(prefix):
            return "postgresql+psycopg://" + text[len(prefix) :]
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser()}"


@dataclass(frozen=True)
class SeenAlert:
    """An alert a run showed (recorded by ``evaluate``/``review --store`` or the service)."""

    alert_id: str
    patient_id: str
    rule_id: str
    category: str
    severity: str
    card_uuid: str | None
    first_seen: dt.date
    last_seen: dt.date


@dataclass(frozen=True)
class StoredAcknowledgement:
    """An acknowledgement as stored: the engine's input plus when and how it was recorded."""

    acknowledgement: Acknowledgement
    recorded_at: dt.datetime
    source: str


@dataclass(frozen=True)
class CardFeedback:
    """CDS Hooks feedback on one card (CDS Hooks 2.0 "Feedback")."""

    service_id: str
    card_uuid: str
    outcome: str
    outcome_timestamp: dt.datetime
    override_reason_code: str | None = None
    override_reason_display: str | None = None
    override_comment: str | None = None


class AlertStore:
    """Alert state in a SQL database, migrated to the latest schema when opened.

    Raises :class:`~cocm_rules.StoreError` when the database cannot be reached or migrated,
    and :class:`~cocm_rules.BackendUnavailable` without the ``store`` extra.
    """

    def __init__(self, target: str | Path) -> None:
        sa = _sa()
        self.url = store_url(target)
        self.name = self._safe_name()
        kwargs: dict[str, Any] = {}
        if self.url == "sqlite://":
            from sqlalchemy.pool import StaticPool

            kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        try:
            self.engine: Engine = sa.create_engine(self.url, **kwargs)
        except (sa.exc.ArgumentError, ImportError) as e:
            raise StoreError(f"not a usable database URL or path ({e})", store=self.name) from e
        self._migrate()

    def _safe_name(self) -> str:
        """The URL without its password (for messages and logs)."""
        from sqlalchemy.engine import make_url

        try:
            return make_url(self.url).render_as_string(hide_password=True)
        except Exception:  # an unparsable URL: say so without echoing it
            return "<database URL>"

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        sa = _sa()
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.SQLAlchemyError as e:
            raise StoreError(f"{type(e.orig if getattr(e, 'orig', None) else e).__name__}: {e}", store=self.name) from e

    def _migrate(self) -> None:
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self._begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        log.info("store.opened", store=self.engine.dialect.name)

    def close(self) -> None:
        """Close the store's connections."""
        self.engine.dispose()

    def __enter__(self) -> AlertStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- alerts seen ---------------------------------------------------------------------------
    def record_alerts(self, alerts: Iterable[Alert], seen_on: dt.date, card_uuids: dict[str, str] | None = None) -> int:
        """Record the alerts a run showed (so ``cocm-rules ack ALERT_ID`` and CDS Hooks feedback
        can find their patient and rule); ``card_uuids`` maps an alert id to its card's uuid.
        Returns how many alerts were recorded."""
        from ._tables import alerts_seen as t

        count = 0
        with self._begin() as conn:
            insert = _upsert_insert(conn.dialect.name)
            for a in alerts:
                if a.alert_id is None or a.patient_id is None:
                    continue
                card = (card_uuids or {}).get(a.alert_id)
                values: dict[str, Any] = {"last_seen": seen_on, "severity": a.severity}
                if card is not None:
                    values["card_uuid"] = card
                # One statement: two writers showing the same new alert at once both succeed.
                row = insert(t).values(
                    alert_id=a.alert_id,
                    patient_id=a.patient_id,
                    rule_id=a.rule_id,
                    category=a.category,
                    first_seen=seen_on,
                    **values,
                )
                conn.execute(row.on_conflict_do_update(index_elements=[t.c.alert_id], set_=values))
                count += 1
        log.info("store.alerts_recorded", alerts=count)
        return count

    def seen_alert(self, alert_id: str) -> SeenAlert | None:
        """The alert recorded under ``alert_id``, or None."""
        from ._tables import alerts_seen as t

        sa = _sa()
        with self._begin() as conn:
            row = conn.execute(sa.select(t).where(t.c.alert_id == alert_id)).mappings().first()
        return None if row is None else SeenAlert(**row)

    def alerts_of_card(self, card_uuid: str) -> list[SeenAlert]:
        """The alerts a CDS Hooks card showed."""
        from ._tables import alerts_seen as t

        sa = _sa()
        with self._begin() as conn:
            rows = conn.execute(sa.select(t).where(t.c.card_uuid == card_uuid).order_by(t.c.alert_id)).mappings()
            return [SeenAlert(**r) for r in rows]

    # -- acknowledgements ----------------------------------------------------------------------
    def acknowledge(
        self,
        ack: Acknowledgement,
        *,
        category: str | None = None,
        source: str = "python",
        recorded_at: dt.datetime | None = None,
    ) -> StoredAcknowledgement:
        """Record an acknowledgement. A suicide-risk alert (``category``, or the category the
        store saw it with) needs a reason: raises :class:`~cocm_rules.InvalidInput` without one."""
        from ._tables import acknowledgements as t

        sa = _sa()
        if category is None:
            seen = self.seen_alert(ack.alert_id)
            category = seen.category if seen else None
        if category == SUICIDE_RISK and ack.reason is None:
            raise InvalidInput(
                "acknowledging a suicide-risk alert needs a reason (what was done: e.g. safety plan reviewed)",
                field="reason",
            )
        if ack.until is not None and ack.until < ack.at:
            raise InvalidInput(
                "a snooze must end on or after the day it is recorded", field="until", value=ack.until.isoformat()
            )
        when = recorded_at or dt.datetime.now(dt.UTC)
        with self._begin() as conn:
            conn.execute(
                sa.insert(t).values(
                    alert_id=ack.alert_id,
                    patient_id=ack.patient_id,
                    rule_id=ack.rule_id,
                    acknowledged_by=ack.by,
                    acknowledged_on=ack.at,
                    recorded_at=when,
                    reason=ack.reason,
                    until=ack.until,
                    severity=ack.severity,
                    source=source,
                )
            )
        log.info("store.acknowledged", rule_id=ack.rule_id, source=source, snooze=ack.until is not None)
        return StoredAcknowledgement(ack, when, source)

    def stored_acknowledgements(self, patient_ids: Iterable[str] | None = None) -> list[StoredAcknowledgement]:
        """Every acknowledgement (of these patients), oldest first, with when and how it was recorded."""
        from ._tables import acknowledgements as t

        sa = _sa()
        query = sa.select(t).order_by(t.c.id)
        if patient_ids is not None:
            query = query.where(t.c.patient_id.in_(list(patient_ids)))
        with self._begin() as conn:
            rows = list(conn.execute(query).mappings())
        return [_stored(r) for r in rows]

    def acknowledgements(self, patient_ids: Iterable[str] | None = None) -> list[Acknowledgement]:
        """The acknowledgements to pass to the engine (of these patients, or all)."""
        return [s.acknowledgement for s in self.stored_acknowledgements(patient_ids)]

    # -- CDS Hooks feedback --------------------------------------------------------------------
    def record_feedback(self, feedback: CardFeedback, *, by: str) -> list[SeenAlert]:
        """Record feedback on a card; an ``overridden`` card acknowledges each alert it showed
        (by ``by``, with the override reason: a suicide-risk alert overridden without one stays
        unacknowledged). Returns the alerts of the card (empty for a card the store never saw)."""
        from ._tables import card_feedback as t

        sa = _sa()
        now = dt.datetime.now(dt.UTC)
        with self._begin() as conn:
            conn.execute(
                sa.insert(t).values(
                    service_id=feedback.service_id,
                    card_uuid=feedback.card_uuid,
                    outcome=feedback.outcome,
                    override_reason_code=feedback.override_reason_code,
                    override_reason_display=feedback.override_reason_display,
                    override_comment=feedback.override_comment,
                    outcome_timestamp=feedback.outcome_timestamp,
                    recorded_at=now,
                )
            )
        alerts = self.alerts_of_card(feedback.card_uuid)
        if feedback.outcome == "overridden":
            reason = "; ".join(
                x
                for x in (feedback.override_reason_display or feedback.override_reason_code, feedback.override_comment)
                if x
            )
            for a in alerts:
                if a.category == SUICIDE_RISK and not reason:
                    continue
                ack = Acknowledgement(
                    alert_id=a.alert_id,
                    patient_id=a.patient_id,
                    rule_id=a.rule_id,
                    by=by,
                    at=feedback.outcome_timestamp.date(),
                    reason=reason or None,
                    severity=a.severity,
                )
                self.acknowledge(ack, category=a.category, source="cds-hooks", recorded_at=now)
        log.info("store.feedback_recorded", outcome=feedback.outcome, alerts=len(alerts))
        return alerts

    def feedback(self, card_uuid: str | None = None) -> Sequence[CardFeedback]:
        """Feedback recorded (on one card, or all), oldest first."""
        from ._tables import card_feedback as t

        sa = _sa()
        query = sa.select(t).order_by(t.c.id)
        if card_uuid is not None:
            query = query.where(t.c.card_uuid == card_uuid)
        with self._begin() as conn:
            rows = list(conn.execute(query).mappings())
        return [
            CardFeedback(
                service_id=r["service_id"],
                card_uuid=r["card_uuid"],
                outcome=r["outcome"],
                outcome_timestamp=r["outcome_timestamp"],
                override_reason_code=r["override_reason_code"],
                override_reason_display=r["override_reason_display"],
                override_comment=r["override_comment"],
            )
            for r in rows
        ]


def _stored(r: Any) -> StoredAcknowledgement:
    ack = Acknowledgement(
        alert_id=r["alert_id"],
        patient_id=r["patient_id"],
        rule_id=r["rule_id"],
        by=r["acknowledged_by"],
        at=r["acknowledged_on"],
        reason=r["reason"],
        until=r["until"],
        severity=r["severity"],
    )
    return StoredAcknowledgement(ack, r["recorded_at"], r["source"])

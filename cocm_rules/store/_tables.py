"""The store's tables (SQLAlchemy Core): alert state only, never the clinical record.

* ``alerts_seen``: an alert a run showed (its id, the patient id as the host gave it, the rule,
  its category and severity, the CDS Hooks card that showed it, first and last day seen);
* ``acknowledgements``: who acknowledged or snoozed which alert, when, why and until when;
* ``card_feedback``: CDS Hooks feedback on a card (accepted or overridden, the override reason).

No answers, scores, dates of care or free text of the patient record are stored. The schema
is created and changed only by the Alembic migrations in ``migrations/versions``.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["acknowledgements", "alerts_seen", "card_feedback", "metadata"]

metadata = sa.MetaData()

alerts_seen = sa.Table(
    "alerts_seen",
    metadata,
    sa.Column("alert_id", sa.String(64), primary_key=True),
    sa.Column("patient_id", sa.String(256), nullable=False, index=True),
    sa.Column("rule_id", sa.String(128), nullable=False),
    sa.Column("category", sa.String(64), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("card_uuid", sa.String(36), nullable=True, index=True),
    sa.Column("first_seen", sa.Date, nullable=False),
    sa.Column("last_seen", sa.Date, nullable=False),
)

acknowledgements = sa.Table(
    "acknowledgements",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.String(64), nullable=False, index=True),
    sa.Column("patient_id", sa.String(256), nullable=False, index=True),
    sa.Column("rule_id", sa.String(128), nullable=False),
    sa.Column("acknowledged_by", sa.String(256), nullable=False),
    sa.Column("acknowledged_on", sa.Date, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("until", sa.Date, nullable=True),
    sa.Column("severity", sa.String(16), nullable=True),
    sa.Column("source", sa.String(32), nullable=False),
)

card_feedback = sa.Table(
    "card_feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("service_id", sa.String(128), nullable=False),
    sa.Column("card_uuid", sa.String(36), nullable=False, index=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("override_reason_code", sa.String(256), nullable=True),
    sa.Column("override_reason_display", sa.Text, nullable=True),
    sa.Column("override_comment", sa.Text, nullable=True),
    sa.Column("outcome_timestamp", sa.DateTime(timezone=True), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)

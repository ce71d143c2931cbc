"""Alert state: alerts seen, acknowledgements, CDS Hooks card feedback.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the three tables of alert state."""
    op.create_table(
        "alerts_seen",
        sa.Column("alert_id", sa.String(64), primary_key=True),
        sa.Column("patient_id", sa.String(256), nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("card_uuid", sa.String(36), nullable=True),
        sa.Column("first_seen", sa.Date, nullable=False),
        sa.Column("last_seen", sa.Date, nullable=False),
    )
    op.create_index("ix_alerts_seen_patient_id", "alerts_seen", ["patient_id"])
    op.create_index("ix_alerts_seen_card_uuid", "alerts_seen", ["card_uuid"])
    op.create_table(
        "acknowledgements",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(64), nullable=False),
        sa.Column("patient_id", sa.String(256), nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("acknowledged_by", sa.String(256), nullable=False),
        sa.Column("acknowledged_on", sa.Date, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("until", sa.Date, nullable=True),
        sa.Column("severity", sa.String(16), nullable=True),
        sa.Column("source", sa.String(32), nullable=False),
    )
    op.create_index("ix_acknowledgements_alert_id", "acknowledgements", ["alert_id"])
    op.create_index("ix_acknowledgements_patient_id", "acknowledgements", ["patient_id"])
    op.create_table(
        "card_feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("service_id", sa.String(128), nullable=False),
        sa.Column("card_uuid", sa.String(36), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("override_reason_code", sa.String(256), nullable=True),
        sa.Column("override_reason_display", sa.Text, nullable=True),
        sa.Column("override_comment", sa.Text, nullable=True),
        sa.Column("outcome_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_card_feedback_card_uuid", "card_feedback", ["card_uuid"])


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_table("card_feedback")
    op.drop_table("acknowledgements")
    op.drop_table("alerts_seen")

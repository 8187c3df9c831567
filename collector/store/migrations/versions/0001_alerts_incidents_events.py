"""Alert instances, incidents, the event seam and baseline state.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collector.store.tables import Json, Serial, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("rule", sa.String(255), nullable=False, index=True),
        sa.Column("definition_hash", sa.String(64), nullable=False),
        sa.Column("labels", Json, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("active_since", UtcDateTime, nullable=False),
        sa.Column("fired_at", UtcDateTime),
        sa.Column("clear_since", UtcDateTime),
        sa.Column("last_value", sa.Float),
        sa.Column("last_eval_at", UtcDateTime),
        sa.Column("incident_id", sa.String(36)),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(255), nullable=False, index=True),
        sa.Column("group_name", sa.String(255), nullable=False),
        sa.Column("tier", sa.String(2), nullable=False, index=True),
        sa.Column("service", sa.String(255), index=True),
        sa.Column("labels", Json, nullable=False),
        sa.Column("annotations", Json, nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("threshold", sa.String(64)),
        sa.Column("baseline", Json),
        sa.Column("starts_at", UtcDateTime, nullable=False),
        sa.Column("fired_at", UtcDateTime, nullable=False, index=True),
        sa.Column("ends_at", UtcDateTime),
        sa.Column("duration_seconds", sa.Float),
        sa.Column("resolve_reason", sa.String(32)),
        sa.Column("acked_at", UtcDateTime),
        sa.Column("acked_by", sa.String(255)),
        sa.Column("silenced", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("evidence", Json, nullable=False),
    )
    op.create_index(
        "uq_incidents_open_fingerprint",
        "incidents",
        ["fingerprint"],
        unique=True,
        sqlite_where=sa.text("ends_at IS NULL"),
        postgresql_where=sa.text("ends_at IS NULL"),
    )
    op.create_table(
        "events",
        sa.Column("seq", Serial, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("incident_id", sa.String(36), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", Json, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("dispatched_at", UtcDateTime, index=True),
    )
    op.create_table(
        "baselines",
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("rule", sa.String(255), nullable=False, index=True),
        sa.Column("params_hash", sa.String(64), nullable=False),
        sa.Column("state", Json, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("baselines")
    op.drop_table("events")
    op.drop_index("uq_incidents_open_fingerprint", table_name="incidents")
    op.drop_table("incidents")
    op.drop_table("alerts")

"""Notification stage: outbox (deliveries), group state, silences, digest runs.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collector.store.tables import Json, Serial, UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("seq", Serial, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("receiver", sa.String(255), nullable=False),
        sa.Column("ordering_key", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("group_key", sa.Text, nullable=False),
        sa.Column("incident_ids", Json, nullable=False),
        sa.Column("alert_count", sa.Integer, nullable=False),
        sa.Column("content_type", sa.String(128), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("queued_at", UtcDateTime, nullable=False),
        sa.Column("next_attempt_at", UtcDateTime, nullable=False),
        sa.Column("claimed_by", sa.String(255)),
        sa.Column("claimed_until", UtcDateTime),
        sa.Column("last_attempt_at", UtcDateTime),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("delivered_at", UtcDateTime),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["receiver", "state", "next_attempt_at"])
    op.create_index("ix_deliveries_ordering", "deliveries", ["receiver", "ordering_key", "seq"])
    op.create_index("ix_deliveries_state_queued", "deliveries", ["state", "queued_at"])
    op.create_table(
        "notify_groups",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("receiver", sa.String(255), nullable=False),
        sa.Column("route_key", sa.String(64), nullable=False),
        sa.Column("group_key", sa.Text, nullable=False),
        sa.Column("group_labels", Json, nullable=False),
        sa.Column("group_wait_s", sa.Float, nullable=False),
        sa.Column("group_interval_s", sa.Float, nullable=False),
        sa.Column("repeat_interval_s", sa.Float, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("next_flush_at", UtcDateTime, index=True),
        sa.Column("last_flush_at", UtcDateTime),
        sa.Column("last_sent_at", UtcDateTime),
    )
    op.create_table(
        "notify_members",
        sa.Column("group_id", sa.String(64), primary_key=True),
        sa.Column("incident_id", sa.String(36), primary_key=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("labels", Json, nullable=False),
        sa.Column("starts_at", sa.String(32), nullable=False),
        sa.Column("notified", sa.Boolean, nullable=False),
        sa.Column("suppressed", sa.String(16)),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_notify_members_incident_id", "notify_members", ["incident_id"])
    locks = op.create_table(
        "notify_locks",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("holder", sa.String(255)),
        sa.Column("taken_at", UtcDateTime),
    )
    op.bulk_insert(locks, [{"name": "dispatch", "holder": None, "taken_at": None}])
    op.create_table(
        "silences",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("matchers", Json, nullable=False),
        sa.Column("starts_at", UtcDateTime, nullable=False),
        sa.Column("ends_at", UtcDateTime, nullable=False, index=True),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "digest_runs",
        sa.Column("route_key", sa.String(64), primary_key=True),
        sa.Column("receiver", sa.String(255), primary_key=True),
        sa.Column("period_end", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("digest_runs")
    op.drop_table("silences")
    op.drop_table("notify_locks")
    op.drop_index("ix_notify_members_incident_id", table_name="notify_members")
    op.drop_table("notify_members")
    op.drop_table("notify_groups")
    op.drop_index("ix_deliveries_state_queued", table_name="deliveries")
    op.drop_index("ix_deliveries_ordering", table_name="deliveries")
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.drop_table("deliveries")

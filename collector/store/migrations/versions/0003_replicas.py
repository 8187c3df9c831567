"""Replicas: alert owners, heartbeats (to adopt a dead replica's alerts) and shared counters such as reloads.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collector.store.tables import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("owner", sa.String(255)))
        batch.create_index("ix_alerts_owner", ["owner"])
    op.create_table(
        "cluster_state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "replicas",
        sa.Column("instance_id", sa.String(255), primary_key=True),
        sa.Column("api_url", sa.String(255), nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("last_seen", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("replicas")
    op.drop_table("cluster_state")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_index("ix_alerts_owner")
        batch.drop_column("owner")

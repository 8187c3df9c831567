"""Outbox indexes that keep a claim cheap whatever the planner's statistics say.

The due index gains `seq`, so a claim reads due rows in its ORDER BY and stops after
its LIMIT; the ordering index gains `state`, so "the first pending row of this key" is
one probe. Without them PostgreSQL, on a table that grew faster than autovacuum's
statistics (a storm), planned the ordering check as a scan per candidate: seconds per claim.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.drop_index("ix_deliveries_ordering", table_name="deliveries")
    op.create_index("ix_deliveries_due", "deliveries", ["receiver", "state", "next_attempt_at", "seq"])
    op.create_index("ix_deliveries_ordering", "deliveries", ["receiver", "ordering_key", "state", "seq"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_ordering", table_name="deliveries")
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.create_index("ix_deliveries_due", "deliveries", ["receiver", "state", "next_attempt_at"])
    op.create_index("ix_deliveries_ordering", "deliveries", ["receiver", "ordering_key", "seq"])

"""SQL tables of the notification stage: the outbox, group state, silences, digest runs.

Migration 0002 is the authority on the schema; these definitions mirror it for queries
and live on the shared `metadata` so that one MetaData describes the whole database.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, String, Table, Text

from collector.store.tables import Json, Serial, UtcDateTime, metadata

# The durable outbox: one row per notification to one receiver, written before any attempt.
# `state` is pending | delivered | dead. A pending row is claimed with a lease
# (claimed_by, claimed_until) so that several replicas never send it at the same time.
deliveries = Table(
    "deliveries",
    metadata,
    Column("seq", Serial, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("receiver", String(255), nullable=False),
    # Rows with the same ordering key go out one after the other, in seq order (a group's
    # firing before its resolved); rows with different keys never wait for each other.
    Column("ordering_key", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("idempotency_key", String(64), nullable=False),
    Column("group_key", Text, nullable=False),
    Column("incident_ids", Json, nullable=False),
    Column("alert_count", Integer, nullable=False),
    Column("content_type", String(128), nullable=False),
    Column("body", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("queued_at", UtcDateTime, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("claimed_by", String(255)),
    Column("claimed_until", UtcDateTime),
    Column("last_attempt_at", UtcDateTime),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("delivered_at", UtcDateTime),
)
Index("ix_deliveries_due", deliveries.c.receiver, deliveries.c.state, deliveries.c.next_attempt_at, deliveries.c.seq)
Index("ix_deliveries_ordering", deliveries.c.receiver, deliveries.c.ordering_key, deliveries.c.state, deliveries.c.seq)
Index("ix_deliveries_state_queued", deliveries.c.state, deliveries.c.queued_at)

# One row per notification group (route + receiver + group_by values) that has alerts.
notify_groups = Table(
    "notify_groups",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("receiver", String(255), nullable=False),
    Column("route_key", String(64), nullable=False),
    Column("group_key", Text, nullable=False),
    Column("group_labels", Json, nullable=False),
    # The route's timers when the group last saw a firing, so a group outlives a reload.
    Column("group_wait_s", Float, nullable=False),
    Column("group_interval_s", Float, nullable=False),
    Column("repeat_interval_s", Float, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("next_flush_at", UtcDateTime, index=True),
    Column("last_flush_at", UtcDateTime),
    Column("last_sent_at", UtcDateTime),
)

# The alerts of each group: the latest firing event of the incident and whether it was notified.
notify_members = Table(
    "notify_members",
    metadata,
    Column("group_id", String(64), primary_key=True),
    Column("incident_id", String(36), primary_key=True),
    # The event's payload stays in `events` (read by event_id for the alerts that go into a
    # notification): a group of thousands of members, or ten receivers, never copy it.
    Column("event_id", String(36), nullable=False),
    Column("labels", Json, nullable=False),
    Column("starts_at", String(32), nullable=False),
    Column("notified", Boolean, nullable=False),
    # Why it was last left out (silenced | inhibited), so each suppression is counted once.
    Column("suppressed", String(16)),
    Column("created_at", UtcDateTime, nullable=False),
)
Index("ix_notify_members_incident_id", notify_members.c.incident_id)

# Row locks that serialise a piece of work across replicas (name "dispatch": the event dispatcher).
notify_locks = Table(
    "notify_locks",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", String(255)),
    Column("taken_at", UtcDateTime),
)

silences = Table(
    "silences",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("matchers", Json, nullable=False),
    Column("starts_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime, nullable=False, index=True),
    Column("created_by", String(255), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# The end of the last period each digest route sent to each receiver.
digest_runs = Table(
    "digest_runs",
    metadata,
    Column("route_key", String(64), primary_key=True),
    Column("receiver", String(255), primary_key=True),
    Column("period_end", UtcDateTime, nullable=False),
)

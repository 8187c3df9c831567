"""SQL tables (SQLAlchemy Core) for what must outlive the process: alert state, incidents, events, baselines.

The Alembic migrations in store/migrations are the authority on the schema;
these definitions mirror them for queries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    TypeDecorator,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every dialect (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Json = JSON().with_variant(JSONB(), "postgresql")
# SQLite only makes INTEGER PRIMARY KEY an auto-increment rowid; PostgreSQL wants BIGINT.
Serial = BigInteger().with_variant(Integer(), "sqlite")

# One row per alert instance that is not inactive (pending or firing). Inactive rows are deleted.
alerts = Table(
    "alerts",
    metadata,
    Column("fingerprint", String(64), primary_key=True),
    Column("rule", String(255), nullable=False, index=True),
    Column("definition_hash", String(64), nullable=False),
    Column("labels", Json, nullable=False),
    Column("state", String(16), nullable=False),
    Column("active_since", UtcDateTime, nullable=False),
    Column("fired_at", UtcDateTime),
    Column("clear_since", UtcDateTime),
    Column("last_value", Float),
    Column("last_eval_at", UtcDateTime),
    Column("incident_id", String(36)),
    Column("updated_at", UtcDateTime, nullable=False),
    # The replica evaluating this instance; another replica adopts it once the owner stops heartbeating.
    Column("owner", String(255), index=True),
)

# Counters every replica watches, e.g. the rules generation bumped by each reload.
cluster_state = Table(
    "cluster_state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

# One row per running replica, refreshed every few seconds.
replicas = Table(
    "replicas",
    metadata,
    Column("instance_id", String(255), primary_key=True),
    Column("api_url", String(255), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
)

# One row per firing episode.
incidents = Table(
    "incidents",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("rule", String(255), nullable=False, index=True),
    Column("group_name", String(255), nullable=False),
    Column("tier", String(2), nullable=False, index=True),
    Column("service", String(255), index=True),
    Column("labels", Json, nullable=False),
    Column("annotations", Json, nullable=False),
    Column("value", Float),
    Column("threshold", String(64)),
    Column("baseline", Json),
    Column("starts_at", UtcDateTime, nullable=False),
    Column("fired_at", UtcDateTime, nullable=False, index=True),
    Column("ends_at", UtcDateTime),
    Column("duration_seconds", Float),
    Column("resolve_reason", String(32)),
    Column("acked_at", UtcDateTime),
    Column("acked_by", String(255)),
    Column("silenced", Boolean, nullable=False, default=False),
    Column("evidence", Json, nullable=False),
)
# At most one open incident per fingerprint, across replicas.
Index(
    "uq_incidents_open_fingerprint",
    incidents.c.fingerprint,
    unique=True,
    sqlite_where=incidents.c.ends_at.is_(None),
    postgresql_where=incidents.c.ends_at.is_(None),
)

# The seam between evaluate and notify: every firing and resolved event, in order.
events = Table(
    "events",
    metadata,
    Column("seq", Serial, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("incident_id", String(36), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("payload", Json, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("dispatched_at", UtcDateTime, index=True),
)

# Learned baseline state per series, so a restart does not restart the learning period.
baselines = Table(
    "baselines",
    metadata,
    Column("fingerprint", String(64), primary_key=True),
    Column("rule", String(255), nullable=False, index=True),
    Column("params_hash", String(64), nullable=False),
    Column("state", Json, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

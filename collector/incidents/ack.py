"""Acknowledging incidents: the first ack wins (who and when), later ones change nothing; time to ack is observed."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, Histogram
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.store.db import Database
from collector.store.tables import incidents

# An ack may name its own time (a receiver's callback relays when a person pressed the button),
# but not a time the server's clock has not reached yet, give or take this much skew.
MAX_CLOCK_SKEW = timedelta(minutes=1)
MAX_NAME = 255
ACK_BUCKETS = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)


class AckRejectedError(ValueError):
    """The ack names a time that cannot be right for this incident (before it fired, or in the future)."""


@dataclass(frozen=True, slots=True)
class Ack:
    """An incident's acknowledgement after an ack request; `first` says whether this request set it."""

    incident_id: str
    tier: str
    fired_at: datetime
    acked_at: datetime
    acked_by: str
    first: bool


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Acknowledger:
    """Records acks in SQL (atomically, so of several replicas or retries exactly one ack is the first)."""

    def __init__(
        self, db: Database, registry: CollectorRegistry, clock: Callable[[], datetime] = _utcnow
    ) -> None:
        self._db = db
        self._clock = clock
        self.ack_seconds = Histogram(
            "vigil_incident_ack_seconds",
            "Time from firing to the first acknowledgement of an incident (MTTA).",
            ["tier"],
            registry=registry,
            buckets=ACK_BUCKETS,
        )

    async def ack(self, incident_id: str, by: str, at: datetime | None = None) -> Ack | None:
        """Acknowledge; None when there is no such incident. Raises AckRejectedError for an impossible time."""
        by = by.strip()
        if not by or len(by) > MAX_NAME:
            raise AckRejectedError(f"'by' must name who acknowledges, in 1 to {MAX_NAME} characters")
        now = self._clock()
        when = now if at is None else at.astimezone(UTC)
        if when > now + MAX_CLOCK_SKEW:
            raise AckRejectedError(f"'at' ({when.isoformat()}) is in the future")
        c = incidents.c
        async with self._db.transaction() as conn:
            row = (
                await conn.execute(select(c.tier, c.fired_at, c.acked_at, c.acked_by).where(c.id == incident_id))
            ).first()
            if row is None:
                return None
            if row.acked_at is not None:
                return Ack(incident_id, row.tier, row.fired_at, row.acked_at, row.acked_by or "", first=False)
            if when < row.fired_at:
                raise AckRejectedError(f"'at' ({when.isoformat()}) is before the incident fired")
            done = await conn.execute(
                update(incidents).where(c.id == incident_id, c.acked_at.is_(None)).values(acked_at=when, acked_by=by)
            )
            if done.rowcount != 1:
                # Another request acknowledged it between our read and our write: theirs is the first.
                won = (await conn.execute(select(c.acked_at, c.acked_by).where(c.id == incident_id))).one()
                return Ack(incident_id, row.tier, row.fired_at, won.acked_at, won.acked_by or "", first=False)
        self.ack_seconds.labels(row.tier).observe((when - row.fired_at).total_seconds())
        return Ack(incident_id, row.tier, row.fired_at, when, by, first=True)


async def acked_by(conn: AsyncConnection, incident_ids: Collection[str]) -> dict[str, str]:
    """Who acknowledged each of these incidents, for those that are acknowledged."""
    if not incident_ids:
        return {}
    c = incidents.c
    rows = await conn.execute(
        select(c.id, c.acked_by).where(c.id.in_(list(incident_ids)), c.acked_at.is_not(None))
    )
    return {r.id: r.acked_by or "" for r in rows}

"""Reading the timestamps MTTA and MTTR are computed from out of the incidents table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.incidents.mttr import IncidentTimes
from collector.store.tables import incidents

# A guard against a mistaken, unbounded range: enough for years of a team's incidents.
MAX_INCIDENTS = 100_000


async def incident_times(
    conn: AsyncConnection, since: datetime | None = None, until: datetime | None = None
) -> list[IncidentTimes]:
    """The incidents that fired within [since, until) (the newest MAX_INCIDENTS of them), oldest first."""
    c = incidents.c
    q = select(
        c.tier, c.service, c.rule, c.starts_at, c.fired_at, c.acked_at, c.ends_at, c.duration_seconds, c.silenced,
        c.resolve_reason,
    )
    if since is not None:
        q = q.where(c.fired_at >= since)
    if until is not None:
        q = q.where(c.fired_at < until)
    rows = list(await conn.execute(q.order_by(c.fired_at.desc()).limit(MAX_INCIDENTS)))
    rows.reverse()
    return [
        IncidentTimes(
            tier=r.tier,
            service=r.service,
            rule=r.rule,
            starts_at=r.starts_at,
            fired_at=r.fired_at,
            acked_at=r.acked_at,
            ends_at=r.ends_at,
            duration_seconds=r.duration_seconds,
            silenced=bool(r.silenced),
            resolve_reason=r.resolve_reason,
        )
        for r in rows
    ]

"""Reading incidents and their events from SQL for the API and the dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.model import iso
from collector.store.eventlog import events_of_incident
from collector.store.tables import incidents


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    tier: str | None = None
    service: str | None = None
    rule: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    state: str | None = None  # open | resolved
    limit: int = 100


def _summary(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "fingerprint": row.fingerprint,
        "rule": row.rule,
        "group": row.group_name,
        "tier": row.tier,
        "service": row.service,
        "state": "open" if row.ends_at is None else "resolved",
        "labels": row.labels,
        "annotations": row.annotations,
        "value": row.value,
        "threshold": row.threshold,
        "baseline": row.baseline,
        "startsAt": iso(row.starts_at),
        "firedAt": iso(row.fired_at),
        "endsAt": iso(row.ends_at) if row.ends_at else None,
        "durationSeconds": row.duration_seconds,
        "resolveReason": row.resolve_reason,
        "ackedAt": iso(row.acked_at) if row.acked_at else None,
        "ackedBy": row.acked_by,
        "silenced": bool(row.silenced),
    }


async def list_incidents(conn: AsyncConnection, f: IncidentFilter) -> list[dict[str, Any]]:
    """Incidents matching `f`, newest first (by fired time)."""
    q = select(incidents)
    if f.tier:
        q = q.where(incidents.c.tier == f.tier)
    if f.service:
        q = q.where(incidents.c.service == f.service)
    if f.rule:
        q = q.where(incidents.c.rule == f.rule)
    if f.since:
        q = q.where(incidents.c.fired_at >= f.since)
    if f.until:
        q = q.where(incidents.c.fired_at < f.until)
    if f.state == "open":
        q = q.where(incidents.c.ends_at.is_(None))
    elif f.state == "resolved":
        q = q.where(incidents.c.ends_at.is_not(None))
    rows = await conn.execute(q.order_by(incidents.c.fired_at.desc(), incidents.c.id).limit(f.limit))
    return [_summary(r) for r in rows]


async def get_incident(conn: AsyncConnection, incident_id: str) -> dict[str, Any] | None:
    """One incident with its events (firing, resolved, …) in order and its evidence."""
    row = (await conn.execute(select(incidents).where(incidents.c.id == incident_id))).first()
    if row is None:
        return None
    out = _summary(row)
    out["events"] = [
        {"id": e.id, "kind": e.kind, "at": e.payload.get("at"), "payload": e.payload}
        for e in await events_of_incident(conn, incident_id)
    ]
    out["evidence"] = row.evidence
    return out

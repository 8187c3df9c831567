"""The `events` table as a log: evaluate appends firing/resolved events, notify reads them in order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.model import AlertEvent
from collector.store.tables import events


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    id: str
    incident_id: str
    kind: str
    payload: dict[str, Any]
    created_at: datetime


async def append_event(conn: AsyncConnection, event: AlertEvent) -> None:
    """Write one event; call inside the transaction that changes the alert state it reports."""
    await conn.execute(
        events.insert().values(
            id=event.id,
            incident_id=event.incident_id,
            kind=event.kind.value,
            payload=event.to_payload(),
            created_at=event.at,
        )
    )


async def undispatched(conn: AsyncConnection, limit: int = 500) -> list[StoredEvent]:
    """Events not yet taken by notify, oldest first."""
    rows = await conn.execute(
        select(events.c.seq, events.c.id, events.c.incident_id, events.c.kind, events.c.payload, events.c.created_at)
        .where(events.c.dispatched_at.is_(None))
        .order_by(events.c.seq)
        .limit(limit)
    )
    return [StoredEvent(*row) for row in rows]


async def mark_dispatched(conn: AsyncConnection, seqs: Sequence[int], at: datetime) -> None:
    if seqs:
        await conn.execute(update(events).where(events.c.seq.in_(list(seqs))).values(dispatched_at=at))


async def events_of_incident(conn: AsyncConnection, incident_id: str) -> list[StoredEvent]:
    rows = await conn.execute(
        select(events.c.seq, events.c.id, events.c.incident_id, events.c.kind, events.c.payload, events.c.created_at)
        .where(events.c.incident_id == incident_id)
        .order_by(events.c.seq)
    )
    return [StoredEvent(*row) for row in rows]

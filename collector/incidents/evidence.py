"""Finding a trace in the evidence copied into incidents, once the trace index no longer holds it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, cast, select
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.store.tables import incidents


async def trace_from_evidence(conn: AsyncConnection, trace_id: str) -> dict[str, Any] | None:
    """The newest stored copy of the trace document (`traceId` as 32 lowercase hex digits), or None."""
    rows = await conn.execute(
        select(incidents.c.evidence)
        .where(cast(incidents.c.evidence, String).contains(trace_id))
        .order_by(incidents.c.fired_at.desc())
        .limit(5)
    )
    for (evidence,) in rows:
        for item in evidence or []:
            if isinstance(item, dict) and item.get("traceId") == trace_id and isinstance(item.get("trace"), dict):
                return dict(item["trace"])
    return None

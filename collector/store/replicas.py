"""Replica membership in SQL: each replica heartbeats; one that stops is dead after the lease."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.store.tables import cluster_state, replicas

LEASE = timedelta(seconds=30)


async def heartbeat(conn: AsyncConnection, instance_id: str, api_url: str, now: datetime, started: datetime) -> None:
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    stmt = dialect.insert(replicas).values(instance_id=instance_id, api_url=api_url, started_at=started, last_seen=now)
    await conn.execute(
        stmt.on_conflict_do_update(index_elements=["instance_id"], set_={"last_seen": now, "api_url": api_url})
    )


async def live(conn: AsyncConnection, now: datetime, lease: timedelta = LEASE) -> dict[str, str]:
    """instance_id -> api_url of every replica seen within the lease."""
    rows = await conn.execute(
        select(replicas.c.instance_id, replicas.c.api_url).where(replicas.c.last_seen >= now - lease)
    )
    return {r.instance_id: r.api_url for r in rows}


async def leave(conn: AsyncConnection, instance_id: str) -> None:
    await conn.execute(delete(replicas).where(replicas.c.instance_id == instance_id))


async def generation(conn: AsyncConnection, key: str) -> int:
    row = (await conn.execute(select(cluster_state.c.value).where(cluster_state.c.key == key))).first()
    return int(row.value) if row else 0


async def bump(conn: AsyncConnection, key: str) -> int:
    """Increase a shared counter by one and return it."""
    result = await conn.execute(
        update(cluster_state).where(cluster_state.c.key == key).values(value=cluster_state.c.value + 1)
    )
    if not result.rowcount:
        dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
        await conn.execute(
            dialect.insert(cluster_state)
            .values(key=key, value=1)
            .on_conflict_do_update(index_elements=["key"], set_={"value": cluster_state.c.value + 1})
        )
    return await generation(conn, key)

"""Alert state, incidents, events and baseline state in SQL: what evaluation must not lose across restarts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.evaluate.state import Instance, Phase
from collector.model import AlertEvent
from collector.store.eventlog import append_event
from collector.store.tables import alerts, baselines, incidents


def _upsert(conn: AsyncConnection, table: Any, key: str, values: dict[str, Any], where: Any = None) -> Any:
    """INSERT … ON CONFLICT (key) DO UPDATE [WHERE …], on SQLite and PostgreSQL alike."""
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    stmt = dialect.insert(table).values(**values)
    update_set = {k: v for k, v in values.items() if k != key}
    return stmt.on_conflict_do_update(index_elements=[key], set_=update_set, where=where)


async def load_instances(conn: AsyncConnection, owner: str, live: Collection[str]) -> list[Instance]:
    """This replica's instances, plus orphans (no owner, or an owner that is no longer live), which it adopts."""
    orphaned = or_(alerts.c.owner.is_(None), alerts.c.owner.not_in(list(live)) if live else true())
    rows = list(await conn.execute(select(alerts).where(or_(alerts.c.owner == owner, orphaned))))
    adopt = [r.fingerprint for r in rows if r.owner != owner]
    if adopt:
        await conn.execute(update(alerts).where(alerts.c.fingerprint.in_(adopt)).values(owner=owner))
    return [
        Instance(
            fingerprint=r.fingerprint,
            rule=r.rule,
            definition_hash=r.definition_hash,
            labels=dict(r.labels),
            phase=Phase(r.state),
            active_since=r.active_since,
            fired_at=r.fired_at,
            clear_since=r.clear_since,
            value=r.last_value,
            incident_id=r.incident_id,
        )
        for r in rows
    ]


async def save_instance(conn: AsyncConnection, i: Instance, now: datetime, owner: str) -> bool:
    """Write an instance this replica owns; False when another live replica owns that fingerprint."""
    values = {
        "fingerprint": i.fingerprint,
        "rule": i.rule,
        "definition_hash": i.definition_hash,
        "labels": dict(i.labels),
        "state": i.phase.value,
        "active_since": i.active_since,
        "fired_at": i.fired_at,
        "clear_since": i.clear_since,
        "last_value": i.value,
        "last_eval_at": now,
        "incident_id": i.incident_id,
        "updated_at": now,
        "owner": owner,
    }
    # Only the owner (or nobody yet) may write: another live replica's instance is left alone.
    stmt = _upsert(conn, alerts, "fingerprint", values, where=or_(alerts.c.owner == owner, alerts.c.owner.is_(None)))
    result = await conn.execute(stmt)
    return bool(result.rowcount)


async def delete_instances(conn: AsyncConnection, fingerprints: Iterable[str], owner: str) -> None:
    fps = list(fingerprints)
    if fps:
        await conn.execute(delete(alerts).where(alerts.c.fingerprint.in_(fps), alerts.c.owner == owner))


@dataclass(frozen=True, slots=True)
class Opening:
    """Everything an incident starts with."""

    event: AlertEvent
    service: str | None
    evidence: list[dict[str, Any]]


async def open_incident(conn: AsyncConnection, opening: Opening) -> None:
    e = opening.event
    await conn.execute(
        incidents.insert().values(
            id=e.incident_id,
            fingerprint=e.fingerprint,
            rule=e.rule,
            group_name=e.group,
            tier=e.tier,
            service=opening.service,
            labels=dict(e.labels),
            annotations=dict(e.annotations),
            value=e.value,
            threshold=e.threshold,
            baseline=e.baseline,
            starts_at=e.starts_at,
            fired_at=e.fired_at,
            silenced=False,
            evidence=opening.evidence,
        )
    )
    await append_event(conn, e)


async def close_incident(conn: AsyncConnection, event: AlertEvent) -> None:
    assert event.resolve_reason is not None
    await conn.execute(
        update(incidents)
        .where(incidents.c.id == event.incident_id, incidents.c.ends_at.is_(None))
        .values(
            ends_at=event.ends_at,
            duration_seconds=event.duration_seconds,
            resolve_reason=event.resolve_reason.value,
            value=event.value,
        )
    )
    await append_event(conn, event)


def params_hash(params: Any) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:32]


async def load_baselines(conn: AsyncConnection, rule: str, phash: str) -> dict[str, dict[str, Any]]:
    rows = await conn.execute(
        select(baselines.c.fingerprint, baselines.c.state).where(
            baselines.c.rule == rule, baselines.c.params_hash == phash
        )
    )
    return {r.fingerprint: dict(r.state) for r in rows}


async def save_baselines(
    conn: AsyncConnection, rule: str, phash: str, states: Mapping[str, dict[str, Any]], now: datetime
) -> None:
    for fp, state in states.items():
        values = {"fingerprint": fp, "rule": rule, "params_hash": phash, "state": state, "updated_at": now}
        await conn.execute(_upsert(conn, baselines, "fingerprint", values))

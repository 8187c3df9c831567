"""The durable outbox in SQL: enqueue notifications, claim them with a lease, record each attempt's outcome."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Text, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.model import iso
from collector.notify.tables import deliveries
from collector.store.tables import UtcDateTime

STATES = ("pending", "delivered", "dead")


@dataclass(frozen=True, slots=True)
class NewDelivery:
    id: str
    receiver: str
    ordering_key: str
    kind: str
    idempotency_key: str
    group_key: str
    incident_ids: list[str]
    alert_count: int
    content_type: str
    body: str


async def enqueue(conn: AsyncConnection, rows: Sequence[NewDelivery], now: datetime) -> None:
    """Write notifications as pending, in order (their seq order is their delivery order within a key)."""
    if not rows:
        return
    await conn.execute(
        deliveries.insert(),
        [
            {
                "id": r.id,
                "receiver": r.receiver,
                "ordering_key": r.ordering_key,
                "kind": r.kind,
                "idempotency_key": r.idempotency_key,
                "group_key": r.group_key,
                "incident_ids": r.incident_ids,
                "alert_count": r.alert_count,
                "content_type": r.content_type,
                "body": r.body,
                "state": "pending",
                "attempts": 0,
                "created_at": now,
                "queued_at": now,
                "next_attempt_at": now,
            }
            for r in rows
        ],
    )


@dataclass(frozen=True, slots=True)
class Claimed:
    seq: int
    id: str
    receiver: str
    kind: str
    idempotency_key: str
    content_type: str
    body: str
    attempts: int
    queued_at: datetime


def _unblocked(row: Any) -> Any:
    """No earlier pending row of the same receiver and ordering key: this one may go now.

    Written as "this row is the key's first pending one", a single probe of ix_deliveries_ordering
    per candidate, rather than NOT EXISTS, which PostgreSQL may plan as an anti-join over the backlog.
    """
    earlier = deliveries.alias("earlier")
    first = (
        select(func.min(earlier.c.seq))
        .where(
            earlier.c.receiver == row.c.receiver,
            earlier.c.ordering_key == row.c.ordering_key,
            earlier.c.state == "pending",
        )
        .scalar_subquery()
    )
    return row.c.seq == first


@functools.cache
def _claim_statement(limit: int) -> Any:
    """Built once per limit: SQLAlchemy then reuses its compiled form, which matters at one claim per delivery round.

    The limit stays a literal: PostgreSQL plans a prepared statement generically after a few runs, and with an
    unknown LIMIT that plan sorts the whole backlog instead of stopping early in the index.
    """
    candidate = deliveries.alias("candidate")
    now = bindparam("b_now", type_=UtcDateTime)
    picked = (
        select(candidate.c.seq)
        .where(
            candidate.c.receiver == bindparam("b_receiver", type_=Text),
            candidate.c.state == "pending",
            candidate.c.next_attempt_at <= now,
            or_(candidate.c.claimed_until.is_(None), candidate.c.claimed_until < now),
            _unblocked(candidate),
        )
        # Index order (receiver, state, next_attempt_at, then rowid): no sort of the whole backlog,
        # the scan stops after `limit` rows. Order within a key is kept by _unblocked, not by this.
        .order_by(candidate.c.next_attempt_at, candidate.c.seq)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (
        update(deliveries)
        .where(deliveries.c.seq.in_(picked.scalar_subquery()))
        .values(claimed_by=bindparam("b_instance", type_=Text), claimed_until=bindparam("b_until", type_=UtcDateTime))
        .returning(
            deliveries.c.seq,
            deliveries.c.id,
            deliveries.c.receiver,
            deliveries.c.kind,
            deliveries.c.idempotency_key,
            deliveries.c.content_type,
            deliveries.c.body,
            deliveries.c.attempts,
            deliveries.c.queued_at,
        )
    )


async def claim(
    conn: AsyncConnection, *, receiver: str, instance_id: str, now: datetime, lease: timedelta, limit: int
) -> list[Claimed]:
    """Take up to `limit` due rows of one receiver for `lease`, longest due first, skipping rows others hold.

    On PostgreSQL the candidates are locked with FOR UPDATE SKIP LOCKED; SQLite has one
    writer at a time, so the same conditional UPDATE is already exclusive there. A lease
    that ran out (its holder died) is taken over by whoever claims next.
    """
    result = await conn.execute(
        _claim_statement(limit),
        {"b_receiver": receiver, "b_now": now, "b_instance": instance_id, "b_until": now + lease},
    )
    return sorted((Claimed(*row) for row in result), key=lambda c: c.seq)


_NEXT_DUE = (
    select(deliveries.c.next_attempt_at, deliveries.c.claimed_until)
    .where(
        deliveries.c.receiver == bindparam("b_receiver", type_=Text),
        deliveries.c.state == "pending",
        _unblocked(deliveries),
    )
    .order_by(deliveries.c.next_attempt_at)
    .limit(100)
)


async def next_due(conn: AsyncConnection, receiver: str) -> datetime | None:
    """When the receiver's next row may be claimed (None: nothing pending). Rows waiting behind others don't count."""
    rows = await conn.execute(_NEXT_DUE, {"b_receiver": receiver})
    due = [max(r.next_attempt_at, r.claimed_until) if r.claimed_until else r.next_attempt_at for r in rows]
    return min(due) if due else None


@dataclass(frozen=True, slots=True)
class Attempt:
    """What to write after one attempt: the row's new state and when to try again if pending."""

    seq: int
    state: str
    attempts: int
    at: datetime
    status: int | None
    error: str | None
    next_attempt_at: datetime | None = None


def _record_statements() -> dict[str, Any]:
    mine = and_(
        deliveries.c.seq == bindparam("b_seq", type_=Integer),
        deliveries.c.claimed_by == bindparam("b_instance", type_=Text),
    )
    common = {
        "attempts": bindparam("b_attempts", type_=Integer),
        "last_attempt_at": bindparam("b_at", type_=UtcDateTime),
        "last_status": bindparam("b_status", type_=Integer),
        "last_error": bindparam("b_error", type_=Text),
        "claimed_by": None,
        "claimed_until": None,
    }
    at = bindparam("b_at", type_=UtcDateTime)
    return {
        "delivered": update(deliveries).where(mine).values(state="delivered", delivered_at=at, **common),
        "pending": update(deliveries)
        .where(mine)
        .values(next_attempt_at=bindparam("b_next", type_=UtcDateTime), **common),
        "dead": update(deliveries).where(mine).values(state="dead", **common),
    }


_RECORD = _record_statements()


async def record(conn: AsyncConnection, instance_id: str, attempts: Sequence[Attempt]) -> None:
    """Write outcomes, only where this replica still holds the lease (a row taken over is the new holder's)."""
    groups: dict[str, list[dict[str, Any]]] = {"delivered": [], "pending": [], "dead": []}
    for a in attempts:
        groups[a.state].append(
            {
                "b_seq": a.seq,
                "b_instance": instance_id,
                "b_attempts": a.attempts,
                "b_at": a.at,
                "b_status": a.status,
                "b_error": a.error,
                "b_next": a.next_attempt_at or a.at,
            }
        )
    for state, params in groups.items():
        if params:
            await conn.execute(_RECORD[state], params)


async def release(conn: AsyncConnection, instance_id: str) -> int:
    """Drop this replica's leases (at start after a crash, and at stop) so its rows go out without waiting."""
    result = await conn.execute(
        update(deliveries)
        .where(deliveries.c.claimed_by == instance_id, deliveries.c.state == "pending")
        .values(claimed_by=None, claimed_until=None)
    )
    return result.rowcount or 0


async def backlog(conn: AsyncConnection) -> tuple[int, datetime | None]:
    row = (
        await conn.execute(
            select(func.count(), func.min(deliveries.c.queued_at)).where(deliveries.c.state == "pending")
        )
    ).one()
    oldest = row[1]
    if oldest is not None and oldest.tzinfo is None:
        # Aggregates lose the column type on some dialects; the column holds UTC.
        oldest = UtcDateTime().process_result_value(oldest, conn.dialect)
    return int(row[0]), oldest


async def purge(conn: AsyncConnection, *, delivered_before: datetime, dead_before: datetime) -> int:
    result = await conn.execute(
        delete(deliveries).where(
            or_(
                and_(deliveries.c.state == "delivered", deliveries.c.delivered_at < delivered_before),
                and_(deliveries.c.state == "dead", deliveries.c.queued_at < dead_before),
            )
        )
    )
    return result.rowcount or 0


def to_json(row: Any) -> dict[str, Any]:
    def t(value: datetime | None) -> str | None:
        return iso(value) if value is not None else None

    return {
        "id": row.id,
        "receiver": row.receiver,
        "kind": row.kind,
        "state": row.state,
        "idempotencyKey": row.idempotency_key,
        "groupKey": row.group_key,
        "incidentIds": list(row.incident_ids),
        "alertCount": row.alert_count,
        "attempts": row.attempts,
        "createdAt": t(row.created_at),
        "queuedAt": t(row.queued_at),
        "nextAttemptAt": t(row.next_attempt_at) if row.state == "pending" else None,
        "lastAttemptAt": t(row.last_attempt_at),
        "lastStatus": row.last_status,
        "lastError": row.last_error,
        "deliveredAt": t(row.delivered_at),
    }


_LISTED = [c for c in deliveries.c if c.name != "body"]


async def find(
    conn: AsyncConnection, *, state: str | None = None, receiver: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Deliveries newest first, optionally of one state and one receiver."""
    query = select(*_LISTED).order_by(deliveries.c.seq.desc()).limit(limit)
    if state is not None:
        query = query.where(deliveries.c.state == state)
    if receiver is not None:
        query = query.where(deliveries.c.receiver == receiver)
    return [to_json(r) for r in await conn.execute(query)]


async def get(conn: AsyncConnection, delivery_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(*_LISTED).where(deliveries.c.id == delivery_id))).first()
    return to_json(row) if row is not None else None


async def requeue(conn: AsyncConnection, delivery_id: str, now: datetime) -> bool:
    """Put a dead delivery back in the queue, as if new (its give-up clock restarts). False if it is not dead."""
    result = await conn.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id, deliveries.c.state == "dead")
        .values(state="pending", attempts=0, queued_at=now, next_attempt_at=now, claimed_by=None, claimed_until=None)
    )
    return bool(result.rowcount)

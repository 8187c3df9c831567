"""The dispatcher: reads new events in order and turns them into outbox rows, one transaction per batch.

Each batch also marks its events dispatched in the same transaction, so a crash either
loses the whole batch (and the events are read again) or none of it. Batches are
serialised across replicas by a row lock (`notify_locks`), taken first so that SQLite
starts the write transaction before anything is read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.errors import StorageError
from collector.notify.batch import Batch
from collector.notify.metrics import NotifyMetrics
from collector.notify.plan import Plan
from collector.notify.tables import notify_groups, notify_locks
from collector.notify.wakeup import Wakeup
from collector.notify.writer import Writer
from collector.store.db import Database
from collector.store.eventlog import StoredEvent, mark_dispatched, undispatched
from collector.store.tables import events

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
BATCH = 1000


async def take_lock(conn: AsyncConnection, name: str, holder: str, now: datetime) -> None:
    """Hold the named lock row until the transaction ends (a write: SQLite's writer lock, PostgreSQL's row lock)."""
    await conn.execute(update(notify_locks).where(notify_locks.c.name == name).values(holder=holder, taken_at=now))


def _utc(value: datetime | None) -> datetime | None:
    # An aggregate loses the column type on SQLite; the column holds UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class Dispatcher:
    """Runs batches: at once when woken, when a group is due, and every POLL_SECONDS (other replicas' work)."""

    def __init__(
        self,
        *,
        db: Database,
        writer: Writer,
        plan: Callable[[], Plan],
        metrics: NotifyMetrics,
        clock: Callable[[], datetime],
        instance_id: str,
        external_url: str,
        on_enqueued: Callable[[set[str]], None],
    ) -> None:
        self._db = db
        self._writer = writer
        self._plan = plan
        self._metrics = metrics
        self._clock = clock
        self._instance_id = instance_id
        self._external_url = external_url
        self._on_enqueued = on_enqueued
        self._wakeup = Wakeup()
        # When the next group is due, as of the last batch, and when SQL was last asked for due groups:
        # between polls a woken batch only looks at its own events.
        self._next_due: datetime | None = None
        self._due_checked: datetime | None = None

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        woken = True
        while True:
            self._wakeup.clear()
            wait = POLL_SECONDS
            try:
                if (woken or await self._work_waiting()) and await self.dispatch():
                    continue
                if self._next_due is not None:
                    wait = min(max((self._next_due - self._clock()).total_seconds(), 0.001), POLL_SECONDS)
            except (SQLAlchemyError, OSError, StorageError) as exc:
                self._metrics.errors.labels("dispatch").inc()
                log.warning("dispatch failed, events stay undispatched and are retried: %s", exc)
            except Exception:  # the task boundary: a bug must not end dispatching for the life of the process
                self._metrics.errors.labels("dispatch").inc()
                log.exception("dispatch batch failed; its events stay undispatched and are retried")
            woken = await self._wakeup.sleep(wait)

    async def _work_waiting(self) -> bool:
        """A cheap read before taking the lock on a timed poll: any event or group waiting?"""
        now = self._clock()
        async with self._db.engine.connect() as conn:
            event = (await conn.execute(select(events.c.seq).where(events.c.dispatched_at.is_(None)).limit(1))).first()
            if event is not None:
                return True
            due = (
                await conn.execute(select(notify_groups.c.id).where(notify_groups.c.next_flush_at <= now).limit(1))
            ).first()
        return due is not None

    async def dispatch(self) -> bool:
        """One batch. True when it was full (more events are probably waiting)."""
        now = self._clock()
        look = (
            self._due_checked is None
            or now - self._due_checked >= timedelta(seconds=POLL_SECONDS)
            or (self._next_due is not None and self._next_due <= now)
        )

        async def work(conn: AsyncConnection) -> tuple[list[StoredEvent], Batch, datetime | None]:
            await take_lock(conn, "dispatch", self._instance_id, now)
            found = await undispatched(conn, BATCH)
            # The plan in force when the events are read, not when the batch was queued: a reload in between
            # (a new receiver, say) must apply to events written after it.
            batch = Batch(conn, self._plan(), now, self._external_url)
            next_due = await batch.run(found, look_for_due=look)
            await mark_dispatched(conn, [e.seq for e in found], now)
            return found, batch, next_due

        found, batch, next_due = await self._writer.run(work)
        self._next_due = _utc(next_due)
        if look:
            self._due_checked = now
        for reason, n in batch.suppressed.items():
            self._metrics.suppressed.labels(reason).inc(n)
        receivers = {r.receiver for r in batch.notices.rows}
        if receivers:
            self._on_enqueued(receivers)
        return len(found) >= BATCH

"""Delivery workers: one per receiver, each claiming its own outbox rows, so a slow receiver delays only itself."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import aiohttp
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.errors import StorageError
from collector.notify import outbox
from collector.notify.metrics import NotifyMetrics
from collector.notify.outbox import Attempt, Claimed
from collector.notify.outcome import Backoff, Delivered, Outcome, Permanent, Retry
from collector.notify.wakeup import Wakeup
from collector.notify.webhook import post
from collector.notify.writer import Writer
from collector.settings import Receiver
from collector.store.db import Database

log = logging.getLogger(__name__)

# Time on top of the receiver's timeout before another replica may take a claimed row over.
LEASE_MARGIN = timedelta(seconds=5)
# How often an idle worker looks for rows other replicas wrote or whose lease ran out.
POLL_SECONDS = 1.0
BATCH = 64


class ReceiverWorker:
    """Claims due rows of one receiver, sends them concurrently, and records each outcome."""

    def __init__(
        self,
        *,
        name: str,
        db: Database,
        writer: Writer,
        session: aiohttp.ClientSession,
        receiver: Callable[[str], Receiver | None],
        metrics: NotifyMetrics,
        clock: Callable[[], datetime],
        backoff: Backoff,
        instance_id: str,
    ) -> None:
        self.name = name
        self._db = db
        self._writer = writer
        self._session = session
        self._receiver = receiver
        self._metrics = metrics
        self._clock = clock
        self._backoff = backoff
        self._instance_id = instance_id
        self._wakeup = Wakeup()
        # The earliest retry this worker scheduled itself: it wakes for it without asking SQL.
        self._retry_at: datetime | None = None

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        woken = True
        while True:
            self._wakeup.clear()
            wait = POLL_SECONDS
            try:
                # Woken (new rows) or at a retry time of our own: claim at once. On a timed poll, look
                # first with a read, so that idle workers do not take SQLite's write lock every second.
                if (woken or self._retry_due() or await self._due_in_sql()) and await self._round():
                    continue
                wait = self._until_retry()
            except (SQLAlchemyError, OSError, StorageError) as exc:
                # The database is away: keep the rows where they are and try again shortly.
                self._metrics.errors.labels("delivery").inc()
                log.warning("receiver %s: outbox unavailable: %s", self.name, exc)
            except Exception:  # the task boundary: a bug must not stop this receiver's deliveries for good
                self._metrics.errors.labels("delivery").inc()
                log.exception("receiver %s: delivery round failed; its rows are retried after the lease", self.name)
            woken = await self._wakeup.sleep(wait)  # woken early by new rows for this receiver

    def _retry_due(self) -> bool:
        return self._retry_at is not None and self._retry_at <= self._clock()

    def _until_retry(self) -> float:
        if self._retry_at is None:
            return POLL_SECONDS
        return min(max((self._retry_at - self._clock()).total_seconds(), 0.01), POLL_SECONDS)

    async def _due_in_sql(self) -> bool:
        async with self._db.engine.connect() as conn:
            due = await outbox.next_due(conn, self.name)
        return due is not None and due <= self._clock()

    async def _round(self) -> bool:
        receiver = self._receiver(self.name)
        if receiver is None:
            return False
        now = self._clock()
        if self._retry_at is not None and self._retry_at <= now:
            self._retry_at = None  # this claim takes every row that is due
        lease = receiver.timeout + LEASE_MARGIN

        async def take(conn: AsyncConnection) -> list[Claimed]:
            return await outbox.claim(
                conn, receiver=self.name, instance_id=self._instance_id, now=now, lease=lease, limit=BATCH
            )

        claimed = await self._writer.run(take)
        if not claimed:
            return False
        done = await asyncio.gather(*(self._attempt(receiver, row) for row in claimed))
        attempts = [a for a, _ in done]

        async def write(conn: AsyncConnection) -> None:
            await outbox.record(conn, self._instance_id, attempts)

        await self._writer.run(write)
        retries = [a.next_attempt_at for a, _ in done if a.next_attempt_at is not None]
        if retries:
            self._retry_at = min([*retries, self._retry_at] if self._retry_at is not None else retries)
        for attempt, _ in done:
            outcome = {"delivered": "delivered", "pending": "retry", "dead": "dead"}[attempt.state]
            self._metrics.notifications.labels(self.name, outcome).inc()
        return True

    async def _attempt(self, receiver: Receiver, row: Claimed) -> tuple[Attempt, Outcome]:
        now = self._clock()
        started = time.perf_counter()
        outcome = await post(
            self._session,
            receiver,
            body=row.body.encode(),
            content_type=row.content_type,
            idempotency_key=row.idempotency_key,
            now=now,
        )
        self._metrics.attempt_seconds.labels(self.name).observe(time.perf_counter() - started)
        attempts = row.attempts + 1
        at = self._clock()
        if isinstance(outcome, Delivered):
            return Attempt(row.seq, "delivered", attempts, at, outcome.status, None), outcome
        if isinstance(outcome, Permanent):
            log.warning("receiver %s: delivery %s is dead: %s", self.name, row.id, outcome.reason)
            return Attempt(row.seq, "dead", attempts, at, outcome.status, outcome.reason), outcome
        assert isinstance(outcome, Retry)
        next_at = at + timedelta(seconds=self._backoff.after(outcome, attempts))
        if next_at - row.queued_at > receiver.give_up_after:
            reason = f"gave up after {attempts} attempts over {receiver.give_up_after}: {outcome.reason}"
            log.warning("receiver %s: delivery %s is dead: %s", self.name, row.id, reason)
            return Attempt(row.seq, "dead", attempts, at, outcome.status, reason), outcome
        log.info("receiver %s: %s attempt %d failed (%s)", self.name, row.id, attempts, outcome.reason)
        return Attempt(row.seq, "pending", attempts, at, outcome.status, outcome.reason, next_at), outcome

"""The notification stage as one object the app starts and stops: dispatcher, delivery workers, digests, gauges."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.errors import StorageError
from collector.notify import outbox
from collector.notify.delivery import ReceiverWorker
from collector.notify.digest import DigestScheduler
from collector.notify.dispatcher import Dispatcher
from collector.notify.metrics import NotifyMetrics
from collector.notify.outcome import Backoff
from collector.notify.plan import Plan, build_plan
from collector.notify.silence import SilenceStore
from collector.notify.writer import Writer
from collector.settings import Receiver, Settings
from collector.store.db import Database

log = logging.getLogger(__name__)

MONITOR_SECONDS = 2.0
PURGE_EVERY = timedelta(minutes=10)
KEEP_DELIVERED = timedelta(days=7)
KEEP_DEAD = timedelta(days=30)


def now_utc() -> datetime:
    return datetime.now(UTC)


class Notifier:
    """Turns events from the `events` table into delivered webhooks. Nothing runs until `start`."""

    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        templates_dir: Path,
        external_url: str,
        registry: CollectorRegistry,
        instance_id: str,
        clock: Callable[[], datetime] = now_utc,
        backoff: Backoff | None = None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._templates_dir = templates_dir
        self._external_url = external_url.rstrip("/")
        self._instance_id = instance_id
        self._clock = clock
        self._backoff = backoff or Backoff()
        self.metrics = NotifyMetrics(registry)
        self._plan: Plan | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._workers: dict[str, tuple[ReceiverWorker, asyncio.Task[None]]] = {}
        self._oldest: datetime | None = None
        self._writer = Writer(db)
        self.silences = SilenceStore(db, self._writer, clock)
        self._dispatcher = Dispatcher(
            db=db,
            writer=self._writer,
            plan=self.plan,
            metrics=self.metrics,
            clock=clock,
            instance_id=instance_id,
            external_url=self._external_url,
            on_enqueued=self._wake_receivers,
        )
        self.digests = DigestScheduler(
            db=db,
            writer=self._writer,
            plan=self.plan,
            metrics=self.metrics,
            clock=clock,
            external_url=self._external_url,
            instance_id=instance_id,
            on_enqueued=self._wake_receivers,
        )
        self.metrics.outbox_oldest_age.set_function(self._oldest_age)

    def plan(self) -> Plan:
        if self._plan is None:
            raise RuntimeError("the notifier is not started")
        return self._plan

    async def start(self) -> None:
        """Load and check templates (ConfigError on a bad one), release this instance's old leases, start tasks."""
        self._plan = build_plan(self._settings, self._templates_dir)
        self.metrics.add_receivers(self._plan.receivers)
        released = await self._writer.run(self._release)
        if released:
            log.info("took back %d notifications this instance had claimed before it stopped", released)
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))
        self._spawn(self._dispatcher.run(), "notify-dispatch")
        self._spawn(self._monitor(), "notify-monitor")
        self._sync_workers()
        self.digests.start()
        self._dispatcher.wake()

    async def stop(self) -> None:
        """Stop every task. Undelivered notifications stay in SQL for the next start (of any replica)."""
        self.digests.stop()
        tasks = list(self._tasks) + [task for _, task in self._workers.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._workers.clear()
        self._tasks.clear()
        await self._writer.drain()
        try:
            await self._writer.run(self._release)
        except (SQLAlchemyError, OSError, StorageError) as exc:
            log.warning("could not release claimed notifications (they are taken over when the lease ends): %s", exc)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def wake(self) -> None:
        """New events were written: dispatch now instead of at the next poll. Call on the event loop."""
        self._dispatcher.wake()

    def reload(self, settings: Settings) -> None:
        """Validate the new receivers, routes, inhibit rules and templates, then swap. Raises ConfigError (old kept)."""
        plan = build_plan(settings, self._templates_dir)
        self._settings = settings
        self._plan = plan
        self.metrics.add_receivers(plan.receivers)
        if self._session is not None:
            self._sync_workers()
            self.digests.reschedule()
            self._dispatcher.wake()

    # --- the deliveries API ------------------------------------------------------------------

    async def deliveries(
        self, *, state: str | None = None, receiver: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        async with self._db.engine.connect() as conn:
            return await outbox.find(conn, state=state, receiver=receiver, limit=limit)

    async def delivery(self, delivery_id: str) -> dict[str, Any] | None:
        async with self._db.engine.connect() as conn:
            return await outbox.get(conn, delivery_id)

    async def retry(self, delivery_id: str) -> bool:
        """Re-queue a dead delivery. False when there is no dead delivery with that id."""
        now = self._clock()

        async def work(conn: AsyncConnection) -> dict[str, Any] | None:
            done = await outbox.requeue(conn, delivery_id, now)
            return await outbox.get(conn, delivery_id) if done else None

        row = await self._writer.run(work)
        if row is not None:
            self._wake_receivers({row["receiver"]})
        return row is not None

    # --- internals ---------------------------------------------------------------------------

    async def _release(self, conn: AsyncConnection) -> int:
        return await outbox.release(conn, self._instance_id)

    def _receiver(self, name: str) -> Receiver | None:
        return self._plan.receivers.get(name) if self._plan is not None else None

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _sync_workers(self) -> None:
        """One worker per configured receiver: start the new ones, stop the removed ones."""
        assert self._session is not None and self._plan is not None
        for name in list(self._workers):
            if name not in self._plan.receivers:
                _, task = self._workers.pop(name)
                task.cancel()
                # Kept until it has finished, so that stop() waits for it too.
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        for name in self._plan.receivers:
            if name in self._workers:
                continue
            worker = ReceiverWorker(
                name=name,
                db=self._db,
                writer=self._writer,
                session=self._session,
                receiver=self._receiver,
                metrics=self.metrics,
                clock=self._clock,
                backoff=self._backoff,
                instance_id=self._instance_id,
            )
            self._workers[name] = (worker, asyncio.create_task(worker.run(), name=f"notify-{name}"))

    def _wake_receivers(self, names: set[str]) -> None:
        for name in names:
            entry = self._workers.get(name)
            if entry is not None:
                entry[0].wake()

    def _oldest_age(self) -> float:
        if self._oldest is None:
            return 0.0
        return max((self._clock() - self._oldest).total_seconds(), 0.0)

    async def _monitor(self) -> None:
        """Refresh the outbox gauges, and now and then drop old delivered and dead rows."""
        last_purge: datetime | None = None
        while True:
            try:
                async with self._db.engine.connect() as conn:
                    pending, self._oldest = await outbox.backlog(conn)
                self.metrics.outbox_pending.set(pending)
                now = self._clock()
                if last_purge is None or now - last_purge >= PURGE_EVERY:
                    purge = functools.partial(
                        outbox.purge, delivered_before=now - KEEP_DELIVERED, dead_before=now - KEEP_DEAD
                    )
                    await self._writer.run(purge)
                    last_purge = now
            except (SQLAlchemyError, OSError, StorageError) as exc:
                self.metrics.errors.labels("monitor").inc()
                log.warning("outbox gauges not refreshed: %s", exc)
            await asyncio.sleep(MONITOR_SECONDS)

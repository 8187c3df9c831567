"""Write transactions of the notification stage: never cut short by a cancel, and committed in groups.

A task cancelled in the middle of a transaction (at stop, or a reload dropping a
receiver) must not leave its connection holding SQLite's write lock: each unit of
work runs in a task of its own, shielded, and `drain` waits for those still running.

Units that queue while one transaction runs go into the next one together (group
commit): ten delivery workers claiming at once cost one commit, not ten. That matters on
both databases: SQLite has a single writer, for which the process's transactions queue
in `Database.transaction` anyway, and a PostgreSQL commit waits for its WAL to reach the
disk. If a shared transaction fails, each of its units runs again alone, so one unit's
error (a conflicting digest, say) is its caller's only. Units are plain SQL on the
connection they are given, so running one again after a rollback is safe. Across
replicas, row locks and SKIP LOCKED keep the transactions of different processes apart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from collector.store.db import Database

T = TypeVar("T")
Work = Callable[[AsyncConnection], Awaitable[Any]]


class Writer:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue: list[tuple[Work, asyncio.Future[Any]]] = []
        self._committer: asyncio.Task[None] | None = None
        self._running: set[asyncio.Future[object]] = set()

    async def run(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `work` in a transaction, committed when it returns. A cancel of the caller lets it finish."""
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((work, done))
        if self._committer is None:
            self._committer = asyncio.create_task(self._commit_queued(), name="notify-commit")
            self._track(self._committer)
        return await asyncio.shield(done)

    def _track(self, task: asyncio.Future[Any]) -> None:
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _transaction(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        async with self._db.transaction() as conn:
            return await work(conn)

    async def _commit_queued(self) -> None:
        units: list[tuple[Work, asyncio.Future[Any]]] = []
        try:
            while self._queue:
                units, self._queue = self._queue, []
                try:
                    results = await self._together(units)
                except Exception as exc:
                    if len(units) == 1:
                        if not units[0][1].done():
                            units[0][1].set_exception(exc)
                        continue
                    for work, done in units:
                        await self._alone(work, done)
                    continue
                for (_, done), result in zip(units, results, strict=True):
                    if not done.done():
                        done.set_result(result)
        finally:
            # Only a cancel of this task (the loop closing) gets here with callers still waiting.
            for _, done in units + self._queue:
                if not done.done():
                    done.cancel()
            self._queue = []
            self._committer = None

    async def _together(self, units: list[tuple[Work, asyncio.Future[Any]]]) -> list[Any]:
        async with self._db.transaction() as conn:
            return [await work(conn) for work, _ in units]

    async def _alone(self, work: Work, done: asyncio.Future[Any]) -> None:
        try:
            result = await self._transaction(work)
        except Exception as exc:  # the caller's to see, not the committer's
            if not done.done():
                done.set_exception(exc)
            return
        if not done.done():
            done.set_result(result)

    async def drain(self) -> None:
        """Wait for transactions whose callers were cancelled (their errors were already theirs to see)."""
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._running, return_exceptions=True)

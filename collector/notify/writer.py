"""Write transactions of the notification stage: never cut short by a cancel, and on SQLite one at a time.

A task cancelled in the middle of a transaction (at stop, or a reload dropping a
receiver) must not leave its connection holding SQLite's write lock: each unit of
work runs in a task of its own, shielded, and `drain` waits for those still running.
SQLite has a single writer; transactions that collide there wait in its busy handler,
which sleeps in growing steps (up to 100 ms), so within the process they queue on an
asyncio lock instead. PostgreSQL needs no queue: row locks and SKIP LOCKED let the
writers run side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from collector.store.db import Database

T = TypeVar("T")


class Writer:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = asyncio.Lock()
        self._running: set[asyncio.Future[object]] = set()

    async def run(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `work` in one transaction, committed when it returns. A cancel of the caller lets it finish."""
        task = asyncio.ensure_future(self._transaction(work))
        self._running.add(task)  # type: ignore[arg-type]
        task.add_done_callback(self._running.discard)
        return await asyncio.shield(task)

    async def _transaction(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        if self._db.dialect == "sqlite":
            async with self._lock, self._db.engine.begin() as conn:
                return await work(conn)
        async with self._db.engine.begin() as conn:
            return await work(conn)

    async def drain(self) -> None:
        """Wait for transactions whose callers were cancelled (their errors were already theirs to see)."""
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._running, return_exceptions=True)

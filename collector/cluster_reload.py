"""Reloads seen by every replica: a swap bumps a rules generation in SQL; the others reload when it moves."""

from __future__ import annotations

import logging

from collector.reload import Reloader
from collector.store import replicas
from collector.store.db import Database

log = logging.getLogger(__name__)

KEY = "rules_generation"


class ClusterReload:
    def __init__(self, db: Database, reloader: Reloader) -> None:
        self._db = db
        self._reloader = reloader
        self._seen: int | None = None
        reloader.announce_with(self.announce)

    async def announce(self) -> None:
        async with self._db.transaction() as conn:
            self._seen = await replicas.bump(conn, KEY)

    async def check(self) -> None:
        """Reload when another replica reloaded since we last looked (called periodically)."""
        async with self._db.engine.connect() as conn:
            current = await replicas.generation(conn, KEY)
        # The first look cannot tell whether a reload elsewhere came after this replica read its files:
        # reload once (a no-op when nothing changed) rather than miss it.
        if self._seen is None or current > self._seen:
            first = self._seen is None
            self._seen = current
            if not first:
                log.info("another replica reloaded its rules; reloading")
            await self._reloader.reload("first look" if first else "reload on another replica", announce=False)

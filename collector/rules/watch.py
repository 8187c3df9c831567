"""Optional file watch: polls rule and config files and triggers a reload once they have stopped changing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from collector.source import yaml_files

log = logging.getLogger(__name__)

Signature = tuple[tuple[str, int, int], ...]


def signature(paths: Sequence[Path]) -> Signature:
    """Name, size and mtime of every file the paths cover (folders expanded); missing files simply absent."""
    out: list[tuple[str, int, int]] = []
    for p in yaml_files(paths):
        try:
            st = p.stat()
        except OSError:
            continue
        out.append((str(p), st.st_size, st.st_mtime_ns))
    return tuple(sorted(out))


class FileWatch:
    """Calls `on_change` when the watched files changed and then stayed unchanged for `debounce` seconds.

    Waiting for quiet tolerates editors and deploy tools that write a file in several steps; a
    reload that still sees a half-written file fails validation and leaves the old rules running,
    and the next change triggers another attempt.
    """

    def __init__(
        self, paths: Sequence[Path], on_change: Callable[[], Awaitable[object]], interval: float, debounce: float
    ) -> None:
        self._paths = list(paths)
        self._on_change = on_change
        self._interval = interval
        self._debounce = debounce

    async def run(self) -> None:
        seen = signature(self._paths)
        while True:
            await asyncio.sleep(self._interval)
            now = signature(self._paths)
            if now == seen:
                continue
            # Changed: wait until it stops changing.
            while True:
                await asyncio.sleep(self._debounce)
                settled = signature(self._paths)
                if settled == now:
                    break
                now = settled
            seen = now
            log.info("rule or config files changed; reloading")
            await self._on_change()

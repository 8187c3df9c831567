"""A task's wake-up call: sleep until a deadline unless someone has new work for it first."""

from __future__ import annotations

import asyncio
import contextlib


class Wakeup:
    """Set by producers (`set`, on the event loop); the consumer clears it before each look for work."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    async def sleep(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True when woken (set since the last `clear`) rather than timed out."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout=seconds)
            return True
        return False

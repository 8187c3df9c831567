"""The bounded hand-off between ingest and the store, counted in items (spans, points, log records).

A request is answered 200 only after its batch is in this queue, and the queue
is drained into the sink before shutdown completes: accepted means kept. When
the queue is full, `offer` refuses with OverloadedError (429 + Retry-After);
once closing, with 503.
"""

from __future__ import annotations

import asyncio
import collections
import logging

from collector.errors import OverloadedError
from collector.model import Batch, BatchSink

log = logging.getLogger(__name__)

# Hand the loop back to request handlers after this many items, so a deep queue never stalls ingest.
_YIELD_EVERY_ITEMS = 5_000


class BatchQueue:
    """Bounded FIFO of accepted batches and the task that feeds them to the sink."""

    def __init__(self, sink: BatchSink, capacity_items: int, retry_after_s: int = 1) -> None:
        self._sink = sink
        self.capacity = capacity_items
        self._retry_after_s = retry_after_s
        self._batches: collections.deque[Batch] = collections.deque()
        self._items = 0
        self._closed = False
        self._wakeup = asyncio.Event()
        self.consumed_items = 0
        self.consume_errors = 0

    @property
    def depth(self) -> int:
        """Items waiting to be consumed."""
        return self._items

    @property
    def closed(self) -> bool:
        return self._closed

    def check_open(self) -> None:
        """Refuse early (before decoding) when the queue cannot take anything now."""
        if self._closed:
            raise OverloadedError("shutting down", self._retry_after_s, shutting_down=True)
        if self._items >= self.capacity:
            raise OverloadedError("ingest queue is full", self._retry_after_s)

    def offer(self, batch: Batch) -> None:
        """Enqueue or raise OverloadedError. A batch bigger than the whole queue is taken when the queue is empty."""
        self.check_open()
        if self._items and self._items + batch.items > self.capacity:
            raise OverloadedError("ingest queue is full", self._retry_after_s)
        self._batches.append(batch)
        self._items += batch.items
        self._wakeup.set()

    async def run(self) -> None:
        """Feed batches to the sink until closed and empty."""
        since_yield = 0
        while True:
            if not self._batches:
                if self._closed:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = self._batches.popleft()
            self._consume(batch)
            since_yield += batch.items
            if since_yield >= _YIELD_EVERY_ITEMS:
                since_yield = 0
                await asyncio.sleep(0)

    def _consume(self, batch: Batch) -> None:
        try:
            self._sink.consume(batch)
        except Exception:
            # A bug in a sink must not stop ingest for everyone; it is logged and counted, and the
            # items stay counted as consumed-with-error rather than silently vanishing.
            self.consume_errors += 1
            log.exception("store failed to consume a %s batch of %d items", batch.signal.value, batch.items)
        finally:
            self._items -= batch.items
            self.consumed_items += batch.items

    def close(self) -> None:
        """Stop taking batches; `run` returns once the queue is empty."""
        self._closed = True
        self._wakeup.set()

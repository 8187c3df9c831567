"""The bounded queue between ingest and store: refuses when full, drains everything on close."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.errors import OverloadedError
from collector.ingest.backpressure import BatchQueue
from collector.model import Batch, Signal


class CountingSink:
    def __init__(self) -> None:
        self.items = 0

    def consume(self, batch: Batch) -> None:
        self.items += batch.items


def batch(items: int) -> Batch:
    return Batch(Signal.SPANS, ExportTraceServiceRequest(), items, 0)


async def test_full_queue_refuses_with_retry_after_and_close_drains() -> None:
    sink = CountingSink()
    q = BatchQueue(sink, capacity_items=100)
    q.offer(batch(60))
    with pytest.raises(OverloadedError) as info:
        q.offer(batch(60))
    assert info.value.http_status == 429 and info.value.retry_after_s >= 1
    q.offer(batch(40))
    assert q.depth == 100
    task = asyncio.create_task(q.run())
    q.close()
    with pytest.raises(OverloadedError) as info:
        q.offer(batch(1))
    assert info.value.http_status == 503
    await asyncio.wait_for(task, 5)
    assert sink.items == 100 and q.depth == 0 and q.consumed_items == 100


async def test_a_batch_larger_than_the_queue_is_taken_when_empty() -> None:
    sink = CountingSink()
    q = BatchQueue(sink, capacity_items=10)
    q.offer(batch(500))
    with pytest.raises(OverloadedError):
        q.check_open()
    task = asyncio.create_task(q.run())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert q.depth == 0
    q.offer(batch(5))
    q.close()
    await asyncio.wait_for(task, 5)
    assert sink.items == 505


async def test_a_failing_sink_is_counted_and_the_queue_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def consume(self, batch: Batch) -> None:
            raise RuntimeError("boom")

    q = BatchQueue(Broken(), capacity_items=10)
    q.offer(batch(3))
    q.offer(batch(4))
    q.close()
    await asyncio.wait_for(q.run(), 5)
    assert q.consume_errors == 2 and q.depth == 0
    assert "failed to consume" in caplog.text

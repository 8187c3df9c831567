"""The OTLP/HTTP receiver reads a body however it arrives, caps it, and hands its protobuf on to the trace index."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp.test_utils import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from prometheus_client import CollectorRegistry
from pytest_aiohttp import AiohttpClient

from collector.ingest.auth import TokenCheck
from collector.ingest.backpressure import BatchQueue
from collector.ingest.otlp_http import OtlpHttpReceiver, make_ingest_app
from collector.ingest.stats import IngestStats
from collector.model import Batch

PB = {"Content-Type": "application/x-protobuf"}
T0 = 1_767_225_600_000_000_000


class Sink:
    def __init__(self) -> None:
        self.batches: list[Batch] = []

    def consume(self, batch: Batch) -> None:
        self.batches.append(batch)


def spans_body(n: int) -> bytes:
    spans = [
        Span(trace_id=(i + 1).to_bytes(16, "big"), span_id=(i + 1).to_bytes(8, "big"), name=f"GET /item/{i}",
             start_time_unix_nano=T0 + i, end_time_unix_nano=T0 + i + 5_000_000)
        for i in range(n)
    ]
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])])
    return request.SerializeToString()


async def pieces(body: bytes, size: int) -> AsyncIterator[bytes]:
    """The body in small writes: sent with chunked transfer encoding, no Content-Length."""
    for i in range(0, len(body), size):
        yield body[i : i + size]


async def receiver(aiohttp_client: AiohttpClient, limit: int) -> tuple[TestClient[Any, Any], BatchQueue, Sink]:
    sink = Sink()
    queue = BatchQueue(sink, capacity_items=1_000_000)
    stats = IngestStats(CollectorRegistry(), lambda: queue.depth, queue.capacity)
    app = make_ingest_app(
        OtlpHttpReceiver(queue=queue, stats=stats, tokens=TokenCheck([]), max_request_bytes=limit), limit
    )
    return await aiohttp_client(app), queue, sink


async def drained(queue: BatchQueue) -> None:
    queue.close()
    await queue.run()


async def test_a_body_sent_in_pieces_is_read_whole_and_kept_as_sent(aiohttp_client: AiohttpClient) -> None:
    client, queue, sink = await receiver(aiohttp_client, limit=1 << 20)
    body = spans_body(2000)
    r = await client.post("/v1/traces", data=pieces(body, 1000), headers=PB)
    assert r.status == 200
    r = await client.post("/v1/traces", data=body, headers=PB)
    assert r.status == 200
    await drained(queue)
    assert [b.items for b in sink.batches] == [2000, 2000]
    for batch in sink.batches:
        assert batch.scanned is not None and batch.scanned.body == body
        assert batch.request == ExportTraceServiceRequest.FromString(body)


async def test_a_body_in_pieces_over_the_limit_is_413(aiohttp_client: AiohttpClient) -> None:
    body = spans_body(2000)
    client, queue, sink = await receiver(aiohttp_client, limit=len(body) - 1)
    r = await client.post("/v1/traces", data=pieces(body, 4096), headers=PB)
    assert r.status == 413
    r = await client.post("/v1/traces", data=body[:-10], headers=PB)
    assert r.status == 400  # within the limit, but cut short: not a protobuf request
    await drained(queue)
    assert sink.batches == []


async def test_a_json_body_has_no_protobuf_to_keep(aiohttp_client: AiohttpClient) -> None:
    client, queue, sink = await receiver(aiohttp_client, limit=1 << 20)
    document = (
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "5b8efff798038103d269b633813fc60c",'
        b' "spanId": "eee19b7ec3c1b174", "name": "GET /", "startTimeUnixNano": "1767225600000000000",'
        b' "endTimeUnixNano": "1767225600005000000"}]}]}]}'
    )
    r = await client.post("/v1/traces", data=document, headers={"Content-Type": "application/json"})
    assert r.status == 200
    await drained(queue)
    [batch] = sink.batches
    assert batch.items == 1 and batch.scanned is not None and batch.scanned.body is None

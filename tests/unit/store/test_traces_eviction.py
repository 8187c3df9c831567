"""The trace index stays within retention.traces and retention.max_bytes, oldest first, with memory flat."""

from __future__ import annotations

import gc
import os
import tracemalloc
from datetime import timedelta

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from prometheus_client import CollectorRegistry

from collector.store.traces import TraceIndex
from tests.unit.store.resident import resident_after

T0 = 1_767_225_600_000_000_000
SECOND = 10**9
MIB = 2**20


def attr(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def request(traces: int, spans_per_trace: int, t: int = T0) -> tuple[ExportTraceServiceRequest, list[bytes]]:
    """Fresh traces of HTTP-like spans (a few attributes each), parent-linked; returns the request and trace IDs."""
    out = ExportTraceServiceRequest()
    rs = out.resource_spans.add()
    rs.resource.attributes.extend([attr("service.name", "checkout"), attr("host.name", "checkout-7d9f8")])
    ss = rs.scope_spans.add()
    ids = [os.urandom(16) for _ in range(traces)]
    for trace_id in ids:
        parent = b""
        for i in range(spans_per_trace):
            span_id = os.urandom(8)
            ss.spans.append(Span(
                trace_id=trace_id, span_id=span_id, parent_span_id=parent, name="GET /api/cart/{id}",
                kind=Span.SPAN_KIND_SERVER, start_time_unix_nano=t + i, end_time_unix_nano=t + i + 5_000_000,
                attributes=[
                    attr("http.route", "/api/cart/{id}"),
                    attr("http.target", f"/api/cart/{os.urandom(4).hex()}"),
                    attr("user_agent.original", "python-requests/2.32.3"),
                ],
            ))
            parent = span_id
    return out, ids


def raw_size(req: ExportTraceServiceRequest) -> int:
    return sum(s.ByteSize() for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans)


def test_traces_older_than_retention_are_evicted_by_age() -> None:
    registry = CollectorRegistry()
    now = [T0]
    idx = TraceIndex(retention=timedelta(minutes=30), max_bytes=64 * MIB, registry=registry, clock=lambda: now[0])
    old, old_ids = request(5, 4)
    idx.add_spans(old, T0)
    logs = ExportLogsServiceRequest()
    logs.resource_logs.add().scope_logs.add().log_records.add(trace_id=old_ids[0], body=AnyValue(string_value="x"))
    idx.add_logs(logs, T0 + 10 * 60 * SECOND)
    late, _ = request(1, 1)
    late.resource_spans[0].scope_spans[0].spans[0].trace_id = old_ids[1]
    idx.add_spans(late, T0 + 20 * 60 * SECOND)

    now[0] = T0 + 31 * 60 * SECOND
    assert [idx.get(t) is not None for t in old_ids] == [True, True, False, False, False]
    kept = idx.get(old_ids[1])
    assert kept is not None and len(kept.spans) == 1  # only the late span is young enough
    assert registry.get_sample_value("vigil_trace_index_evicted_total", {"reason": "age"}) == 20

    now[0] = T0 + 51 * 60 * SECOND
    idx.evict()
    assert (idx.records_held, idx.bytes_held) == (0, 0)
    assert registry.get_sample_value("vigil_trace_index_evicted_total", {"reason": "age"}) == 22
    assert registry.get_sample_value("vigil_trace_index_evicted_total", {"reason": "bytes"}) == 0


def test_ten_times_max_bytes_keeps_the_newest_and_memory_flat() -> None:
    max_bytes = 2 * MIB
    registry = CollectorRegistry()
    idx = TraceIndex(retention=timedelta(minutes=30), max_bytes=max_bytes, registry=registry, clock=lambda: T0)
    batches = [request(40, 10) for _ in range(10 * max_bytes // raw_size(request(40, 10)[0]) + 1)]
    assert sum(raw_size(r) for r, _ in batches) >= 10 * max_bytes
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        resident = []
        for i, (req, _) in enumerate(batches):
            idx.add_spans(req, T0 + i)
            assert idx.bytes_held <= max_bytes
            resident.append(tracemalloc.get_traced_memory()[0] - base)
    finally:
        tracemalloc.stop()
    # Past the point where eviction starts (a fifth of the way in), memory stops growing.
    settled = resident[len(resident) // 5 :]
    assert max(settled) <= 1.1 * min(settled)
    # What the index accounts for is what it really holds.
    assert max(resident) <= 1.15 * max_bytes
    newest, oldest = batches[-1][1], batches[0][1]
    assert all(idx.get(t) is not None for t in newest)
    assert all(idx.get(t) is None for t in oldest)
    evicted = registry.get_sample_value("vigil_trace_index_evicted_total", {"reason": "bytes"})
    assert evicted is not None and evicted >= 0.8 * 400 * len(batches)


def test_resident_memory_stays_within_one_and_a_half_times_the_raw_spans() -> None:
    idx = TraceIndex(retention=timedelta(minutes=30), max_bytes=2**40, clock=lambda: T0)
    batches = [request(100, 10)[0] for _ in range(10)]

    def add() -> None:
        for req in batches:
            idx.add_spans(req, T0)

    resident = resident_after(add)
    raw = sum(raw_size(r) for r in batches)
    assert resident <= 1.5 * raw
    assert resident <= idx.bytes_held <= 1.2 * resident

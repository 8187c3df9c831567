"""The trace index fed as the receivers feed it (with the body and what validation read): same traces, same bounds."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from prometheus_client import CollectorRegistry

from collector.ingest.validation import validate
from collector.model import Scanned, Signal
from collector.store.traces import TraceIndex
from tests.unit.store.resident import resident_after

T0 = 1_767_225_600_000_000_000
MS = 1_000_000
SECOND = 10**9
TRACES = [bytes([i + 1]) * 16 for i in range(3)]


def attr(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def spans_request(first: int = 0) -> ExportTraceServiceRequest:
    """Two services, three scopes; the spans of three traces spread over all of them."""
    request = ExportTraceServiceRequest()
    n = first
    for service, scopes in (("frontend", ("http",)), ("checkout", ("db", "cache"))):
        rs = request.resource_spans.add()
        rs.resource.attributes.extend([attr("service.name", service), attr("host.name", f"{service}-1")])
        for scope in scopes:
            ss = rs.scope_spans.add()
            ss.scope.name = scope
            for trace in TRACES:
                n += 1
                ss.spans.append(Span(
                    trace_id=trace, span_id=n.to_bytes(8, "big"), name=f"{scope}-{n}",
                    start_time_unix_nano=T0 + n * MS, end_time_unix_nano=T0 + (n + 1) * MS,
                    attributes=[attr("n", str(n))],
                ))
    return request


def received(request: ExportTraceServiceRequest | ExportLogsServiceRequest) -> tuple[Any, Scanned]:
    """The request as the receivers hand it over: parsed from its body, validated, with what validation read."""
    body = request.SerializeToString()
    parsed = type(request).FromString(body)
    signal = Signal.SPANS if isinstance(parsed, ExportTraceServiceRequest) else Signal.LOGS
    scanned = validate(signal, parsed, body).scanned
    assert scanned is not None and scanned.body is body
    return parsed, scanned


def index(max_bytes: int = 64 * 2**20, registry: CollectorRegistry | None = None) -> TraceIndex:
    return TraceIndex(retention=timedelta(minutes=30), max_bytes=max_bytes, registry=registry, clock=lambda: T0)


def test_a_request_kept_as_its_body_reads_back_as_the_request_itself() -> None:
    bare, from_ingest = index(), index()
    for first in (0, 100):
        request = spans_request(first)
        bare.add_spans(request, T0 + first)
        parsed, scanned = received(request)
        from_ingest.add_spans(parsed, T0 + first, scanned)
    for trace in TRACES:
        want, got = bare.get(trace), from_ingest.get(trace)
        assert want is not None and got is not None
        assert len(got.spans) == 6  # one per scope and request
        assert got.to_dict() == want.to_dict()
    assert from_ingest.records_held == bare.records_held == 18  # 3 scopes x 3 traces, twice


def test_log_records_without_a_trace_are_left_out_as_before() -> None:
    request = ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    scope.log_records.extend([
        LogRecord(time_unix_nano=T0 + i, body=AnyValue(string_value=f"log {i}"), trace_id=TRACES[0] if i % 2 else b"")
        for i in range(6)
    ])
    idx = index()
    parsed, scanned = received(request)
    idx.add_logs(parsed, T0, scanned)
    view = idx.get(TRACES[0])
    assert view is not None
    assert [e.record.body.string_value for e in view.logs] == ["log 1", "log 3", "log 5"]
    assert idx.records_held == 3


def test_a_long_trace_keeps_exactly_the_spans_of_the_requests_still_held() -> None:
    """One trace with a span in each of 60 requests, while the byte bound evicts the oldest requests."""
    registry = CollectorRegistry()
    long_trace = b"\x07" * 16
    size = len(spans_request().SerializeToString())
    idx = index(max_bytes=12 * size, registry=registry)
    for i in range(60):
        request = spans_request(1000 * i)
        request.resource_spans[0].scope_spans[0].spans[0].trace_id = long_trace
        parsed, scanned = received(request)
        idx.add_spans(parsed, T0 + i, scanned)
        view = idx.get(long_trace)
        assert view is not None
        evicted = registry.get_sample_value("vigil_trace_index_evicted_total", {"reason": "bytes"}) or 0
        held = i + 1 - int(evicted) // 9
        assert [s.span.name for s in view.spans] == [f"http-{1000 * j + 1}" for j in range(i + 1 - held, i + 1)]
    assert idx.bytes_held <= 12 * size
    idx.evict(T0 + 31 * 60 * SECOND)
    assert (idx.records_held, idx.bytes_held) == (0, 0)
    assert idx.get(long_trace) is None


def test_memory_held_stays_within_one_and_a_half_times_the_raw_spans_and_is_accounted() -> None:
    bodies = []
    for _ in range(10):
        request = ExportTraceServiceRequest()
        rs = request.resource_spans.add()
        rs.resource.attributes.append(attr("service.name", "checkout"))
        ss = rs.scope_spans.add()
        for trace in (os.urandom(16) for _ in range(100)):
            for _ in range(10):
                target = attr("http.target", f"/api/cart/{os.urandom(4).hex()}")
                ss.spans.append(Span(
                    trace_id=trace, span_id=os.urandom(8), name="GET /api/cart/{id}", start_time_unix_nano=T0,
                    end_time_unix_nano=T0 + 5 * MS, attributes=[target],
                ))
        bodies.append(request.SerializeToString())
    raw = sum(s.ByteSize() for b in bodies for s in ExportTraceServiceRequest.FromString(b).resource_spans[0]
              .scope_spans[0].spans)
    idx = TraceIndex(retention=timedelta(minutes=30), max_bytes=2**40, clock=lambda: T0)

    def add() -> None:
        for sent in bodies:
            body = bytes(bytearray(sent))  # a body read from a socket is new memory
            parsed = ExportTraceServiceRequest.FromString(body)
            idx.add_spans(parsed, T0, validate(Signal.SPANS, parsed, body).scanned)

    resident = resident_after(add)
    assert resident <= 1.5 * raw
    assert resident <= idx.bytes_held <= 1.2 * resident


def test_log_records_all_in_traces_are_kept_as_their_body_and_read_back_alike() -> None:
    request = ExportLogsServiceRequest()
    for service in ("checkout", "payments"):
        rl = request.resource_logs.add()
        rl.resource.attributes.append(attr("service.name", service))
        rl.scope_logs.add().log_records.extend([
            LogRecord(time_unix_nano=T0 + i, body=AnyValue(string_value=f"{service} {i}"), trace_id=TRACES[i % 2],
                      span_id=bytes([i + 1]) * 8)
            for i in range(4)
        ])
    bare, from_ingest = index(), index()
    bare.add_logs(request, T0)
    parsed, scanned = received(request)
    from_ingest.add_logs(parsed, T0, scanned)
    for trace in TRACES[:2]:
        want, got = bare.get(trace), from_ingest.get(trace)
        assert want is not None and got is not None
        assert [e.record.body.string_value for e in got.logs] == [e.record.body.string_value for e in want.logs]
        assert got.to_dict() == want.to_dict()
        assert len(got.logs) == 4

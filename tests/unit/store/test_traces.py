"""The trace index: a trace's spans in tree order with depth and its logs, however and whenever they arrive."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import SEVERITY_NUMBER_ERROR, LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from prometheus_client import CollectorRegistry

from collector.store.traces import TraceIndex

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
MS = 1_000_000
TRACE = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
OTHER = bytes.fromhex("00f067aa0ba902b700f067aa0ba902b7")


def sid(n: int) -> bytes:
    return n.to_bytes(8, "big")


def span(n: int, parent: int | None, start_ms: int, trace: bytes = TRACE, name: str = "") -> Span:
    return Span(
        trace_id=trace, span_id=sid(n), parent_span_id=sid(parent) if parent is not None else b"",
        name=name or f"op-{n}", kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=T0 + start_ms * MS, end_time_unix_nano=T0 + (start_ms + 5) * MS,
    )


def spans_request(*spans: Span, service: str = "checkout", scope: str = "shop") -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value=service)))
    ss = rs.scope_spans.add()
    ss.scope.name = scope
    ss.spans.extend(spans)
    return request


def log(body: str, at_ms: int, trace: bytes = TRACE, span_n: int | None = None) -> LogRecord:
    return LogRecord(
        time_unix_nano=T0 + at_ms * MS, severity_number=SEVERITY_NUMBER_ERROR, severity_text="ERROR",
        body=AnyValue(string_value=body), trace_id=trace, span_id=sid(span_n) if span_n is not None else b"",
    )


def logs_request(*records: LogRecord, service: str = "checkout") -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value=service)))
    rl.scope_logs.add().log_records.extend(records)
    return request


def index(registry: CollectorRegistry | None = None) -> TraceIndex:
    return TraceIndex(retention=timedelta(minutes=30), max_bytes=64 * 2**20, registry=registry, clock=lambda: T0)


def tree(idx: TraceIndex, trace: bytes = TRACE) -> list[tuple[str, int]]:
    view = idx.get(trace)
    assert view is not None
    return [(s.span.name, s.depth) for s in view.spans]


def test_spans_come_back_parent_before_child_children_by_start_time() -> None:
    idx = index()
    # root 1 → 2 (starts at 20 ms), 3 (starts at 10 ms) ; 2 → 4 ; arriving leaves first, in two requests.
    idx.add_spans(spans_request(span(4, 2, 25), span(2, 1, 20)), T0)
    idx.add_spans(spans_request(span(3, 1, 10), span(1, None, 0)), T0)
    assert tree(idx) == [("op-1", 0), ("op-3", 1), ("op-2", 1), ("op-4", 2)]


def test_logs_of_the_trace_come_back_by_time_with_their_spans() -> None:
    idx = index()
    idx.add_spans(spans_request(span(1, None, 0)), T0)
    idx.add_logs(logs_request(log("second", 30, span_n=1), log("first", 10, span_n=1), log("elsewhere", 5, OTHER)), T0)
    view = idx.get(TRACE)
    assert view is not None
    assert [entry.record.body.string_value for entry in view.logs] == ["first", "second"]
    doc = view.to_dict()
    assert (doc["spanCount"], doc["logCount"]) == (1, 2)
    assert doc["logs"] == [
        {"time": "2026-01-01T00:00:00.010Z", "timeUnixNano": T0 + 10 * MS, "severity": "ERROR", "severityNumber": 17,
         "body": "first", "service": "checkout", "spanId": sid(1).hex(), "attributes": {}},
        {"time": "2026-01-01T00:00:00.030Z", "timeUnixNano": T0 + 30 * MS, "severity": "ERROR", "severityNumber": 17,
         "body": "second", "service": "checkout", "spanId": sid(1).hex(), "attributes": {}},
    ]


def test_orphans_are_roots_ordered_by_start() -> None:
    idx = index()
    # Parent 99 never arrives: 5 and 6 are roots; 7 stays under 6.
    idx.add_spans(spans_request(span(7, 6, 40), span(6, 99, 30), span(5, 98, 10)), T0)
    assert tree(idx) == [("op-5", 0), ("op-6", 0), ("op-7", 1)]


def test_a_late_span_finds_its_place_in_the_tree() -> None:
    idx = index()
    idx.add_spans(spans_request(span(2, 1, 5), span(3, 2, 6)), T0)
    assert tree(idx) == [("op-2", 0), ("op-3", 1)]
    # The root arrives four minutes later, in its own request.
    idx.add_spans(spans_request(span(1, None, 0), service="frontend"), T0 + 240 * 10**9)
    idx.evict(T0 + 240 * 10**9)
    assert tree(idx) == [("op-1", 0), ("op-2", 1), ("op-3", 2)]
    view = idx.get(TRACE)
    assert view is not None
    assert view.to_dict()["services"] == ["checkout", "frontend"]


def test_logs_of_a_trace_without_spans_are_retrievable() -> None:
    idx = index()
    idx.add_logs(logs_request(log("only logs", 7), log("later", 9)), T0)
    view = idx.get(TRACE)
    assert view is not None and view.spans == ()
    doc = view.to_dict()
    assert (doc["spanCount"], doc["logCount"], doc["spans"]) == (0, 2, [])
    assert doc["startTime"] == "2026-01-01T00:00:00.007Z"
    assert doc["durationMs"] == 2.0


def test_a_retried_export_shows_each_span_and_log_once() -> None:
    idx = index()
    request = spans_request(span(1, None, 0), span(2, 1, 1))
    logs = logs_request(log("boom", 3, span_n=2))
    for _ in range(2):
        idx.add_spans(request, T0)
        idx.add_logs(logs, T0)
    view = idx.get(TRACE)
    assert view is not None
    assert [(s.span.span_id, s.depth) for s in view.spans] == [(sid(1), 0), (sid(2), 1)]
    assert len(view.logs) == 1


def test_log_records_without_a_trace_id_are_not_indexed() -> None:
    idx = index()
    untraced = LogRecord(time_unix_nano=T0, body=AnyValue(string_value="no trace"))
    zero = LogRecord(time_unix_nano=T0, body=AnyValue(string_value="zero trace"), trace_id=bytes(16))
    idx.add_logs(logs_request(untraced, log("a", 1), zero, log("b", 2, OTHER), log("c", 3)), T0)
    assert idx.records_held == 3  # a, b and c, in two traces
    assert idx.get(bytes(16)) is None
    mine, other = idx.get(TRACE), idx.get(OTHER)
    assert mine is not None and other is not None
    assert [e.record.body.string_value for e in mine.logs] == ["a", "c"]
    assert [e.record.body.string_value for e in other.logs] == ["b"]
    idx.add_logs(logs_request(untraced), T0)
    assert idx.records_held == 3


def test_each_span_keeps_the_resource_and_scope_it_came_with() -> None:
    idx = index()
    request = spans_request(span(1, None, 0), service="frontend", scope="http")
    more = spans_request(span(2, 1, 1), span(3, 2, 2, trace=OTHER), service="checkout", scope="db")
    request.resource_spans.extend(more.resource_spans)
    idx.add_spans(request, T0)
    view = idx.get(TRACE)
    assert view is not None
    assert [(s.span.name, s.scope.name) for s in view.spans] == [("op-1", "http"), ("op-2", "db")]
    doc: dict[str, Any] = orjson.loads(orjson.dumps(view.to_dict()))
    assert [(s["service"], s["resource"]) for s in doc["spans"]] == [
        ("frontend", {"service.name": "frontend"}),
        ("checkout", {"service.name": "checkout"}),
    ]
    other = idx.get(OTHER)
    assert other is not None and [s.span.name for s in other.spans] == ["op-3"]


def test_spans_whose_parents_form_a_cycle_are_still_shown() -> None:
    idx = index()
    idx.add_spans(spans_request(span(1, 2, 0), span(2, 1, 1), span(3, 3, 2)), T0)
    assert tree(idx) == [("op-1", 0), ("op-2", 1), ("op-3", 0)]


def test_an_unknown_trace_is_none() -> None:
    idx = index()
    idx.add_spans(spans_request(span(1, None, 0)), T0)
    assert idx.get(OTHER) is None


def test_metrics_report_what_is_held_on_the_given_registry() -> None:
    registry = CollectorRegistry()
    idx = index(registry=registry)
    idx.add_spans(spans_request(span(1, None, 0), span(2, None, 0, trace=OTHER)), T0)
    idx.add_logs(logs_request(log("x", 1)), T0)
    assert registry.get_sample_value("vigil_trace_index_records") == 3  # two spans and a log record
    assert registry.get_sample_value("vigil_trace_index_bytes") == idx.bytes_held > 0
    for reason in ("age", "bytes"):
        assert registry.get_sample_value("vigil_trace_index_evicted_total", {"reason": reason}) == 0

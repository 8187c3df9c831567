"""The trace document of GET /api/traces/{traceId}: JSON types, kinds, statuses, times, events, links, log fields."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import SEVERITY_NUMBER_INFO2, SEVERITY_NUMBER_WARN, LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from collector.store.traces import TraceIndex

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
MS = 1_000_000
TRACE = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
ROOT, CHILD = bytes.fromhex("00f067aa0ba902b7"), bytes.fromhex("53995c3f42cd8ad8")


def kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


RICH = [
    kv("str", AnyValue(string_value="GET")),
    kv("flag", AnyValue(bool_value=True)),
    kv("count", AnyValue(int_value=-42)),
    kv("ratio", AnyValue(double_value=0.25)),
    kv("nan", AnyValue(double_value=math.nan)),
    kv("raw", AnyValue(bytes_value=b"\x01\xff")),
    kv("list", AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1), AnyValue(string_value="two")]))),
    kv("map", AnyValue(kvlist_value=KeyValueList(values=[kv("inner", AnyValue(bool_value=False))]))),
    kv("empty", AnyValue()),
]
RICH_JSON = {
    "str": "GET", "flag": True, "count": -42, "ratio": 0.25, "nan": "NaN", "raw": "01ff",
    "list": [1, "two"], "map": {"inner": False}, "empty": None,
}


def document() -> dict[str, Any]:
    idx = TraceIndex(retention=timedelta(minutes=30), max_bytes=2**26, clock=lambda: T0)
    spans = ExportTraceServiceRequest()
    rs = spans.resource_spans.add()
    rs.resource.attributes.extend([kv("service.name", AnyValue(string_value="checkout")), *RICH[:2]])
    rs.scope_spans.add().spans.extend([
        Span(
            trace_id=TRACE, span_id=ROOT, name="POST /checkout", kind=Span.SPAN_KIND_SERVER,
            start_time_unix_nano=T0 + 1_500_000, end_time_unix_nano=T0 + 251_500_000, attributes=RICH,
            status=Status(code=Status.STATUS_CODE_ERROR, message="payment declined"),
            events=[Span.Event(time_unix_nano=T0 + 2 * MS, name="exception", attributes=RICH[:1])],
        ),
        Span(
            trace_id=TRACE, span_id=CHILD, parent_span_id=ROOT, name="charge", kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=T0 + 11_500_000, end_time_unix_nano=T0 + 61_500_000,
            status=Status(code=Status.STATUS_CODE_OK),
            links=[Span.Link(trace_id=bytes(range(16)), span_id=bytes(range(8)), attributes=RICH[1:2])],
        ),
    ])
    idx.add_spans(spans, T0)
    logs = ExportLogsServiceRequest()
    rl = logs.resource_logs.add()  # no service.name on this resource
    rl.scope_logs.add().log_records.extend([
        LogRecord(time_unix_nano=T0 + 20 * MS, severity_number=SEVERITY_NUMBER_WARN, trace_id=TRACE, span_id=CHILD,
                  body=AnyValue(kvlist_value=KeyValueList(values=RICH[:3])), attributes=RICH[2:4]),
        LogRecord(observed_time_unix_nano=T0 + 30 * MS, severity_number=SEVERITY_NUMBER_INFO2, severity_text="notice",
                  trace_id=TRACE),
    ])
    idx.add_logs(logs, T0)
    view = idx.get(TRACE)
    assert view is not None
    doc: dict[str, Any] = orjson.loads(orjson.dumps(view.to_dict()))
    return doc


def test_trace_summary() -> None:
    doc = document()
    assert {k: v for k, v in doc.items() if k not in ("spans", "logs")} == {
        "traceId": TRACE.hex(), "spanCount": 2, "logCount": 2, "services": ["checkout", "unknown"],
        "startTime": "2026-01-01T00:00:00.001Z", "durationMs": 250.0,
    }


def test_span_fields() -> None:
    root, child = document()["spans"]
    assert root == {
        "spanId": ROOT.hex(), "parentSpanId": None, "depth": 0, "service": "checkout", "name": "POST /checkout",
        "kind": "server", "status": {"code": "error", "message": "payment declined"},
        "startTime": "2026-01-01T00:00:00.001Z", "startUnixNano": T0 + 1_500_000, "durationMs": 250.0,
        "offsetMs": 0.0, "attributes": RICH_JSON, "resource": {"service.name": "checkout", "str": "GET", "flag": True},
        "events": [{"name": "exception", "time": "2026-01-01T00:00:00.002Z", "attributes": {"str": "GET"}}],
        "links": [],
    }
    assert (child["parentSpanId"], child["depth"], child["kind"], child["status"]) == (
        ROOT.hex(), 1, "client", {"code": "ok", "message": ""}
    )
    assert (child["offsetMs"], child["durationMs"]) == (10.0, 50.0)
    assert child["links"] == [{"traceId": bytes(range(16)).hex(), "spanId": bytes(range(8)).hex(),
                               "attributes": {"flag": True}}]


def test_log_fields() -> None:
    structured, observed = document()["logs"]
    assert structured == {
        "time": "2026-01-01T00:00:00.020Z", "timeUnixNano": T0 + 20 * MS, "severity": "WARN", "severityNumber": 13,
        "body": {"str": "GET", "flag": True, "count": -42}, "service": "unknown", "spanId": CHILD.hex(),
        "attributes": {"count": -42, "ratio": 0.25},
    }
    # No event time: placed at its observed time; its own severity text wins over the number's name.
    assert (observed["timeUnixNano"], observed["severity"], observed["body"], observed["spanId"]) == (
        T0 + 30 * MS, "notice", None, None
    )

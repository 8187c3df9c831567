"""Realistic pre-serialised OTLP requests for the benchmarks (1000 items each)."""

from __future__ import annotations

import base64
import random
from typing import Any

import orjson
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    Gauge,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

SERVICES = ["frontend", "checkout", "payments", "catalog", "shipping"]
ROUTES = ["/", "/cart", "/checkout", "/pay", "/item/{id}", "/search", "/login", "/logout"]
# Default time of the first item. A daemon counts an item in its rules' windows only if it is recent:
# bench/ingest.py passes the current time instead.
T0 = 1_763_800_000_000_000_000


def kv(key: str, value: str | int | bool) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def resource(service: str) -> Resource:
    return Resource(attributes=[kv("service.name", service), kv("service.version", "1.4.2"),
                                kv("host.name", f"{service}-7d9f-x2"), kv("telemetry.sdk.language", "go")])


def spans_request(n: int = 1000, seed: int = 1, t0: int = T0) -> ExportTraceServiceRequest:
    rng = random.Random(seed)
    by_service: dict[str, list[Span]] = {s: [] for s in SERVICES}
    for i in range(n):
        service = SERVICES[i % len(SERVICES)]
        start = t0 + i * 1_000_000
        status = 500 if rng.random() < 0.02 else 200
        span = Span(
            trace_id=rng.randbytes(16), span_id=rng.randbytes(8), parent_span_id=rng.randbytes(8),
            name=f"HTTP {rng.choice(['GET', 'POST'])}", kind=Span.SPAN_KIND_SERVER,
            start_time_unix_nano=start, end_time_unix_nano=start + int(rng.lognormvariate(16, 1)),
            attributes=[
                kv("http.request.method", "GET"), kv("http.route", rng.choice(ROUTES)),
                kv("http.response.status_code", status), kv("url.scheme", "https"),
                kv("server.address", "shop.example"), kv("server.port", 443),
                kv("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)"), kv("network.protocol.version", "1.1"),
                kv("client.address", f"10.0.{rng.randrange(255)}.{rng.randrange(255)}"), kv("cache.hit", False),
            ],
            events=[Span.Event(time_unix_nano=start + 1000, name="request.read",
                               attributes=[kv("bytes", rng.randrange(10_000))])],
            status=Status(code=Status.STATUS_CODE_ERROR if status == 500 else Status.STATUS_CODE_UNSET),
        )
        by_service[service].append(span)
    return ExportTraceServiceRequest(resource_spans=[
        ResourceSpans(resource=resource(s), scope_spans=[ScopeSpans(scope=InstrumentationScope(name="net/http"),
                                                                    spans=spans)])
        for s, spans in by_service.items()
    ])


def logs_request(n: int = 1000, seed: int = 2, t0: int = T0) -> ExportLogsServiceRequest:
    rng = random.Random(seed)
    by_service: dict[str, list[LogRecord]] = {s: [] for s in SERVICES}
    for i in range(n):
        service = SERVICES[i % len(SERVICES)]
        error = rng.random() < 0.05
        by_service[service].append(LogRecord(
            time_unix_nano=t0 + i * 1_000_000, observed_time_unix_nano=t0 + i * 1_000_000 + 5000,
            severity_number=17 if error else 9, severity_text="ERROR" if error else "INFO",
            body=AnyValue(string_value=f"order {i} {'failed: card declined' if error else 'placed'}"),
            attributes=[kv("order.id", str(i)), kv("code.function", "placeOrder")],
            trace_id=rng.randbytes(16), span_id=rng.randbytes(8),
        ))
    return ExportLogsServiceRequest(resource_logs=[
        ResourceLogs(resource=resource(s), scope_logs=[ScopeLogs(log_records=recs)]) for s, recs in by_service.items()
    ])


def metrics_request(n: int = 1000, seed: int = 3, t0: int = T0) -> ExportMetricsServiceRequest:
    rng = random.Random(seed)
    per_metric = n // 10
    metrics = []
    for m in range(10):
        points = [NumberDataPoint(time_unix_nano=t0 + j, start_time_unix_nano=t0 - 10**12,
                                  as_double=rng.random() * 100,
                                  attributes=[kv("pod", f"pod-{j}"), kv("http.route", ROUTES[j % len(ROUTES)])])
                  for j in range(per_metric)]
        if m % 2:
            metrics.append(Metric(name=f"go.metric.{m}", gauge=Gauge(data_points=points)))
        else:
            metrics.append(Metric(name=f"http.requests.{m}", sum=Sum(
                data_points=points, is_monotonic=True,
                aggregation_temporality=AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE)))
    return ExportMetricsServiceRequest(resource_metrics=[
        ResourceMetrics(resource=resource("checkout"), scope_metrics=[ScopeMetrics(metrics=metrics)])
    ])


_ID_KEYS = {"traceId", "spanId", "parentSpanId"}


def _hex_ids(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: (base64.b64decode(v).hex() if k in _ID_KEYS and isinstance(v, str) else _hex_ids(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_hex_ids(v) for v in node]
    return node


def to_otlp_json(message: Any) -> bytes:
    """OTLP/JSON: proto3 JSON mapping with hex trace/span IDs and integer enums."""
    return orjson.dumps(_hex_ids(MessageToDict(message, use_integers_for_enums=True)))

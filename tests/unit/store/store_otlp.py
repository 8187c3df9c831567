"""OTLP request builders for the series-window tests (opentelemetry-proto classes, no SDK)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AGGREGATION_TEMPORALITY_CUMULATIVE,
    AGGREGATION_TEMPORALITY_DELTA,
    Metric,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from prometheus_client import CollectorRegistry

from collector.ingest.validation import validate
from collector.model import Batch, Scanned, SeriesSelector, Signal
from collector.store import Store

S = 1_000_000_000
MS = 1_000_000
NOW = 1_700_000_040 * S  # a multiple of every bucket width used in these tests
_ids = itertools.count(1)
DELTA = AGGREGATION_TEMPORALITY_DELTA
CUMULATIVE = AGGREGATION_TEMPORALITY_CUMULATIVE

Attrs = Mapping[str, str | int | float | bool]


def kvs(attrs: Attrs) -> list[KeyValue]:
    out = []
    for k, v in attrs.items():
        if isinstance(v, bool):
            value = AnyValue(bool_value=v)
        elif isinstance(v, int):
            value = AnyValue(int_value=v)
        elif isinstance(v, float):
            value = AnyValue(double_value=v)
        else:
            value = AnyValue(string_value=v)
        out.append(KeyValue(key=k, value=value))
    return out


def span(
    end_ns: int = NOW - S, ms: float = 10.0, *, error: bool = False, name: str = "GET /", kind: Any = 2,
    attrs: Attrs | None = None, trace_id: bytes | None = None,
) -> Span:
    n = next(_ids)
    sp = Span(
        trace_id=trace_id or n.to_bytes(16, "big"), span_id=n.to_bytes(8, "big"), name=name, kind=kind,
        start_time_unix_nano=end_ns - int(ms * MS), end_time_unix_nano=end_ns, attributes=kvs(attrs or {}),
    )
    if error:
        sp.status.code = Status.STATUS_CODE_ERROR
    return sp


def spans_request(spans: Iterable[Span], resource: Attrs | None = None) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(kvs(resource if resource is not None else {"service.name": "checkout"}))
    rs.scope_spans.add().spans.extend(spans)
    return req


def log(
    time_ns: int = NOW - S, *, severity: int = 9, body: str = "ok", attrs: Attrs | None = None,
    trace_id: bytes = b"", observed_ns: int = 0,
) -> LogRecord:
    return LogRecord(
        time_unix_nano=time_ns, observed_time_unix_nano=observed_ns, severity_number=severity,  # type: ignore[arg-type]
        body=AnyValue(string_value=body), attributes=kvs(attrs or {}), trace_id=trace_id,
        span_id=b"\x01" * 8 if trace_id else b"",
    )


def logs_request(records: Iterable[LogRecord], resource: Attrs | None = None) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.extend(kvs(resource if resource is not None else {"service.name": "checkout"}))
    rl.scope_logs.add().log_records.extend(records)
    return req


def metrics_request(metrics: Sequence[Metric], resource: Attrs | None = None) -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.extend(kvs(resource if resource is not None else {"service.name": "checkout"}))
    rm.scope_metrics.add().metrics.extend(metrics)
    return req


def gauge(name: str, points: Iterable[tuple[int, float]], attrs: Attrs | None = None) -> Metric:
    m = Metric(name=name)
    for t, v in points:
        m.gauge.data_points.add(time_unix_nano=t, as_double=v, attributes=kvs(attrs or {}))
    return m


def counter(
    name: str, points: Iterable[tuple[int, float]], *, start_ns: int = NOW - 3600 * S, delta: bool = False,
    attrs: Attrs | None = None, monotonic: bool = True,
) -> Metric:
    m = Metric(name=name)
    m.sum.aggregation_temporality = DELTA if delta else CUMULATIVE
    m.sum.is_monotonic = monotonic
    for t, v in points:
        m.sum.data_points.add(time_unix_nano=t, start_time_unix_nano=start_ns, as_double=v, attributes=kvs(attrs or {}))
    return m


def scan_of(signal: Signal, request: Any) -> Scanned | None:
    """What ingest's checks hand over with a request (read from a copy: the test's request stays as sent)."""
    copy = type(request)()
    copy.CopyFrom(request)
    return validate(signal, copy).scanned


class Harness:
    """A store with its own registry, fed batches at given receive times.

    With `scan` set, span and log batches carry what ingest's checks read (as from the receivers); else
    they are bare.
    """

    scan = False

    def __init__(
        self, rules: Mapping[str, SeriesSelector], window: timedelta = timedelta(minutes=1), *,
        max_series_per_rule: int = 1000, max_series: int = 10_000, traces: Any = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.store = Store(
            traces=traces, max_series_per_rule=max_series_per_rule, max_series=max_series, registry=self.registry
        )
        self.store.set_selectors(rules, {name: window for name in rules})

    def send(self, signal: Signal, request: Any, received_ns: int = NOW) -> None:
        scanned = scan_of(signal, request) if self.scan and signal is not Signal.METRICS else None
        self.store.consume(Batch(signal, request, 0, received_ns, scanned))

    def spans(self, spans: Iterable[Span], resource: Attrs | None = None, received_ns: int = NOW) -> None:
        self.send(Signal.SPANS, spans_request(spans, resource), received_ns)

    def metric(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        value = self.registry.get_sample_value(name, dict(labels or {}))
        return value or 0.0

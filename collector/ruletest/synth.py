"""Turns a rule test's input series into OTLP requests with exact timestamps, one per series per time slot."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
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

from collector.model import SEVERITY_NUMBERS, Batch, Signal
from collector.ruletest.notation import expand
from collector.ruletest.spec import Case, LogSeries, MetricSeries, SpanSeries

_KINDS = {
    "server": Span.SPAN_KIND_SERVER,
    "client": Span.SPAN_KIND_CLIENT,
    "internal": Span.SPAN_KIND_INTERNAL,
    "producer": Span.SPAN_KIND_PRODUCER,
    "consumer": Span.SPAN_KIND_CONSUMER,
}
_STATUS = {"ok": Status.STATUS_CODE_OK, "error": Status.STATUS_CODE_ERROR, "unset": Status.STATUS_CODE_UNSET}
# Attributes that describe the emitting service go on the resource, the rest on the record.
_RESOURCE_KEYS = ("service.name", "service.namespace", "service.version", "host.name", "deployment.environment")


@dataclass(frozen=True, slots=True)
class Timed:
    """A batch to feed once the simulated clock passes `ready_ns` (the end of its slot)."""

    ready_ns: int
    batch: Batch


def _ns(t: datetime) -> int:
    return int(t.timestamp() * 1_000_000_000)


def _kv(attrs: dict[str, str], skip: tuple[str, ...] = ()) -> list[KeyValue]:
    return [KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in attrs.items() if k not in skip]


def _split(attrs: dict[str, str]) -> tuple[Resource, dict[str, str]]:
    res = {k: v for k, v in attrs.items() if k in _RESOURCE_KEYS}
    return Resource(attributes=_kv(res)), {k: v for k, v in attrs.items() if k not in _RESOURCE_KEYS}


def _at(values: list[float | None], k: int) -> float | None:
    # A series shorter than another repeats nothing: past its end there is no data.
    return values[k] if k < len(values) else None


def batches(case: Case, epoch: datetime, slot: timedelta) -> Iterator[Timed]:
    """Every input record, in requests of one series and one evaluation slot, in time order per series."""
    step_ns = int(case.interval.total_seconds() * 1e9)
    slot_ns = int(slot.total_seconds() * 1e9)
    start = _ns(epoch)
    ids = iter(range(1, 1 << 62))
    for series in case.input.spans:
        yield from _spans(series, start, step_ns, slot_ns, ids)
    for logs in case.input.logs:
        yield from _logs(logs, start, step_ns, slot_ns)
    for metric in case.input.metrics:
        yield from _metrics(metric, start, step_ns)


def _slot_end(t_ns: int, start: int, slot_ns: int) -> int:
    return start + ((t_ns - start) // slot_ns + 1) * slot_ns


def _spans(s: SpanSeries, start: int, step_ns: int, slot_ns: int, ids: Iterator[int]) -> Iterator[Timed]:
    rates, ratios, latencies = expand(s.rate), expand(s.error_ratio), expand(s.latency)
    resource, attrs = _split(s.attributes)
    kind = _KINDS.get(attrs.pop("span.kind", "server").lower(), Span.SPAN_KIND_SERVER)
    name = attrs.pop("span.name", "request")
    status = attrs.pop("status.code", None)
    extra = _kv(attrs)
    pending: dict[int, list[Span]] = {}
    for k in range(len(rates)):
        rate = _at(rates, k)
        if rate is None:
            continue
        n = round(rate * step_ns / 1e9)
        errors = round(n * (_at(ratios, k) or 0.0))
        latency_ns = int((_at(latencies, k) or 0.0) * 1e6)
        for j in range(n):
            end = start + k * step_ns + (j * step_ns) // max(n, 1)
            code: Any = _STATUS[status.lower()] if status else (Status.STATUS_CODE_ERROR if j < errors else 0)
            i = next(ids)
            pending.setdefault(_slot_end(end, start, slot_ns), []).append(
                Span(
                    trace_id=i.to_bytes(16, "big"),
                    span_id=i.to_bytes(8, "big"),
                    name=name,
                    kind=kind,
                    start_time_unix_nano=end - latency_ns,
                    end_time_unix_nano=end,
                    attributes=extra,
                    status=Status(code=code),
                )
            )
    for ready, spans in sorted(pending.items()):
        req = ExportTraceServiceRequest(
            resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)])]
        )
        yield Timed(ready, Batch(Signal.SPANS, req, len(spans), ready))


def _logs(s: LogSeries, start: int, step_ns: int, slot_ns: int) -> Iterator[Timed]:
    resource, attrs = _split(s.attributes)
    extra = _kv(attrs)
    severity: Any = SEVERITY_NUMBERS[s.severity]
    pending: dict[int, list[LogRecord]] = {}
    for k, rate in enumerate(expand(s.rate)):
        if rate is None:
            continue
        n = round(rate * step_ns / 1e9)
        for j in range(n):
            t = start + k * step_ns + (j * step_ns) // max(n, 1)
            pending.setdefault(_slot_end(t, start, slot_ns), []).append(
                LogRecord(
                    time_unix_nano=t,
                    observed_time_unix_nano=t,
                    severity_number=severity,
                    severity_text=s.severity,
                    body=AnyValue(string_value=s.body),
                    attributes=extra,
                )
            )
    for ready, records in sorted(pending.items()):
        req = ExportLogsServiceRequest(
            resource_logs=[ResourceLogs(resource=resource, scope_logs=[ScopeLogs(log_records=records)])]
        )
        yield Timed(ready, Batch(Signal.LOGS, req, len(records), ready))


def _metrics(s: MetricSeries, start: int, step_ns: int) -> Iterator[Timed]:
    resource, attrs = _split(s.attributes)
    extra = _kv(attrs)
    for k, value in enumerate(expand(s.values)):
        if value is None:
            continue
        t = start + k * step_ns
        point = NumberDataPoint(time_unix_nano=t, start_time_unix_nano=start, as_double=value, attributes=extra)
        if s.type == "counter":
            metric = Metric(
                name=s.name,
                sum=Sum(
                    data_points=[point],
                    is_monotonic=True,
                    aggregation_temporality=AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE,
                ),
            )
        else:
            metric = Metric(name=s.name, gauge=Gauge(data_points=[point]))
        req = ExportMetricsServiceRequest(
            resource_metrics=[ResourceMetrics(resource=resource, scope_metrics=[ScopeMetrics(metrics=[metric])])]
        )
        yield Timed(t + 1, Batch(Signal.METRICS, req, 1, t + 1))

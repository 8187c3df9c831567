"""Real OpenTelemetry SDK data (spans, logs, metrics) and its real OTLP exporters, for integration tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode


@dataclass
class Telemetry:
    spans: Sequence[ReadableSpan]
    logs: Sequence[ReadableLogRecord]
    metrics: MetricsData

    def metric_points(self) -> int:
        return sum(
            len(m.data.data_points)
            for rm in self.metrics.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        )


def make_telemetry(service: str = "checkout", requests: int = 20, errors: int = 3) -> Telemetry:
    """A service handling `requests` requests (the first `errors` fail), logging inside each span,
    and recording a gauge, a counter, a histogram and an exponential histogram."""
    resource = Resource.create({"service.name": service, "service.version": "1.2.3"})
    span_out = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_out))
    tracer = tracer_provider.get_tracer("shop")

    log_out = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_out))
    # The Logs API takes the trace context from the active span, as a logging bridge does.
    logger = logger_provider.get_logger("shop")

    def log(severity: SeverityNumber, text: str) -> None:
        logger.emit(severity_number=severity, severity_text=severity.name, body=text)

    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(
        resource=resource,
        metric_readers=[reader],
        views=[View(instrument_name="payment.amount", aggregation=ExponentialBucketHistogramAggregation())],
    )
    meter = meter_provider.get_meter("shop")
    counter = meter.create_counter("http.server.requests")
    latency = meter.create_histogram("http.server.duration", unit="ms")
    amount = meter.create_histogram("payment.amount")
    gauge = meter.create_gauge("go.goroutine.count")

    for i in range(requests):
        with tracer.start_as_current_span("POST /checkout", kind=_server_kind()) as span:
            span.set_attribute("http.route", "/checkout")
            span.set_attribute("http.response.status_code", 500 if i < errors else 200)
            with tracer.start_as_current_span("charge card"):
                pass
            if i < errors:
                span.set_status(Status(StatusCode.ERROR, "payment declined"))
                log(SeverityNumber.ERROR, f"payment declined for order {i}")
            else:
                log(SeverityNumber.INFO, f"order {i} placed")
        route = {"http.route": "/checkout", "http.response.status_code": 500 if i < errors else 200}
        counter.add(1, route)
        latency.record(10.0 + i, route)
        amount.record(5.0 * (i + 1))
        gauge.set(100 + i)

    logger_provider.force_flush()
    metrics = reader.get_metrics_data()
    assert metrics is not None
    telemetry = Telemetry(span_out.get_finished_spans(), log_out.get_finished_logs(), metrics)
    tracer_provider.shutdown()
    logger_provider.shutdown()
    meter_provider.shutdown()
    return telemetry


def _server_kind() -> Any:
    from opentelemetry.trace import SpanKind

    return SpanKind.SERVER


def exporters(
    transport: str, daemon: Any, headers: dict[str, str] | None = None, timeout: float = 10.0
) -> tuple[Any, Any, Any]:
    """(span, log, metric) exporters of the real OTel SDK for `transport` pointed at `daemon`."""
    if transport == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        base = daemon.otlp_http
        return (
            OTLPSpanExporter(endpoint=f"{base}/v1/traces", headers=headers, timeout=timeout),
            OTLPLogExporter(endpoint=f"{base}/v1/logs", headers=headers, timeout=timeout),
            OTLPMetricExporter(endpoint=f"{base}/v1/metrics", headers=headers, timeout=timeout),
        )
    if transport == "http/json":
        from opentelemetry.exporter.otlp.json.http._log_exporter import OTLPLogExporter as JsonLogExporter
        from opentelemetry.exporter.otlp.json.http.metric_exporter import OTLPMetricExporter as JsonMetricExporter
        from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter as JsonSpanExporter

        base = daemon.otlp_http
        return (
            JsonSpanExporter(endpoint=f"{base}/v1/traces", headers=headers, timeout=timeout),
            JsonLogExporter(endpoint=f"{base}/v1/logs", headers=headers, timeout=timeout),
            JsonMetricExporter(endpoint=f"{base}/v1/metrics", headers=headers, timeout=timeout),
        )
    if transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter

        endpoint = daemon.otlp_grpc
        h = tuple(headers.items()) if headers else None
        return (
            GrpcSpanExporter(endpoint=endpoint, insecure=True, headers=h, timeout=timeout),
            GrpcLogExporter(endpoint=endpoint, insecure=True, headers=h, timeout=timeout),
            GrpcMetricExporter(endpoint=endpoint, insecure=True, headers=h, timeout=timeout),
        )
    raise ValueError(transport)

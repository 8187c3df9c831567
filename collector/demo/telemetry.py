"""Each simulated service's own OpenTelemetry SDK: resource, providers, OTLP exporters and runtime instruments."""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler, ReadableLogRecord
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from collector.demo.runtime import POOL_MAX, Reading, Runtime
from collector.demo.shop import POOLS

Protocol = Literal["http/protobuf", "grpc"]
# Bucket bounds of the GC pause histogram, in nanoseconds: 10 µs to 1 s.
_PAUSE_BOUNDS = (1e4, 5e4, 1e5, 2.5e5, 5e5, 1e6, 2.5e6, 5e6, 1e7, 2.5e7, 5e7, 1e8, 2.5e8, 5e8, 1e9)


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how the services export: the running Vigil's OTLP endpoint."""

    endpoint: str  # http/protobuf: base URL (…:4318); grpc: host:port or URL (…:4317)
    protocol: Protocol = "http/protobuf"
    token: str | None = None  # bearer token for auth.ingest_tokens
    interval: float = 1.0  # seconds between exports
    timeout: float = 5.0  # seconds one export may take, retries included


class Gate:
    """Whether a service's telemetry leaves the process (a silenced service drops it), and how many exports failed."""

    def __init__(self) -> None:
        self.open = True
        self.failures = 0


class _GatedSpans(SpanExporter):
    def __init__(self, inner: SpanExporter, gate: Gate) -> None:
        self._inner, self._gate = inner, gate

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not self._gate.open:
            return SpanExportResult.SUCCESS
        result = self._inner.export(spans)
        self._gate.failures += result is not SpanExportResult.SUCCESS
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)


class _GatedLogs(LogRecordExporter):
    def __init__(self, inner: LogRecordExporter, gate: Gate) -> None:
        self._inner, self._gate = inner, gate

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        if not self._gate.open:
            return LogRecordExportResult.SUCCESS
        result = self._inner.export(batch)
        self._gate.failures += result is not LogRecordExportResult.SUCCESS
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()  # type: ignore[no-untyped-call]  # the SDK leaves this one unannotated

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)


class _GatedMetrics(MetricExporter):
    def __init__(self, inner: MetricExporter, gate: Gate) -> None:
        # The reader asks the outer exporter for temporality and aggregation: pass the inner one's on.
        super().__init__(inner._preferred_temporality, inner._preferred_aggregation)
        self._inner, self._gate = inner, gate

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        if not self._gate.open:
            return MetricExportResult.SUCCESS
        result = self._inner.export(metrics_data, timeout_millis, **kwargs)
        self._gate.failures += result is not MetricExportResult.SUCCESS
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._inner.shutdown(timeout_millis, **kwargs)


def _exporters(target: Target) -> tuple[SpanExporter, LogRecordExporter, MetricExporter]:
    if target.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetrics
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans

        metadata = (("authorization", f"Bearer {target.token}"),) if target.token else None
        options: dict[str, Any] = {
            "endpoint": target.endpoint,
            "insecure": not target.endpoint.startswith("https://"),
            "headers": metadata,
            "timeout": target.timeout,
        }
        return GrpcSpans(**options), GrpcLogs(**options), GrpcMetrics(**options)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    base = target.endpoint.rstrip("/")
    headers = {"Authorization": f"Bearer {target.token}"} if target.token else None
    return (
        OTLPSpanExporter(endpoint=f"{base}/v1/traces", headers=headers, timeout=target.timeout),
        OTLPLogExporter(endpoint=f"{base}/v1/logs", headers=headers, timeout=target.timeout),
        OTLPMetricExporter(endpoint=f"{base}/v1/metrics", headers=headers, timeout=target.timeout),
    )


class _Backdate(logging.Filter):
    """Gives a record the time it happened in the planned request (`extra={"at": seconds}`), not the time it is sent."""

    def filter(self, record: logging.LogRecord) -> bool:
        at = record.__dict__.pop("at", None)
        if isinstance(at, float):
            record.created = at
        return True


class ServiceTelemetry:
    """One service's SDK: a Resource with its service.name, its own tracer, logger and meter providers."""

    def __init__(self, service: str, target: Target, runtime: Runtime, breaker: str | None = None) -> None:
        self.service = service
        self.gate = Gate()
        resource = Resource.create({
            "service.name": service,
            "service.namespace": "shop",
            "service.version": "1.4.2",
            "service.instance.id": f"{service}-0",
            "deployment.environment.name": "demo",
        })
        spans, logs, metrics = _exporters(target)
        delay = target.interval * 1000
        self.tracer_provider = TracerProvider(resource=resource)
        self.tracer_provider.add_span_processor(
            BatchSpanProcessor(_GatedSpans(spans, self.gate), schedule_delay_millis=delay)
        )
        self.tracer = self.tracer_provider.get_tracer(f"shop.{service}")
        self.logger_provider = LoggerProvider(resource=resource)
        self.logger_provider.add_log_record_processor(
            BatchLogRecordProcessor(_GatedLogs(logs, self.gate), schedule_delay_millis=delay)
        )
        with warnings.catch_warnings():
            # The SDK's handler is deprecated in favour of opentelemetry-instrumentation-logging's,
            # which Vigil does not depend on; this one still puts the current trace context on each record.
            warnings.simplefilter("ignore", DeprecationWarning)
            self._handler = LoggingHandler(logger_provider=self.logger_provider)
        self._handler.addFilter(_Backdate())
        self.logger = logging.getLogger(f"shop.{service}")
        self.logger.propagate = False  # records go to Vigil, not to the demo's terminal
        self.logger.setLevel(logging.INFO)
        self.logger.addHandler(self._handler)
        reader = PeriodicExportingMetricReader(_GatedMetrics(metrics, self.gate), export_interval_millis=delay)
        self.meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        self._reading = runtime.at(0.0)
        self._breaker = breaker
        self._breaker_open = False
        self._instruments(runtime.has_pool)

    def _instruments(self, has_pool: bool) -> None:
        """Go runtime metrics as go.opentelemetry.io/contrib/instrumentation/runtime names them, and the pool's."""
        meter = self.meter_provider.get_meter("go.opentelemetry.io/contrib/instrumentation/runtime")
        meter.create_observable_up_down_counter("go.goroutine.count", [self._goroutines], "{goroutine}")
        meter.create_observable_up_down_counter("go.memory.used", [self._memory], "By")
        meter.create_observable_up_down_counter("go.memory.gc.goal", [self._gc_goal], "By")
        meter.create_observable_counter("go.memory.allocated", [self._allocated], "By")
        meter.create_observable_counter("process.runtime.go.gc.count", [self._gc_count], "{gc_cycle}")
        self._pauses = meter.create_histogram(
            "process.runtime.go.gc.pause_ns", "ns", explicit_bucket_boundaries_advisory=_PAUSE_BOUNDS
        )
        app = self.meter_provider.get_meter(f"shop.{self.service}")
        if has_pool:
            app.create_observable_up_down_counter("db.client.connection.count", [self._pool_count], "{connection}")
            app.create_observable_up_down_counter("db.client.connection.max", [self._pool_max], "{connection}")
            app.create_observable_up_down_counter(
                "db.client.connection.pending_requests", [self._pool_pending], "{request}"
            )
        if self._breaker is not None:
            app.create_observable_gauge("app.circuit_breaker.open", [self._breaker_state], "1")

    def observe(self, reading: Reading, breaker_open: bool = False) -> None:
        """Take this second's runtime reading (the observable instruments report the latest one)."""
        self._reading = reading
        self._breaker_open = breaker_open
        for pause in reading.gc_pauses_ns:
            self._pauses.record(pause)

    def _goroutines(self, _: CallbackOptions) -> Iterable[Observation]:
        return [Observation(self._reading.goroutines)]

    def _memory(self, _: CallbackOptions) -> Iterable[Observation]:
        r = self._reading
        return [
            Observation(r.heap_bytes, {"go.memory.type": "other"}),
            Observation(r.stack_bytes, {"go.memory.type": "stack"}),
        ]

    def _gc_goal(self, _: CallbackOptions) -> Iterable[Observation]:
        return [Observation(self._reading.gc_goal_bytes)]

    def _allocated(self, _: CallbackOptions) -> Iterable[Observation]:
        return [Observation(self._reading.allocated_bytes)]

    def _gc_count(self, _: CallbackOptions) -> Iterable[Observation]:
        return [Observation(self._reading.gc_count)]

    def _pool_count(self, _: CallbackOptions) -> Iterable[Observation]:
        pool = {"db.client.connection.pool.name": POOLS[self.service]}
        used = self._reading.pool_used
        return [
            Observation(used, {**pool, "db.client.connection.state": "used"}),
            Observation(POOL_MAX - used, {**pool, "db.client.connection.state": "idle"}),
        ]

    def _pool_max(self, _: CallbackOptions) -> Iterable[Observation]:
        return [Observation(POOL_MAX, {"db.client.connection.pool.name": POOLS[self.service]})]

    def _pool_pending(self, _: CallbackOptions) -> Iterable[Observation]:
        return [Observation(self._reading.pool_pending, {"db.client.connection.pool.name": POOLS[self.service]})]

    def _breaker_state(self, _: CallbackOptions) -> Iterable[Observation]:
        return [Observation(int(self._breaker_open), {"breaker.name": self._breaker or ""})]

    def shutdowns(self) -> list[Callable[[], object]]:
        """The shutdown of each provider: each flushes what is buffered, then stops its exporter."""
        return [self.tracer_provider.shutdown, self.logger_provider.shutdown, self.meter_provider.shutdown]

    def detach(self) -> None:
        self.logger.removeHandler(self._handler)


def shutdown(services: Iterable[ServiceTelemetry]) -> None:
    """Flush and shut down every provider of every service, all at once, so an unreachable Vigil costs one timeout."""
    services = list(services)
    for s in services:
        s.detach()
    threads = [threading.Thread(target=stop, daemon=True) for s in services for stop in s.shutdowns()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

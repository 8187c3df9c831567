"""Requests encoded by the real OpenTelemetry SDK encoders, protobuf and OTLP/JSON, decode and validate with
nothing rejected, and both formats give the same request."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.json.common import _log_encoder as json_logs
from opentelemetry.exporter.otlp.json.common import metrics_encoder as json_metrics
from opentelemetry.exporter.otlp.json.common import trace_encoder as json_spans
from opentelemetry.exporter.otlp.proto.common._internal._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from collector.errors import DecodeError
from collector.ingest.decode import WireFormat, decode_request, validate
from collector.model import Signal


@dataclass
class Encoded:
    signal: Signal
    request: Any  # the SDK's Export*ServiceRequest, as its protobuf exporters send it
    json: bytes  # the same data as its OTLP/JSON exporters send it
    items: int


def sdk_telemetry(requests: int) -> Iterator[Encoded]:
    resource = Resource.create({"service.name": "checkout", "service.version": "1.2.3"})
    spans_out = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans_out))
    tracer = tracer_provider.get_tracer("shop", "0.1")
    logs_out = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs_out))
    logger = logger_provider.get_logger("shop")
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(
        resource=resource, metric_readers=[reader],
        views=[View(instrument_name="payment.amount", aggregation=ExponentialBucketHistogramAggregation())],
    )
    meter = meter_provider.get_meter("shop")
    counter = meter.create_counter("http.server.requests")
    in_flight = meter.create_up_down_counter("http.server.active_requests")
    latency = meter.create_histogram("http.server.duration", unit="ms")
    amount = meter.create_histogram("payment.amount")
    gauge = meter.create_gauge("queue.depth")

    previous = None
    for i in range(requests):
        links: list[Link] = [Link(previous)] if previous is not None else []
        with tracer.start_as_current_span("POST /checkout", kind=SpanKind.SERVER, links=links) as span:
            span.set_attributes({"http.route": "/checkout", "http.response.status_code": 500 if i % 4 == 0 else 200,
                                 "retry": i % 2 == 0, "ratio": i / 7, "tags": ["a", "b"], "big": 2**62 + i})
            span.add_event("cart loaded", {"items": i})
            with tracer.start_as_current_span("charge card", kind=SpanKind.CLIENT):
                logger.emit(LogRecord(body=f"charging order {i}", severity_number=SeverityNumber.INFO,
                                      attributes={"order.id": i}))
            if i % 4 == 0:
                span.set_status(Status(StatusCode.ERROR, "payment declined"))
                logger.emit(LogRecord(body={"error": "declined", "codes": [51, 5]},
                                      severity_number=SeverityNumber.ERROR))
            # Recorded inside a sampled span, so the SDK attaches exemplars carrying its trace and span IDs.
            latency.record(10.0 + i, {"http.route": "/checkout"})
            previous = span.get_span_context()
        logger.emit(LogRecord(body="outside any span", severity_number=SeverityNumber.DEBUG))
        route = {"http.route": "/checkout"}
        counter.add(1, route)
        in_flight.add(1 if i % 2 else -1)
        amount.record(1.5 * i + 0.1)
        gauge.set(i)

    spans = spans_out.get_finished_spans()
    logs = logs_out.get_finished_logs()
    metrics = reader.get_metrics_data()
    assert metrics is not None
    points = sum(len(m.data.data_points) for rm in metrics.resource_metrics for sm in rm.scope_metrics
                 for m in sm.metrics)
    yield Encoded(Signal.SPANS, encode_spans(spans), json_spans.encode_spans(spans).to_json().encode(), len(spans))
    yield Encoded(Signal.LOGS, encode_logs(logs), json_logs.encode_logs(logs).to_json().encode(), len(logs))
    yield Encoded(
        Signal.METRICS, encode_metrics(metrics), json_metrics.encode_metrics(metrics).to_json().encode(), points
    )
    for provider in (tracer_provider, logger_provider, meter_provider):
        provider.shutdown()


@pytest.fixture(scope="module")
def sdk_requests() -> dict[Signal, Encoded]:
    return {encoded.signal: encoded for encoded in sdk_telemetry(requests=12)}


@pytest.mark.parametrize("signal", list(Signal))
def test_sdk_protobuf_decodes_and_validates_with_nothing_rejected(
    sdk_requests: dict[Signal, Encoded], signal: Signal
) -> None:
    encoded = sdk_requests[signal]
    assert encoded.items > 0
    request = decode_request(signal, encoded.request.SerializeToString(), WireFormat.PROTOBUF)
    decoded = validate(signal, request)
    assert (decoded.accepted, decoded.rejected, decoded.message) == (encoded.items, 0, "")
    assert decoded.request == encoded.request


@pytest.mark.parametrize("signal", list(Signal))
def test_sdk_otlp_json_decodes_to_the_same_request_as_its_protobuf(
    sdk_requests: dict[Signal, Encoded], signal: Signal
) -> None:
    encoded = sdk_requests[signal]
    request = decode_request(signal, encoded.json, WireFormat.JSON)
    decoded = validate(signal, request)
    assert (decoded.accepted, decoded.rejected) == (encoded.items, 0)
    assert decoded.request == encoded.request


def test_sdk_metrics_hold_every_kind_of_data(sdk_requests: dict[Signal, Encoded]) -> None:
    request = sdk_requests[Signal.METRICS].request
    kinds = {m.WhichOneof("data") for rm in request.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert kinds == {"sum", "histogram", "exponential_histogram", "gauge"}
    exemplars = [e for rm in request.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
                 if m.HasField("histogram") for p in m.histogram.data_points for e in p.exemplars]
    assert exemplars and all(len(e.trace_id) == 16 and len(e.span_id) == 8 for e in exemplars)


@pytest.mark.parametrize("signal", list(Signal))
def test_an_empty_protobuf_body_is_an_empty_request(signal: Signal) -> None:
    decoded = validate(signal, decode_request(signal, b"", WireFormat.PROTOBUF))
    assert (decoded.accepted, decoded.rejected) == (0, 0)


@pytest.mark.parametrize(
    "payload", [b"\xff\xff\xff\xff", b"\x0a\x05abc", b"\x0a\xff\xff\xff\xff\x0f", b'{"resourceSpans": []}'],
)
def test_bytes_that_are_not_protobuf_cannot_be_decoded(payload: bytes) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_request(Signal.SPANS, payload, WireFormat.PROTOBUF)
    assert caught.value.http_status == 400
    assert "not a valid protobuf ExportTraceServiceRequest" in caught.value.message

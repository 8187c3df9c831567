"""GET /api/traces/{traceId} returns the very spans and logs the OpenTelemetry SDK emitted; 400 and 404 as JSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._internal._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AnyValue
from pytest_aiohttp import AiohttpClient

from collector import keys
from collector.store.traces import TraceIndex
from collector.web.traces import add_routes


@dataclass
class Emitted:
    spans: tuple[ReadableSpan, ...]
    logs: tuple[ReadableLogRecord, ...]


def emit() -> Emitted:
    """A checkout request traced and logged by the real SDK, plus an unrelated trace and an untraced log."""
    resource = Resource.create({"service.name": "checkout", "service.version": "1.2.3"})
    span_out = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_out))
    tracer = tracer_provider.get_tracer("shop")
    log_out = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_out))
    logger = logger_provider.get_logger("shop")

    logger.emit(body="starting up", severity_number=SeverityNumber.INFO)
    attributes: dict[str, AnyValue] = {
        "http.route": "/checkout", "http.status_code": 500, "retry": True, "ratio": 0.5, "tags": ("a", "b"),
    }
    with tracer.start_as_current_span("POST /checkout", kind=SpanKind.SERVER, attributes=attributes):
        logger.emit(body="order received", severity_number=SeverityNumber.INFO, attributes={"order.id": 7})
        with tracer.start_as_current_span("charge card", kind=SpanKind.CLIENT) as charge:
            charge.add_event("retry", {"attempt": 2})
            charge.set_status(Status(StatusCode.ERROR, "card declined"))
            logger.emit(body={"reason": "declined", "codes": [51, 5]}, severity_number=SeverityNumber.ERROR)
        with tracer.start_as_current_span("reserve stock"):
            pass
    with tracer.start_as_current_span("GET /health"):
        logger.emit(body="healthy", severity_number=SeverityNumber.DEBUG)
    return Emitted(span_out.get_finished_spans(), log_out.get_finished_logs())


@pytest.fixture
def emitted() -> Emitted:
    return emit()


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, emitted: Emitted) -> Any:
    index = TraceIndex(retention=timedelta(minutes=30), max_bytes=2**26)
    received = max(s.end_time or 0 for s in emitted.spans)
    # Through bytes, as ingest hands requests over.
    index.add_spans(ExportTraceServiceRequest.FromString(encode_spans(emitted.spans).SerializeToString()), received)
    index.add_logs(ExportLogsServiceRequest.FromString(encode_logs(emitted.logs).SerializeToString()), received)
    app = web.Application()
    app[keys.TRACES] = index
    add_routes(app)
    return await aiohttp_client(app)


def hex_id(value: int, digits: int) -> str:
    return format(value, f"0{digits}x")


def iso(unix_ns: int) -> str:
    seconds = datetime.fromtimestamp(unix_ns // 10**9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{seconds}.{unix_ns // 10**6 % 1000:03d}Z"


def json_attrs(attributes: Any) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in (attributes or {}).items()}


async def test_the_trace_holds_the_spans_and_logs_the_sdk_emitted(client: Any, emitted: Emitted) -> None:
    root = next(s for s in emitted.spans if s.name == "POST /checkout")
    trace_hex = hex_id(root.context.trace_id, 32)
    response = await client.get(f"/api/traces/{trace_hex.upper()}")
    assert response.status == 200
    assert response.content_type == "application/json"
    doc = await response.json()

    sdk_spans = {hex_id(s.context.span_id, 16): s for s in emitted.spans if s.context.trace_id == root.context.trace_id}
    assert (doc["traceId"], doc["spanCount"], doc["services"]) == (trace_hex, 3, ["checkout"])
    assert (doc["startTime"], doc["durationMs"]) == (
        iso(root.start_time or 0), pytest.approx(((root.end_time or 0) - (root.start_time or 0)) / 1e6)
    )
    assert [s["name"] for s in doc["spans"]] == ["POST /checkout", "charge card", "reserve stock"]
    assert [s["depth"] for s in doc["spans"]] == [0, 1, 1]
    for got in doc["spans"]:
        sdk = sdk_spans[got["spanId"]]
        assert got["parentSpanId"] == (hex_id(sdk.parent.span_id, 16) if sdk.parent else None)
        assert got["kind"] == sdk.kind.name.lower()
        assert got["status"]["code"] == sdk.status.status_code.name.lower()
        assert got["status"]["message"] == (sdk.status.description or "")
        assert got["startUnixNano"] == sdk.start_time
        assert got["startTime"] == iso(sdk.start_time or 0)
        assert got["durationMs"] == pytest.approx(((sdk.end_time or 0) - (sdk.start_time or 0)) / 1e6)
        assert got["offsetMs"] == pytest.approx(((sdk.start_time or 0) - (root.start_time or 0)) / 1e6)
        assert got["attributes"] == json_attrs(sdk.attributes)
        assert got["resource"] == json_attrs(sdk.resource.attributes)
        assert got["events"] == [
            {"name": e.name, "time": iso(e.timestamp), "attributes": json_attrs(e.attributes)} for e in sdk.events
        ]
        assert got["service"] == "checkout"
    assert doc["spans"][1]["events"][0]["name"] == "retry"

    sdk_logs = [r.log_record for r in emitted.logs if r.log_record.trace_id == root.context.trace_id]
    assert doc["logCount"] == len(sdk_logs) == 2
    for got, sdk_log in zip(doc["logs"], sdk_logs, strict=True):
        assert got["body"] == sdk_log.body
        # The SDK stamps only the observed time unless told the event time; the document falls back to it.
        at = sdk_log.timestamp or sdk_log.observed_timestamp or 0
        assert (got["timeUnixNano"], got["time"]) == (at, iso(at))
        assert got["spanId"] == hex_id(sdk_log.span_id, 16)
        assert sdk_log.severity_number is not None
        assert (got["severity"], got["severityNumber"]) == (sdk_log.severity_number.name, sdk_log.severity_number.value)
        assert got["attributes"] == json_attrs(sdk_log.attributes)
    # Each log sits under the span that was active when it was written.
    charge = next(s for s in doc["spans"] if s["name"] == "charge card")
    assert doc["logs"][1]["spanId"] == charge["spanId"]


async def test_another_trace_does_not_mix_in(client: Any, emitted: Emitted) -> None:
    health = next(s for s in emitted.spans if s.name == "GET /health")
    response = await client.get(f"/api/traces/{hex_id(health.context.trace_id, 32)}")
    doc = await response.json()
    assert [s["name"] for s in doc["spans"]] == ["GET /health"]
    assert [log["body"] for log in doc["logs"]] == ["healthy"]


@pytest.mark.parametrize("bad", ["xyz", "0" * 31, "0" * 33, "g" * 32, "4bf92f3577b34da6-a3ce929d0e0e4736"])
async def test_a_malformed_trace_id_is_a_400_with_a_json_error(client: Any, bad: str) -> None:
    response = await client.get(f"/api/traces/{bad}")
    assert response.status == 400
    body = await response.json()
    assert set(body) == {"error"} and "32 hexadecimal digits" in body["error"]


async def test_an_unknown_trace_is_a_404_with_a_json_error(client: Any) -> None:
    response = await client.get(f"/api/traces/{'ab' * 16}")
    assert response.status == 404
    body = await response.json()
    assert set(body) == {"error"} and "ab" * 16 in body["error"]

"""Export responses and google.rpc.Status bodies, in the request's wire format."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from collector.ingest.decode import Decoded, WireFormat, export_response, status_body
from collector.model import Signal

RESPONSES: dict[Signal, tuple[Any, str, str]] = {
    Signal.SPANS: (ExportTraceServiceResponse, "rejected_spans", "rejectedSpans"),
    Signal.METRICS: (ExportMetricsServiceResponse, "rejected_data_points", "rejectedDataPoints"),
    Signal.LOGS: (ExportLogsServiceResponse, "rejected_log_records", "rejectedLogRecords"),
}


def decoded(accepted: int, rejected: int, message: str = "") -> Decoded:
    return Decoded(ExportTraceServiceRequest(), accepted, rejected, message)


@pytest.mark.parametrize("signal", list(Signal))
def test_nothing_rejected_means_no_partial_success(signal: Signal) -> None:
    cls, _, _ = RESPONSES[signal]
    body = export_response(signal, decoded(5, 0), WireFormat.PROTOBUF)
    assert not cls.FromString(body).HasField("partial_success")
    assert orjson.loads(export_response(signal, decoded(5, 0), WireFormat.JSON)) == {}


@pytest.mark.parametrize("signal", list(Signal))
def test_rejections_are_reported_as_partial_success_in_protobuf(signal: Signal) -> None:
    cls, field, _ = RESPONSES[signal]
    message = "2 items rejected: resourceSpans[0].scopeSpans[0].spans[3]: traceId is all zeros; …"
    response = cls.FromString(export_response(signal, decoded(7, 2, message), WireFormat.PROTOBUF))
    assert getattr(response.partial_success, field) == 2
    assert response.partial_success.error_message == message


@pytest.mark.parametrize("signal", list(Signal))
def test_rejections_are_reported_as_partial_success_in_otlp_json(signal: Signal) -> None:
    cls, field, json_field = RESPONSES[signal]
    message = "3 items rejected: …"
    body = export_response(signal, decoded(1, 3, message), WireFormat.JSON)
    document = orjson.loads(body)
    assert set(document) == {"partialSuccess"}
    assert int(document["partialSuccess"][json_field]) == 3
    assert document["partialSuccess"]["errorMessage"] == message
    response = json_format.Parse(body, cls())
    assert getattr(response.partial_success, field) == 3


@pytest.mark.parametrize("fmt", list(WireFormat))
@pytest.mark.parametrize("code", [3, 8, 14])
def test_status_bodies_round_trip(fmt: WireFormat, code: int) -> None:
    message = "request body is not valid JSON: unexpected character"
    body = status_body(message, fmt, code)
    if fmt is WireFormat.PROTOBUF:
        status = status_pb2.Status.FromString(body)
    else:
        assert orjson.loads(body) == {"code": code, "message": message}
        status = json_format.Parse(body, status_pb2.Status())
    assert (status.code, status.message) == (code, message)


def test_a_status_body_defaults_to_invalid_argument() -> None:
    assert status_pb2.Status.FromString(status_body("bad", WireFormat.PROTOBUF)).code == 3

"""Every answer of the OTLP/gRPC contract, seen by a gRPC client over a real socket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tests.integration.daemon import Daemon
from tests.integration.test_ingest_status import spans_request

TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LOGS = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")


def export(d: Daemon, method: str, body: bytes, response: Any = ExportTraceServiceResponse) -> Any:
    with grpc.insecure_channel(d.otlp_grpc) as channel:
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=response.FromString)
        return call(body, timeout=10)


def refusal(d: Daemon, method: str, body: bytes) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        export(d, method, body)
    return caught.value


def test_an_undecodable_request_is_invalid_argument_with_a_message(start_daemon: Callable[..., Daemon]) -> None:
    d = start_daemon()
    for method in (TRACES, LOGS):
        error = refusal(d, method, b"\xff\xff\xff\xff garbage")
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a valid protobuf" in error.details()
    assert d.metric("vigil_ingest_items_total", signal="spans", outcome="accepted") == 0
    # The server is still there, and takes the next good request.
    assert not export(d, TRACES, spans_request(3)).HasField("partial_success")
    assert not export(d, LOGS, b"", ExportLogsServiceResponse).HasField("partial_success")
    assert d.metric("vigil_ingest_items_total", signal="spans", outcome="accepted") == 3


def test_invalid_spans_are_rejected_individually_in_partial_success(start_daemon: Callable[..., Daemon]) -> None:
    d = start_daemon()
    good = Span(trace_id=TRACE, span_id=b"\xee" * 8, name="ok",
                start_time_unix_nano=1_700_000_000_000_000_000, end_time_unix_nano=1_700_000_000_100_000_000)
    zero = Span(**{**_fields(good), "trace_id": bytes(16), "name": "zero"})
    backwards = Span(**{**_fields(good), "span_id": b"\xef" * 8, "end_time_unix_nano": 1, "name": "backwards"})
    body = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[good, zero, backwards])])]
    ).SerializeToString()
    response = export(d, TRACES, body)
    assert response.partial_success.rejected_spans == 2
    assert "spans[1]" in response.partial_success.error_message
    assert "spans[2]" in response.partial_success.error_message
    assert d.metric("vigil_ingest_items_total", signal="spans", outcome="accepted") == 1
    assert d.metric("vigil_ingest_items_total", signal="spans", outcome="rejected", reason="invalid") == 2
    # The accepted span is kept as it came, and can be read back.
    trace = d.get_json(f"/api/traces/{TRACE.hex()}")
    assert [s["name"] for s in trace["spans"]] == ["ok"]


def test_a_full_queue_is_resource_exhausted_with_retry_info(start_daemon: Callable[..., Daemon]) -> None:
    d = start_daemon(limits={"max_queued_items": 1})
    body = spans_request(200)

    async def burst(call: Any) -> tuple[grpc.StatusCode, float | None]:
        try:
            await call(body, timeout=30)
            return grpc.StatusCode.OK, None
        except grpc.aio.AioRpcError as error:
            return error.code(), _retry_delay(error.trailing_metadata())

    async def send() -> list[tuple[grpc.StatusCode, float | None]]:
        answers: list[tuple[grpc.StatusCode, float | None]] = []
        async with grpc.aio.insecure_channel(d.otlp_grpc) as channel:
            call = channel.unary_unary(TRACES, request_serializer=None,
                                       response_deserializer=ExportTraceServiceResponse.FromString)
            # Bursts of concurrent calls, until one finds the queue of one item full.
            for _ in range(50):
                answers += await asyncio.gather(*(burst(call) for _ in range(32)))
                if any(code != grpc.StatusCode.OK for code, _ in answers):
                    break
        return answers

    answers = asyncio.run(send())
    codes = {code for code, _ in answers}
    assert codes <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes, "a queue of one item never filled up"
    # OTLP exporters time their retry by the RetryInfo in the status details.
    assert all(delay is not None and delay >= 1 for code, delay in answers if code != grpc.StatusCode.OK)
    # Accepted means kept: every OK is counted as accepted, nothing more.
    accepted = sum(code == grpc.StatusCode.OK for code, _ in answers)
    assert d.metric("vigil_ingest_items_total", signal="spans", outcome="accepted") == 200 * accepted


def _fields(span: Span) -> dict[str, Any]:
    return {f.name: v for f, v in span.ListFields()}


def _retry_delay(metadata: Any) -> float | None:
    for key, value in metadata or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.RetryInfo()
                if detail.Unpack(info):
                    return float(info.retry_delay.seconds + info.retry_delay.nanos / 1e9)
    return None

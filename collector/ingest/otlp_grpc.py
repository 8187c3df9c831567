"""OTLP/gRPC receiver (grpc.aio): the trace, metrics and logs Export services (DESIGN §8).

The services are registered with no request deserializer: each Export receives its request's bytes,
parses them as the HTTP receiver does (an undecodable one is INVALID_ARGUMENT with a message, not
gRPC's generic INTERNAL), and hands the bytes on with the request, so the trace index keeps them as
they are instead of serialising the spans again.
"""

from __future__ import annotations

import time
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from collector.errors import IngestError, OverloadedError, UnauthorizedError
from collector.ingest.admission import admit
from collector.ingest.auth import TokenCheck
from collector.ingest.backpressure import BatchQueue
from collector.ingest.decode import WireFormat, decode_request
from collector.ingest.stats import IngestStats
from collector.model import Signal

_RESPONSES: dict[Signal, Any] = {
    Signal.SPANS: trace_service_pb2.ExportTraceServiceResponse,
    Signal.METRICS: metrics_service_pb2.ExportMetricsServiceResponse,
    Signal.LOGS: logs_service_pb2.ExportLogsServiceResponse,
}
_SERVICES = {
    Signal.SPANS: trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name,
    Signal.METRICS: metrics_service_pb2.DESCRIPTOR.services_by_name["MetricsService"].full_name,
    Signal.LOGS: logs_service_pb2.DESCRIPTOR.services_by_name["LogsService"].full_name,
}
_REJECTED_FIELD = {
    Signal.SPANS: "rejected_spans",
    Signal.METRICS: "rejected_data_points",
    Signal.LOGS: "rejected_log_records",
}


class GrpcExport:
    """Shared body of the three Export methods."""

    def __init__(self, *, queue: BatchQueue, stats: IngestStats, tokens: TokenCheck) -> None:
        self._queue = queue
        self._stats = stats
        self._tokens = tokens

    async def export(self, signal: Signal, body: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            self._tokens.check(_metadata(context, "authorization"))
            self._queue.check_open()
            request = decode_request(signal, body, WireFormat.PROTOBUF)
            decoded = admit(signal, request, self._queue, self._stats, body)
            response = _RESPONSES[signal]()
            if decoded.rejected:
                setattr(response.partial_success, _REJECTED_FIELD[signal], decoded.rejected)
                response.partial_success.error_message = decoded.message
            return response
        except IngestError as exc:
            code = _status_code(exc)
            await context.abort(code, exc.message, trailing_metadata=_retry_metadata(exc, code))
            raise AssertionError("unreachable: abort raises") from exc  # pragma: no cover
        finally:
            self._stats.request("grpc", signal, code.name, time.perf_counter() - started)


def _metadata(context: grpc.aio.ServicerContext[Any, Any], key: str) -> str | None:
    for k, v in context.invocation_metadata() or ():
        if k == key:
            return v if isinstance(v, str) else v.decode()
    return None


def _status_code(exc: IngestError) -> grpc.StatusCode:
    if isinstance(exc, UnauthorizedError):
        return grpc.StatusCode.UNAUTHENTICATED
    if isinstance(exc, OverloadedError):
        return grpc.StatusCode.UNAVAILABLE if exc.shutting_down else grpc.StatusCode.RESOURCE_EXHAUSTED
    return grpc.StatusCode.INVALID_ARGUMENT


def _retry_metadata(exc: IngestError, code: grpc.StatusCode) -> tuple[tuple[str, bytes], ...]:
    # The OTLP spec: throttling answers carry google.rpc.RetryInfo in the status details, which
    # OpenTelemetry exporters read to time their retry.
    if not isinstance(exc, OverloadedError):
        return ()
    info = error_details_pb2.RetryInfo(retry_delay=Duration(seconds=exc.retry_after_s))
    status = status_pb2.Status(code=code.value[0], message=exc.message)
    status.details.add().Pack(info)
    return (("grpc-status-details-bin", status.SerializeToString()),)


def _service(export: GrpcExport, signal: Signal) -> grpc.GenericRpcHandler:
    async def handle(body: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        return await export.export(signal, body, context)

    method = grpc.unary_unary_rpc_method_handler(
        handle, request_deserializer=None, response_serializer=_RESPONSES[signal].SerializeToString
    )
    return grpc.method_handlers_generic_handler(_SERVICES[signal], {"Export": method})


def make_grpc_server(export: GrpcExport, address: str, max_request_bytes: int) -> tuple[grpc.aio.Server, int]:
    """A grpc.aio server with the three services bound to `address`; returns it and the bound port."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_request_bytes),
            ("grpc.max_send_message_length", 4 * 2**20),
        ],
    )
    server.add_generic_rpc_handlers([_service(export, signal) for signal in Signal])
    port = server.add_insecure_port(address)
    return server, port

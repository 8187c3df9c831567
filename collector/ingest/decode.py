"""OTLP request bodies to validated messages and back to responses: the pure part of ingest (DESIGN §8).

The HTTP and gRPC servers call, in order: `media_format` (Content-Type),
`inflate` (Content-Encoding and size limit), `decode_request`, `validate`,
then `export_response`, or `status_body` when the request is refused.
"""

from __future__ import annotations

import enum
import gc

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from collector.errors import DecodeError, UnsupportedMediaError
from collector.ingest.compression import inflate
from collector.ingest.jsonbuild import request_builder
from collector.ingest.jsonerrors import json_kind, locate
from collector.ingest.validation import Decoded, validate
from collector.model import ExportRequest, Signal

__all__ = [
    "Decoded",
    "WireFormat",
    "decode_request",
    "export_response",
    "inflate",
    "media_format",
    "status_body",
    "validate",
]


class WireFormat(enum.Enum):
    """The two OTLP/HTTP body encodings; a response uses the request's."""

    PROTOBUF = "protobuf"
    JSON = "json"


_MEDIA_TYPES = {
    "application/x-protobuf": WireFormat.PROTOBUF,
    "application/protobuf": WireFormat.PROTOBUF,
    "application/json": WireFormat.JSON,
}

_REQUESTS: dict[Signal, type[Message]] = {
    Signal.SPANS: trace_service_pb2.ExportTraceServiceRequest,
    Signal.METRICS: metrics_service_pb2.ExportMetricsServiceRequest,
    Signal.LOGS: logs_service_pb2.ExportLogsServiceRequest,
}
_RESPONSES: dict[Signal, type[Message]] = {
    Signal.SPANS: trace_service_pb2.ExportTraceServiceResponse,
    Signal.METRICS: metrics_service_pb2.ExportMetricsServiceResponse,
    Signal.LOGS: logs_service_pb2.ExportLogsServiceResponse,
}
# Built at import, so that no request ever sees a half-built one (see jsonmap.message_converter).
_JSON_BUILDERS = {signal: request_builder(cls.DESCRIPTOR) for signal, cls in _REQUESTS.items()}
# The partial_success counter of each response.
_REJECTED_FIELD = {
    Signal.SPANS: "rejected_spans",
    Signal.METRICS: "rejected_data_points",
    Signal.LOGS: "rejected_log_records",
}


def media_format(content_type: str | None) -> WireFormat:
    """The wire format named by a Content-Type header; UnsupportedMediaError for anything else."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    fmt = _MEDIA_TYPES.get(media)
    if fmt is None:
        shown = repr(content_type) if content_type else "missing"
        raise UnsupportedMediaError(
            f"unsupported Content-Type {shown} (use application/x-protobuf or application/json)"
        )
    return fmt


def decode_request(signal: Signal, payload: bytes, fmt: WireFormat) -> ExportRequest:
    """The Export*ServiceRequest of `signal` in `payload`. Raises DecodeError.

    Items are not validated here; a JSON ID that is not hex is kept in a form
    that `validate` rejects with a message (see ids.py).
    """
    cls = _REQUESTS[signal]
    if fmt is WireFormat.JSON:
        request: ExportRequest = _decode_json(signal, cls, payload)
        return request
    try:
        request = cls.FromString(payload)
        return request
    except ProtobufDecodeError as exc:
        raise DecodeError(f"request body is not a valid protobuf {cls.DESCRIPTOR.name}: {exc}") from None


def _decode_json(signal: Signal, cls: type[Message], payload: bytes) -> Message:
    if not payload.strip():
        return cls()
    # Parsing makes ~100 dicts per span, none of them in a reference cycle: pausing the cycle collector
    # saves it from scanning a large heap again and again for nothing (a third of the time, measured).
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        return _build_from_json(signal, cls, payload)
    finally:
        if paused:
            gc.enable()


def _build_from_json(signal: Signal, cls: type[Message], payload: bytes) -> Message:
    name = cls.DESCRIPTOR.name
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"request body is not valid JSON: {exc}") from None
    if type(document) is not dict:
        raise DecodeError(f"OTLP/JSON {name} must be a JSON object, got {json_kind(document)}")
    try:
        return _JSON_BUILDERS[signal](document)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        where = locate(cls.DESCRIPTOR, document) or str(exc) or type(exc).__name__
        raise DecodeError(f"invalid OTLP/JSON {name}: {where}") from None


def export_response(signal: Signal, decoded: Decoded, fmt: WireFormat) -> bytes:
    """The Export*ServiceResponse body; `partial_success` is set only when items were rejected."""
    response = _RESPONSES[signal]()
    if decoded.rejected:
        setattr(response.partial_success, _REJECTED_FIELD[signal], decoded.rejected)
        response.partial_success.error_message = decoded.message
    return _encode(response, fmt)


def status_body(message: str, fmt: WireFormat, code: int = 3) -> bytes:
    """A google.rpc.Status body (default code 3, INVALID_ARGUMENT) for a refused request."""
    return _encode(status_pb2.Status(code=code, message=message), fmt)


def _encode(message: Message, fmt: WireFormat) -> bytes:
    if fmt is WireFormat.PROTOBUF:
        body: bytes = message.SerializeToString()
        return body
    # proto3 JSON: lowerCamelCase names, default values left out, 64-bit integers as strings.
    return orjson.dumps(json_format.MessageToDict(message))

"""OTLP/HTTP receiver: POST /v1/traces, /v1/metrics, /v1/logs in protobuf or JSON (DESIGN §8)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from collector.errors import IngestError, OverloadedError, PayloadTooLargeError, UnsupportedMediaError
from collector.ingest.admission import admit
from collector.ingest.auth import TokenCheck
from collector.ingest.backpressure import BatchQueue
from collector.ingest.decode import (
    WireFormat,
    decode_request,
    export_response,
    inflate,
    media_format,
    status_body,
)
from collector.ingest.stats import IngestStats
from collector.model import Signal

PATHS = {"/v1/traces": Signal.SPANS, "/v1/metrics": Signal.METRICS, "/v1/logs": Signal.LOGS}
CONTENT_TYPES = {WireFormat.PROTOBUF: "application/x-protobuf", WireFormat.JSON: "application/json"}
# google.rpc.Code values used in Status bodies.
_RPC_CODE = {400: 3, 401: 16, 413: 8, 415: 3, 429: 8, 503: 14}


class OtlpHttpReceiver:
    """The request handlers; collaborators come in through the constructor."""

    def __init__(self, *, queue: BatchQueue, stats: IngestStats, tokens: TokenCheck, max_request_bytes: int) -> None:
        self._queue = queue
        self._stats = stats
        self._tokens = tokens
        self._limit = max_request_bytes

    def routes(self) -> list[web.RouteDef]:
        return [web.post(path, self._handler(signal)) for path, signal in PATHS.items()]

    def _handler(self, signal: Signal) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self.handle(request, signal)

        return handle

    async def handle(self, request: web.Request, signal: Signal) -> web.StreamResponse:
        started = time.perf_counter()
        fmt: WireFormat | None = None
        try:
            self._tokens.check(request.headers.get("Authorization"))
            fmt = media_format(request.headers.get("Content-Type"))
            self._queue.check_open()
            raw = await self._read_body(request)
            payload = inflate(raw, request.headers.get("Content-Encoding"), self._limit)
            message = decode_request(signal, payload, fmt)
            body = payload if fmt is WireFormat.PROTOBUF else None
            decoded = admit(signal, message, self._queue, self._stats, body)
            response = web.Response(body=export_response(signal, decoded, fmt), content_type=CONTENT_TYPES[fmt])
        except IngestError as exc:
            response = self._error(exc, fmt)
        self._stats.request("http", signal, str(response.status), time.perf_counter() - started)
        return response

    async def _read_body(self, request: web.Request) -> bytes:
        # Read at most limit+1 bytes: the compressed body can never usefully exceed the decompressed limit.
        if request.content_length is not None and request.content_length > self._limit:
            raise PayloadTooLargeError(f"request body is {request.content_length} bytes; the limit is {self._limit}")
        # The chunks as they arrived (not sliced, not joined by the reader), joined once: each byte is
        # copied once, where reading a fixed size at a time copied it three times.
        chunks: list[bytes] = []
        size = 0
        async for chunk, _ in request.content.iter_chunks():
            chunks.append(chunk)
            size += len(chunk)
            if size > self._limit:
                raise PayloadTooLargeError(f"request body is over the limit of {self._limit} bytes")
        return b"".join(chunks)

    def _error(self, exc: IngestError, fmt: WireFormat | None) -> web.Response:
        status = exc.http_status
        headers: dict[str, str] = {}
        if isinstance(exc, OverloadedError):
            headers["Retry-After"] = str(exc.retry_after_s)
        if status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="vigil"'
        if fmt is None or isinstance(exc, UnsupportedMediaError):
            # The client's format is unknown (or unusable): answer in plain text a person can read.
            return web.Response(status=status, text=exc.message, headers=headers)
        body = status_body(exc.message, fmt, _RPC_CODE.get(status, 2))
        return web.Response(status=status, body=body, content_type=CONTENT_TYPES[fmt], headers=headers)


def make_ingest_app(receiver: OtlpHttpReceiver, max_request_bytes: int) -> web.Application:
    """The aiohttp app served on `listen.otlp_http`."""
    # Bodies are read by the handler with its own limit; aiohttp's own cap must not answer first.
    app = web.Application(client_max_size=max_request_bytes + 1)
    app.add_routes(receiver.routes())
    return app

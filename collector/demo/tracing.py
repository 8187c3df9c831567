"""Turns a planned request into the spans and logs its services would send, one trace across all of them.

Each service starts its SERVER span from the W3C `traceparent` header its caller
injected from a CLIENT span, exactly as instrumented HTTP services do, so the
trace is one tree even though every service has its own TracerProvider.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from collector.demo.shop import Hop, Query, Served
from collector.demo.telemetry import ServiceTelemetry

_PROPAGATOR = TraceContextTextMapPropagator()
PORT = 8080


def _ns(ms: float) -> int:
    return int(ms * 1_000_000)


def emit(request: Served, services: Mapping[str, ServiceTelemetry], end_ns: int) -> None:
    """Send `request` as if it finished at `end_ns` (unix nanoseconds)."""
    _serve(request, services, end_ns - _ns(request.duration_ms), {})


def _serve(served: Served, services: Mapping[str, ServiceTelemetry], base: int, headers: dict[str, str]) -> None:
    route = served.route
    own = services[route.service]
    span = own.tracer.start_span(
        route.name,
        context=_PROPAGATOR.extract(headers),
        kind=SpanKind.SERVER,
        start_time=base + _ns(served.start_ms),
        attributes={
            "http.request.method": route.method,
            "http.route": route.template,
            "http.response.status_code": served.status,
            "url.path": served.path,
            "url.scheme": "http",
            "server.address": route.service,
            "server.port": PORT,
        },
    )
    if served.failed:
        span.set_attribute("error.type", str(served.status))
        span.set_status(Status(StatusCode.ERROR, served.error))
    if served.query is not None:
        _query(own, span, served.query, base)
    if served.hop is not None:
        _hop(own, span, served.hop, services, base)
    with trace.use_span(span, end_on_exit=False):
        for log in served.logs:
            own.logger.log(log.level, log.message, extra={"at": (base + _ns(log.at_ms)) / 1e9})
    span.end(base + _ns(served.start_ms + served.duration_ms))


def _query(own: ServiceTelemetry, parent: Span, query: Query, base: int) -> None:
    span = own.tracer.start_span(
        f"{query.operation} {query.table}",
        context=trace.set_span_in_context(parent),
        kind=SpanKind.CLIENT,
        start_time=base + _ns(query.start_ms),
        attributes={
            "db.system.name": "postgresql",
            "db.operation.name": query.operation,
            "db.collection.name": query.table,
            "db.client.connection.pool.name": query.pool,
        },
    )
    if query.error is not None:
        span.set_attribute("error.type", "40P01")
        span.set_status(Status(StatusCode.ERROR, query.error))
    span.end(base + _ns(query.start_ms + query.duration_ms))


def _hop(own: ServiceTelemetry, parent: Span, hop: Hop, services: Mapping[str, ServiceTelemetry], base: int) -> None:
    callee = hop.route
    span = own.tracer.start_span(
        callee.name,
        context=trace.set_span_in_context(parent),
        kind=SpanKind.CLIENT,
        start_time=base + _ns(hop.start_ms),
        attributes={
            "http.request.method": callee.method,
            "server.address": callee.service,
            "server.port": PORT,
            "url.full": f"http://{callee.service}:{PORT}{callee.template}",
        },
    )
    if hop.served is None:
        # The breaker failed the call before any request was sent: there is no response status.
        span.set_attribute("error.type", "circuit_breaker_open")
        span.set_status(Status(StatusCode.ERROR, f"circuit breaker {callee.service} is open"))
    else:
        span.set_attribute("http.response.status_code", hop.status)
        if hop.status >= 500:
            span.set_attribute("error.type", str(hop.status))
            span.set_status(Status(StatusCode.ERROR))
        headers: dict[str, str] = {}
        _PROPAGATOR.inject(headers, context=trace.set_span_in_context(span))
        _serve(hop.served, services, base, headers)
    span.end(base + _ns(hop.start_ms + hop.duration_ms))

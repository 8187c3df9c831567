"""Vigil's own traces: a tracer for evaluation cycles and firings, exported over OTLP when configured."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from collector import __version__
from collector.settings import Telemetry


def tracer_provider(settings: Telemetry) -> TracerProvider | None:
    """A provider exporting to `settings.otlp_endpoint`, or None when self-telemetry is off."""
    if not settings.otlp_endpoint:
        return None
    endpoint = settings.otlp_endpoint.rstrip("/")
    if not endpoint.endswith("/v1/traces"):
        endpoint += "/v1/traces"
    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.service_name, "service.version": __version__})
    )
    # Exports run on the processor's own thread, so a slow collector never stalls evaluation.
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, timeout=5), schedule_delay_millis=1000)
    )
    return provider


def tracer(provider: TracerProvider | None) -> trace.Tracer:
    if provider is None:
        return trace.NoOpTracer()
    return provider.get_tracer("vigil", __version__)

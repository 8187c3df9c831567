"""Ingest's own Prometheus metrics, registered on the app's registry."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from collector.model import Signal


class IngestStats:
    """Counters for items and requests, request latency and queue depth."""

    def __init__(self, registry: CollectorRegistry, queue_depth: Callable[[], float], capacity: int) -> None:
        self.items = Counter(
            "vigil_ingest_items_total",
            "Spans, metric points and log records received, by outcome and reason.",
            ["signal", "outcome", "reason"],
            registry=registry,
        )
        self.requests = Counter(
            "vigil_ingest_requests_total",
            "OTLP export requests, by transport and response code.",
            ["transport", "signal", "code"],
            registry=registry,
        )
        self.latency = Histogram(
            "vigil_ingest_request_duration_seconds",
            "Time to answer an OTLP export request.",
            ["transport", "signal"],
            registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        depth = Gauge("vigil_ingest_queue_items", "Items accepted and waiting for the store.", registry=registry)
        depth.set_function(queue_depth)
        cap = Gauge("vigil_ingest_queue_capacity_items", "Capacity of the ingest queue.", registry=registry)
        cap.set(capacity)
        # Pre-create the common series so a scrape shows zeros rather than nothing.
        for signal in Signal:
            self.items.labels(signal.value, "accepted", "")
            self.items.labels(signal.value, "rejected", "invalid")

    def accepted(self, signal: Signal, count: int) -> None:
        if count:
            self.items.labels(signal.value, "accepted", "").inc(count)

    def rejected(self, signal: Signal, count: int, reason: str) -> None:
        if count:
            self.items.labels(signal.value, "rejected", reason).inc(count)

    def request(self, transport: str, signal: Signal, code: str, seconds: float) -> None:
        self.requests.labels(transport, signal.value, code).inc()
        self.latency.labels(transport, signal.value).observe(seconds)

"""The real OpenTelemetry SDK exporters send to a real `vigil run`, over every transport."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExportResult
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.integration.daemon import Daemon
from tests.integration.sdk import exporters, make_telemetry

TRANSPORTS = ["http/protobuf", "http/json", "grpc"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sdk_spans_logs_and_metrics_are_accepted(start_daemon: Callable[..., Daemon], transport: str) -> None:
    daemon = start_daemon()
    data = make_telemetry(requests=20, errors=3)
    span_exp, log_exp, metric_exp = exporters(transport, daemon)
    try:
        assert span_exp.export(data.spans) == SpanExportResult.SUCCESS
        assert log_exp.export(data.logs) == LogRecordExportResult.SUCCESS
        assert metric_exp.export(data.metrics) == MetricExportResult.SUCCESS
    finally:
        span_exp.shutdown()
        log_exp.shutdown()
        metric_exp.shutdown()

    assert len(data.spans) == 40 and len(data.logs) == 20
    # gauge, counter (2 attribute sets), histogram (2 attribute sets), exponential histogram
    assert data.metric_points() == 6
    assert daemon.metric("vigil_ingest_items_total", signal="spans", outcome="accepted") == 40
    assert daemon.metric("vigil_ingest_items_total", signal="logs", outcome="accepted") == 20
    assert daemon.metric("vigil_ingest_items_total", signal="metrics", outcome="accepted") == 6
    assert daemon.metric("vigil_ingest_items_total", outcome="rejected") == 0
    code = "OK" if transport == "grpc" else "200"
    assert daemon.metric("vigil_ingest_requests_total", code=code) == 3


def test_ingest_tokens_protect_http_and_grpc(start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon(auth={"ingest_tokens": ["s3cret"]})
    data = make_telemetry(requests=2, errors=0)
    for transport in ("http/protobuf", "grpc"):
        anonymous, _, _ = exporters(transport, daemon)
        allowed, _, _ = exporters(transport, daemon, headers={"authorization": "Bearer s3cret"})
        try:
            assert anonymous.export(data.spans) == SpanExportResult.FAILURE
            assert allowed.export(data.spans) == SpanExportResult.SUCCESS
        finally:
            anonymous.shutdown()
            allowed.shutdown()
    assert daemon.metric("vigil_ingest_requests_total", code="401") == 1
    assert daemon.metric("vigil_ingest_requests_total", code="UNAUTHENTICATED") == 1
    assert daemon.metric("vigil_ingest_items_total", signal="spans", outcome="accepted") == 8

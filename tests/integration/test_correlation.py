"""Real SDK → daemon → /api/traces returns the very spans and logs the SDK emitted; /api/services sums them up."""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry.sdk.trace.export import SpanExportResult

from tests.integration.daemon import Daemon
from tests.integration.sdk import exporters, make_telemetry
from tests.integration.test_alert_lifecycle import wait_for


def test_a_trace_comes_back_with_its_spans_in_tree_order_and_its_logs(start_daemon: Callable[..., Daemon]) -> None:
    d = start_daemon()
    data = make_telemetry("checkout", requests=5, errors=2)
    spans, logs, _ = exporters("grpc", d)
    try:
        assert spans.export(data.spans) == SpanExportResult.SUCCESS
        logs.export(data.logs)
    finally:
        spans.shutdown()
        logs.shutdown()
    root = next(s for s in data.spans if s.parent is None and s.status.status_code.name == "ERROR")
    trace_hex = format(root.context.trace_id, "032x")
    doc = d.get_json(f"/api/traces/{trace_hex.upper()}")
    assert doc["traceId"] == trace_hex
    sent = sorted((s for s in data.spans if s.context.trace_id == root.context.trace_id), key=lambda s: s.start_time)
    assert [(s["name"], s["depth"]) for s in doc["spans"]] == [("POST /checkout", 0), ("charge card", 1)]
    assert [s["spanId"] for s in doc["spans"]] == [format(s.context.span_id, "016x") for s in sent]
    server = doc["spans"][0]
    assert server["service"] == "checkout" and server["kind"] == "server"
    assert server["status"] == {"code": "error", "message": "payment declined"}
    assert server["attributes"]["http.response.status_code"] == 500
    assert doc["spans"][1]["parentSpanId"] == server["spanId"]
    sent_logs = [r for r in data.logs if r.log_record.trace_id == root.context.trace_id]
    assert len(sent_logs) == 1
    assert [(log["body"], log["severity"]) for log in doc["logs"]] == [(sent_logs[0].log_record.body, "ERROR")]
    assert doc["logs"][0]["spanId"] == server["spanId"]

    status, _ = d.get(f"/api/traces/{'0' * 31}x")
    assert status == 400
    status, _ = d.get(f"/api/traces/{'ab' * 16}")
    assert status == 404

    # The overview counts whole 3 s buckets, so the newest spans show up within one bucket.
    services = wait_for(
        "the overview", lambda: [s for s in d.get_json("/api/services?window=5m")["services"] if s["spans"]], timeout=10
    )
    assert [s["service"] for s in services] == ["checkout"]
    assert services[0]["spans"] == 10
    assert abs(services[0]["errorRatio"] - 2 / 10) < 1e-9
    assert services[0]["p99Ms"] is not None
    assert d.get("/api/services?window=nonsense")[0] == 400

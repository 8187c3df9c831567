"""With replicas, /api/traces asks the peers listed in config for a trace this replica does not hold."""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry.sdk.trace.export import SpanExportResult

from tests.integration.daemon import Daemon
from tests.integration.sdk import exporters, make_telemetry


def test_a_trace_held_by_a_peer_is_found_through_any_replica(start_daemon: Callable[..., Daemon]) -> None:
    a = start_daemon()
    b = start_daemon(storage=a.config["storage"], cluster={"peers": [a.api], "instance_id": "b"})
    data = make_telemetry("payments", requests=2, errors=0)
    spans, _, _ = exporters("http/protobuf", a)
    try:
        assert spans.export(data.spans) == SpanExportResult.SUCCESS
    finally:
        spans.shutdown()
    trace_id = format(data.spans[0].context.trace_id, "032x")
    direct = a.get_json(f"/api/traces/{trace_id}")
    via_peer = b.get_json(f"/api/traces/{trace_id}")
    assert via_peer == direct
    assert b.get(f"/api/traces/{trace_id}?local=1")[0] == 404
    assert b.get(f"/api/traces/{'cd' * 16}")[0] == 404

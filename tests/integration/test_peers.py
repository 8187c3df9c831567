"""With replicas, /api/traces asks the peers listed in config for a trace this replica does not hold."""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry.sdk.trace.export import SpanExportResult

from tests.integration.daemon import Daemon
from tests.integration.sdk import exporters, make_telemetry
from tests.integration.test_alert_lifecycle import post, wait_for


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


def test_a_reload_on_one_replica_is_seen_by_the_other(start_daemon: Callable[..., Daemon], tmp_path: object) -> None:
    a = start_daemon()
    b = start_daemon(storage=a.config["storage"], rules=a.config["rules"], cluster={"instance_id": "b"})
    (a.workdir / "rules" / "new.yaml").write_text(
        "group: added\nrules:\n  - name: Added\n    tier: P2\n    select: {signal: logs}\n    measure: count\n"
        "    window: 1m\n    condition: {threshold: '> 100000'}\n"
    )
    assert post(a, "/-/reload")[0] == 200
    wait_for(
        "the other replica to reload",
        lambda: [g["name"] for g in b.get_json("/api/rules")["groups"]] == ["added"],
        timeout=15,
    )

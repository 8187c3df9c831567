"""Vigil's own evaluation spans, exported to Vigil itself, arrive at a steady rate: no feedback loop."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.integration.daemon import Daemon, free_port
from tests.integration.test_alert_lifecycle import post, wait_for

RULES = """
group: self
interval: 1s
rules:
  - name: VigilSlowEvaluation
    tier: P2
    select: {signal: spans, where: {service.name: vigil, span.name: evaluate rule group}}
    measure: latency_p99
    window: 10s
    condition: {threshold: "> 5s"}
"""


def test_self_telemetry_into_itself_is_steady(start_daemon: Callable[..., Daemon]) -> None:
    port = free_port()
    d = start_daemon(
        listen={
            "otlp_http": f"127.0.0.1:{port}",
            "otlp_grpc": f"127.0.0.1:{free_port()}",
            "api": f"127.0.0.1:{free_port()}",
        },
        telemetry={"otlp_endpoint": f"http://127.0.0.1:{port}", "service_name": "vigil"},
    )
    (d.workdir / "rules" / "self.yaml").write_text(RULES)
    assert post(d, "/-/reload")[0] == 200
    seen = wait_for(
        "vigil's own spans",
        lambda: [
            s for s in d.get_json("/api/services?window=30s")["services"] if s["service"] == "vigil" and s["spans"]
        ],
        timeout=20,
    )
    assert seen
    accepted = "vigil_ingest_items_total"
    a0 = d.metric(accepted, signal="spans", outcome="accepted")
    time.sleep(4)
    a1 = d.metric(accepted, signal="spans", outcome="accepted")
    time.sleep(4)
    a2 = d.metric(accepted, signal="spans", outcome="accepted")
    first, second = a1 - a0, a2 - a1
    # One rule group evaluated every second: a handful of spans per second, not a growing stream.
    assert 0 < first <= 20 and 0 < second <= 20, (first, second)
    assert d.get_json("/api/incidents")["incidents"] == []

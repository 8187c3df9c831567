"""End to end: real SDK spans with injected errors → a rule fires → incident with evidence → resolves."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace.export import SpanExportResult

from collector.evaluate.state import JITTER
from tests.integration.daemon import Daemon
from tests.integration.sdk import exporters, make_telemetry

# Timers count as done this close to their end (scheduling jitter), so lower bounds allow for it.
SLACK = JITTER.total_seconds()

RULES = """
group: e2e
interval: 1s
rules:
  - name: CheckoutErrors
    tier: P0
    select:
      signal: spans
      where: {service.name: checkout, span.kind: server}
    measure: error_ratio
    by: [service.name]
    window: 4s
    condition: {threshold: "> 0.2"}
    for: 2s
    keep_firing_for: 3s
    min_samples: 5
    labels: {team: payments}
    annotations:
      summary: "checkout error ratio {{ value | round(2) }}"
"""


class Traffic:
    """Sends checkout traffic through the real OTLP/HTTP exporter until stopped; `errors` is switchable."""

    def __init__(self, daemon: Daemon) -> None:
        self.errors = 0
        self.sent = 0
        self._stop = threading.Event()
        self._daemon = daemon
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        # A short export timeout: while a daemon restarts, give up quickly instead of backing off for long.
        spans, logs, _ = exporters("http/protobuf", self._daemon, timeout=1.0)
        try:
            while not self._stop.is_set():
                data = make_telemetry("checkout", requests=20, errors=self.errors)
                if spans.export(data.spans) == SpanExportResult.SUCCESS:
                    self.sent += 1
                logs.export(data.logs)
                time.sleep(0.25)
        finally:
            spans.shutdown()
            logs.shutdown()

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.thread.join(10)


def wait_for(what: str, check: Callable[[], Any], timeout: float = 40.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def incidents(d: Daemon, **query: str) -> list[dict[str, Any]]:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return list(d.get_json(f"/api/incidents?{qs}")["incidents"])


def test_errors_fire_an_incident_with_evidence_and_it_resolves(
    start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    d = start_daemon()
    (d.workdir / "rules" / "e2e.yaml").write_text(RULES)
    reload_status, _ = post(d, "/-/reload")
    assert reload_status == 200
    assert [g["name"] for g in d.get_json("/api/rules")["groups"]] == ["e2e"]

    with Traffic(d) as traffic:
        time.sleep(2)
        assert incidents(d) == []
        traffic.errors = 10  # half of the requests fail
        started_errors = time.time()
        opened = wait_for("an open incident", lambda: incidents(d, state="open"))
        assert len(opened) == 1
        inc = opened[0]
        assert inc["rule"] == "CheckoutErrors" and inc["tier"] == "P0" and inc["service"] == "checkout"
        assert inc["labels"] == {
            "service.name": "checkout",
            "team": "payments",
            "alertname": "CheckoutErrors",
            "tier": "P0",
        }
        assert inc["value"] > 0.2 and inc["threshold"] == "> 0.2"
        assert inc["annotations"]["summary"].startswith("checkout error ratio 0.")
        fired = ts(inc["firedAt"])
        assert (fired - ts(inc["startsAt"])).total_seconds() >= 2 - SLACK, "fired before `for` had passed"
        assert fired.timestamp() - started_errors < 15

        detail = d.get_json(f"/api/incidents/{inc['id']}")
        assert [e["kind"] for e in detail["events"]] == ["firing"]
        evidence = detail["evidence"]
        assert 1 <= len(evidence) <= 5
        assert evidence[0]["error"] is True
        for ex in evidence:
            trace = d.get_json(f"/api/traces/{ex['traceId']}")
            assert trace["traceId"] == ex["traceId"]
            assert any(s["status"]["code"] == "error" for s in trace["spans"]) or not ex["error"]
        first = d.get_json(f"/api/traces/{evidence[0]['traceId']}")
        assert any("payment declined" in str(log["body"]) for log in first["logs"])
        assert evidence[0]["trace"]["traceId"] == evidence[0]["traceId"], "evidence copies the trace itself"

        alerts = d.get_json("/api/alerts")["alerts"]
        assert [(a["rule"], a["state"], a["incidentId"]) for a in alerts] == [("CheckoutErrors", "firing", inc["id"])]

        traffic.errors = 0
        resolved = wait_for("the incident to resolve", lambda: incidents(d, state="resolved"))
    assert [r["id"] for r in resolved] == [inc["id"]]
    done = resolved[0]
    assert done["resolveReason"] == "condition_cleared"
    duration = (ts(done["endsAt"]) - ts(done["startsAt"])).total_seconds()
    assert abs(done["durationSeconds"] - duration) < 0.01
    assert duration >= 3 + 2 - 2 * SLACK, "resolved before keep_firing_for had passed"
    events = d.get_json(f"/api/incidents/{inc['id']}")["events"]
    assert [e["kind"] for e in events] == ["firing", "resolved"]
    assert {e["payload"]["incidentId"] for e in events} == {inc["id"]}
    assert incidents(d, state="open") == []
    assert d.metric("vigil_incidents_total", tier="P0", rule="CheckoutErrors") == 1


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def post(d: Daemon, path: str) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(f"{d.api}{path}", method="POST", data=b"")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

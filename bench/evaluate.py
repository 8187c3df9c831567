"""Evaluation cost and detection latency.

    .venv/bin/python bench/evaluate.py [--rules 1000] [--series-per-rule 100]

1. One evaluation pass of N rules over N x M active series: the store's window query
   plus the lifecycle for every series, as the evaluator runs it (steady state: no
   transitions, so no SQL writes). Target: 1,000 rules x 100,000 series <= 250 ms.
2. End-to-end detection latency on a real `vigil run` (interval 1s, delay 0.5s,
   for 2s): from the first breaching spans being accepted (HTTP 200) to the firing
   event being in SQL. Target: <= for + interval + 1 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from ingest import run_daemon  # noqa: E402
from machine import machine  # noqa: E402

from collector.evaluate.rulerun import RuleRun  # noqa: E402
from collector.model import Batch, Signal  # noqa: E402
from collector.rules.loader import load_rules  # noqa: E402
from collector.store.hub import Store  # noqa: E402


def kv(k: str, v: str) -> KeyValue:
    return KeyValue(key=k, value=AnyValue(string_value=v))


def requests_for(services: int, routes: int, t_ns: int, errors: bool = False) -> list[ExportTraceServiceRequest]:
    out = []
    n = 0
    for s in range(services):
        spans = []
        for r in range(routes):
            n += 1
            spans.append(Span(
                trace_id=(t_ns + n).to_bytes(16, "big"), span_id=n.to_bytes(8, "big"), name="GET",
                kind=Span.SPAN_KIND_SERVER, start_time_unix_nano=t_ns - 5_000_000, end_time_unix_nano=t_ns,
                attributes=[kv("http.route", f"/r{r}")],
                status=Status(code=Status.STATUS_CODE_ERROR if errors else Status.STATUS_CODE_UNSET),
            ))
        res = Resource(attributes=[kv("service.name", f"svc{s}")])
        out.append(ExportTraceServiceRequest(resource_spans=[ResourceSpans(resource=res,
                                                                            scope_spans=[ScopeSpans(spans=spans)])]))
    return out


def evaluation_pass(rule_count: int, per_rule: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rules = [{"name": f"R{i}", "tier": "P1", "select": {"signal": "spans", "where": {"service.name": f"svc{i}"}},
                  "measure": "error_ratio", "by": ["http.route"], "window": "1m",
                  "condition": {"threshold": "> 0.5"}, "for": "30s"} for i in range(rule_count)]
        path = Path(tmp) / "bench.yaml"
        path.write_text(yaml.safe_dump({"group": "bench", "rules": rules}))
        t0 = time.perf_counter()
        ruleset = load_rules([path], timedelta(seconds=10))
        load_s = time.perf_counter() - t0
    store = Store(traces=None, max_series_per_rule=per_rule * 2, max_series=rule_count * per_rule * 2)
    store.set_selectors(ruleset.selectors(), {r.name: r.window for r in ruleset.rules()})
    now = datetime.now(UTC).replace(microsecond=0)
    now_ns = int(now.timestamp() * 1e9)
    for step in range(6):  # 30 s of data, one span per series every 5 s
        for req in requests_for(rule_count, per_rule, now_ns - (30 - 5 * step) * 1_000_000_000):
            store.consume(Batch(Signal.SPANS, req, per_rule, now_ns))
    runs = [RuleRun(r, "bench") for r in ruleset.rules()]
    start_ns, end_ns = now_ns - 60_000_000_000, now_ns
    timings = []
    series = 0
    for _ in range(5):
        t0 = time.perf_counter()
        series = 0
        for run in runs:
            results = store.query(run.rule.name, start_ns, end_ns)
            series += len(results)
            run.evaluate(results, now)
        timings.append(time.perf_counter() - t0)
    print(f"rule set of {rule_count} rules loaded and validated in {load_s * 1000:.0f} ms")
    median_ms, best_ms = statistics.median(timings) * 1000, min(timings) * 1000
    print(f"evaluation pass: {rule_count} rules over {series:,} series: median {median_ms:.0f} ms,"
          f" best {best_ms:.0f} ms  (target <= 250 ms)")


def detection_latency(samples: int) -> None:
    rule = {"group": "detect", "interval": "1s", "rules": [{
        "name": "Detect", "tier": "P0", "select": {"signal": "spans", "where": {"service.name": "svc0"}},
        "measure": "error_ratio", "window": "5s", "condition": {"threshold": "> 0.5"}, "for": "2s",
        "keep_firing_for": "0s"}]}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "rules").mkdir()
        (work / "rules" / "detect.yaml").write_text(yaml.safe_dump(rule))
        proc, listen = run_daemon(work, 0, evaluation={"interval": "1s", "delay": "500ms"}, keep_rules=True)
        try:
            api, otlp = f"http://{listen['api']}", f"http://{listen['otlp_http']}/v1/traces"
            for _ in range(samples):
                # Healthy traffic until the previous incident has resolved, then one breaching batch.
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    _post(otlp, requests_for(1, 20, time.time_ns())[0])
                    if not _get(f"{api}/api/incidents?state=open")["incidents"]:
                        break
                    time.sleep(0.2)
                before = {i["id"] for i in _get(f"{api}/api/incidents")["incidents"]}
                t0 = time.monotonic()
                first = True
                while True:
                    _post(otlp, requests_for(1, 20, time.time_ns(), errors=True)[0])
                    if first:
                        t0, first = time.monotonic(), False
                    found = [i for i in _get(f"{api}/api/incidents")["incidents"] if i["id"] not in before]
                    if found:
                        results.append(time.monotonic() - t0)
                        break
                    time.sleep(0.02)
        finally:
            proc.terminate()
            proc.wait(30)
    if not results:
        return
    print(f"detection latency (for 2s, interval 1s, delay 0.5s), {samples} runs: "
          f"median {statistics.median(results):.2f} s, max {max(results):.2f} s  (target <= 2 + 1 + 1 = 4 s)")


def _post(url: str, req: ExportTraceServiceRequest) -> None:
    r = urllib.request.Request(url, data=req.SerializeToString(), method="POST",
                               headers={"Content-Type": "application/x-protobuf"})
    with urllib.request.urlopen(r, timeout=10) as resp:
        assert resp.status == 200


def _get(url: str) -> dict[str, list[dict[str, str]]]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--series-per-rule", type=int, default=100)
    parser.add_argument("--latency-runs", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    evaluation_pass(args.rules, args.series_per_rule)
    detection_latency(args.latency_runs)


if __name__ == "__main__":
    main()

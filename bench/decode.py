"""Decode-and-validate throughput of OTLP requests (protobuf and JSON), one core; prints figures, asserts nothing.

Run: .venv/bin/python bench/decode.py [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import base64
import random
import time
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf import json_format
from machine import machine
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.ingest.decode import WireFormat, decode_request, validate
from collector.ingest.jsonbuild import clear_fragments
from collector.model import Signal

ITEMS = 1000
_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})
_T0 = 1_760_000_000_000_000_000


def build(cls: Any, **fields: Any) -> Any:
    """A message from keyword dicts, which the protobuf runtime turns into submessages."""
    return cls(**fields)


def _attributes(rng: random.Random, n: int) -> list[dict[str, Any]]:
    kinds = [
        ("http.request.method", {"string_value": rng.choice(["GET", "POST", "PUT"])}),
        ("http.route", {"string_value": f"/api/v1/items/{rng.randrange(50)}"}),
        ("http.response.status_code", {"int_value": rng.choice([200, 201, 404, 500])}),
        ("server.address", {"string_value": "checkout.internal"}),
        ("server.port", {"int_value": 8080}),
        ("url.scheme", {"string_value": "https"}),
        ("user_agent.original", {"string_value": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"}),
        ("network.protocol.version", {"string_value": "1.1"}),
        ("app.cache_hit", {"bool_value": rng.random() < 0.5}),
        ("app.latency_budget", {"double_value": rng.random()}),
    ]
    return [{"key": k, "value": v} for k, v in kinds[:n]]


def _resource() -> dict[str, Any]:
    return {"attributes": [
        {"key": "service.name", "value": {"string_value": "checkout"}},
        {"key": "service.version", "value": {"string_value": "1.4.2"}},
        {"key": "deployment.environment", "value": {"string_value": "production"}},
        {"key": "host.name", "value": {"string_value": "node-17"}},
        {"key": "telemetry.sdk.language", "value": {"string_value": "python"}},
    ]}


def span_request(rng: random.Random) -> Any:
    spans = []
    for i in range(ITEMS):
        start = _T0 + i * 1_000_000
        spans.append({
            "trace_id": rng.randbytes(16), "span_id": rng.randbytes(8), "parent_span_id": rng.randbytes(8),
            "name": f"GET /api/v1/items/{i % 50}", "kind": 2, "start_time_unix_nano": start,
            "end_time_unix_nano": start + rng.randrange(1_000_000, 90_000_000),
            "attributes": _attributes(rng, 10),
            "events": [{"time_unix_nano": start + 10 * j, "name": f"event {j}", "attributes": _attributes(rng, 2)}
                       for j in range(3)],
            "status": {"code": 1},
        })
    return build(ExportTraceServiceRequest, resource_spans=[
        {"resource": _resource(), "scope_spans": [{"scope": {"name": "opentelemetry.instrumentation.aiohttp"},
                                                   "spans": spans}]}])


def log_request(rng: random.Random) -> Any:
    records = [{
        "time_unix_nano": _T0 + i, "observed_time_unix_nano": _T0 + i + 5, "severity_number": 9,
        "severity_text": "INFO", "body": {"string_value": f"order {i} placed for customer {rng.randrange(10**6)}"},
        "attributes": _attributes(rng, 5), "trace_id": rng.randbytes(16), "span_id": rng.randbytes(8), "flags": 1,
    } for i in range(ITEMS)]
    return build(ExportLogsServiceRequest, resource_logs=[
        {"resource": _resource(), "scope_logs": [{"scope": {"name": "checkout"}, "log_records": records}]}])


def metric_request(rng: random.Random) -> Any:
    metrics = []
    bounds = [5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0]
    for m in range(ITEMS // 10):
        points = []
        for p in range(10):
            base = {"attributes": _attributes(rng, 3), "start_time_unix_nano": _T0, "time_unix_nano": _T0 + p}
            if m % 3 == 2:
                points.append({**base, "count": 100, "sum": 1234.5, "explicit_bounds": bounds,
                               "bucket_counts": [rng.randrange(20) for _ in range(len(bounds) + 1)]})
            else:
                points.append({**base, "as_double": rng.random() * 100})
        if m % 3 == 0:
            metrics.append({"name": f"queue.depth.{m}", "unit": "1", "gauge": {"data_points": points}})
        elif m % 3 == 1:
            metrics.append({"name": f"requests.{m}", "unit": "1",
                            "sum": {"data_points": points, "aggregation_temporality": 2, "is_monotonic": True}})
        else:
            metrics.append({"name": f"latency.{m}", "unit": "ms",
                            "histogram": {"data_points": points, "aggregation_temporality": 2}})
    return build(ExportMetricsServiceRequest, resource_metrics=[
        {"resource": _resource(), "scope_metrics": [{"scope": {"name": "checkout"}, "metrics": metrics}]}])


def otlp_json(message: Any) -> bytes:
    """OTLP/JSON of a message: protobuf's JSON mapping with IDs as hex instead of base64."""
    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (base64.b64decode(v).hex() if k in _ID_KEYS else fix(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node
    return orjson.dumps(fix(json_format.MessageToDict(message)))


def parse_dict_decode(cls: type[Any], payload: bytes) -> Any:
    """The alternative measured against decode_request: hex IDs to base64, then json_format.ParseDict."""
    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (base64.b64encode(bytes.fromhex(v)).decode() if k in _ID_KEYS else fix(v))
                    for k, v in node.items()}
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node
    return json_format.ParseDict(fix(orjson.loads(payload)), cls(), ignore_unknown_fields=True)


def decode_cold(signal: Signal, payload: bytes) -> int:
    """decode_request + validate with no attribute fragment cached, as for attribute values never seen before
    (values repeated within the request are still serialised only once)."""
    clear_fragments()
    return validate(signal, decode_request(signal, payload, WireFormat.JSON)).accepted


def count(signal: Signal, request: Any) -> int:
    if signal is Signal.SPANS:
        return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    if signal is Signal.LOGS:
        return sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
    total = 0
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind:
                    total += len(getattr(metric, kind).data_points)
    return total


def rate(run: Callable[[], int], seconds: float) -> float:
    """Items per second of `run`, best of a few rounds of about `seconds` each."""
    items = run()
    best = 0.0
    for _ in range(3):
        n, begin = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - begin) < seconds:
            n += run()
        best = max(best, n / elapsed)
    return best if items else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one measuring round")
    args = parser.parse_args()
    rng = random.Random(7)
    print(f"machine: {machine()}; one core")
    cases: list[tuple[Signal, str, Any, Any]] = [
        (Signal.SPANS, "spans", span_request(rng), ExportTraceServiceRequest),
        (Signal.LOGS, "log records", log_request(rng), ExportLogsServiceRequest),
        (Signal.METRICS, "metric points", metric_request(rng), ExportMetricsServiceRequest),
    ]
    for signal, noun, message, cls in cases:
        measure(signal, noun, message, cls, args.seconds)


def measure(signal: Signal, noun: str, message: Any, cls: Any, seconds: float) -> None:
    proto, js = message.SerializeToString(), otlp_json(message)
    assert validate(signal, decode_request(signal, js, WireFormat.JSON)).accepted == ITEMS
    print(f"\n{ITEMS} {noun} per request: protobuf {len(proto) / 1024:.0f} KiB, JSON {len(js) / 1024:.0f} KiB")
    runs: list[tuple[str, Callable[[], int]]] = [
        ("protobuf FromString + count", lambda: count(signal, cls.FromString(proto))),
        ("protobuf FromString + validate", lambda: validate(signal, cls.FromString(proto)).accepted),
        ("JSON decode_request + validate",
         lambda: validate(signal, decode_request(signal, js, WireFormat.JSON)).accepted),
        ("  same, attribute cache emptied each time", lambda: decode_cold(signal, js)),
        ("JSON ParseDict + validate (alternative)", lambda: validate(signal, parse_dict_decode(cls, js)).accepted),
    ]
    for label, run in runs:
        print(f"  {label:42s} {rate(run, seconds):>12,.0f} {noun}/s")

if __name__ == "__main__":
    main()

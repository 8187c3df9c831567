"""Trace index benchmark: add_spans throughput, memory held against raw protobuf size, get() latency.

Each figure is given for requests as ingest hands them over (with what validation read and the
protobuf body, which the index keeps as it is) and for bare requests (the index serialises them).

Run: .venv/bin/python bench/traces.py [--requests 200] [--spans 1000] [--spans-per-trace 10]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
import tracemalloc
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from machine import machine
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from collector.ingest.validation import validate
from collector.model import Scanned, Signal
from collector.store.traces import TraceIndex

_T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
_SERVICES = ("frontend", "checkout", "payments", "inventory")


def _kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def span_request(
    rng: random.Random, spans: int, per_trace: int, t0: int, trace_ids: list[bytes] | None = None
) -> ExportTraceServiceRequest:
    """`spans` HTTP-server-like spans (6 attributes, some events), `per_trace` to a trace, one resource per service.

    With `trace_ids`, the traces take those IDs in turn (to spread traces over several requests).
    """
    request = ExportTraceServiceRequest()
    scopes = {}
    for service in _SERVICES:
        rs = request.resource_spans.add()
        rs.resource.attributes.extend([_kv("service.name", service), _kv("host.name", f"{service}-7d9f8-x2x"),
                                       _kv("telemetry.sdk.language", "python"), _kv("telemetry.sdk.version", "1.27.0")])
        ss = rs.scope_spans.add()
        ss.scope.name, ss.scope.version = "opentelemetry.instrumentation.aiohttp_server", "0.48b0"
        scopes[service] = ss
    made = 0
    while made < spans:
        trace_id = trace_ids[made // per_trace % len(trace_ids)] if trace_ids else rng.randbytes(16)
        parent = b""
        for depth in range(min(per_trace, spans - made)):
            span_id = rng.randbytes(8)
            start = t0 + made * 1000 + depth * 100_000
            span = Span(
                trace_id=trace_id, span_id=span_id, parent_span_id=parent, name="GET /api/cart/{id}",
                kind=Span.SPAN_KIND_SERVER, start_time_unix_nano=start,
                end_time_unix_nano=start + rng.randrange(1_000_000, 80_000_000),
                status=Status(code=Status.STATUS_CODE_ERROR if rng.random() < 0.02 else Status.STATUS_CODE_UNSET),
                attributes=[_kv("http.method", "GET"), _kv("http.route", "/api/cart/{id}"),
                            _kv("http.target", f"/api/cart/{rng.randrange(10**6)}"), _kv("http.status_code", 200),
                            _kv("net.peer.ip", "10.1.2.3"), _kv("user_agent.original", "python-requests/2.32.3")],
            )
            if rng.random() < 0.2:
                span.events.add(name="cache miss", time_unix_nano=start + 500, attributes=[_kv("cache.key", "cart")])
            scopes[_SERVICES[depth % len(_SERVICES)]].spans.append(span)
            parent = span_id
            made += 1
    return request


def log_request(rng: random.Random, records: int, t0: int) -> ExportLogsServiceRequest:
    """`records` INFO logs of one service, each in its own trace."""
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.append(_kv("service.name", "checkout"))
    sl = rl.scope_logs.add()
    sl.scope.name = "checkout.orders"
    for i in range(records):
        sl.log_records.add(time_unix_nano=t0 + i, severity_number=9, severity_text="INFO",
                           body=AnyValue(string_value=f"order {rng.randrange(10**6)} reserved"),
                           trace_id=rng.randbytes(16), span_id=rng.randbytes(8), attributes=[_kv("order.items", 3)])
    return request


def raw_bytes(request: ExportTraceServiceRequest | ExportLogsServiceRequest) -> int:
    """Sum of the serialised size of each span / log record (no resource, scope or framing)."""
    if isinstance(request, ExportTraceServiceRequest):
        return sum(s.ByteSize() for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans)
    return sum(r.ByteSize() for rl in request.resource_logs for sl in rl.scope_logs for r in sl.log_records)


def ingested(bodies: list[bytes]) -> list[tuple[ExportTraceServiceRequest, Scanned | None]]:
    """Requests parsed and validated as ingest does, each with what validation read (and its body)."""
    out = []
    for body in bodies:
        request = ExportTraceServiceRequest.FromString(body)
        out.append((request, validate(Signal.SPANS, request, body).scanned))
    return out


def throughput(requests: list[tuple[ExportTraceServiceRequest, Scanned | None]], max_bytes: int) -> tuple[float, float]:
    """Spans per second of wall time and per second of this process's CPU time (steadier on a shared machine)."""
    index = TraceIndex(retention=timedelta(hours=1), max_bytes=max_bytes, clock=lambda: _T0)
    spans = sum(len(ss.spans) for r, _ in requests for rs in r.resource_spans for ss in rs.scope_spans)
    wall, cpu = time.perf_counter(), time.process_time()
    for i, (request, scanned) in enumerate(requests):
        index.add_spans(request, _T0 + i, scanned)
    return spans / (time.perf_counter() - wall), spans / (time.process_time() - cpu)


def memory(requests: Sequence[Any], label: str, as_ingested: bool = False) -> None:
    """Resident bytes of the index holding `requests` (as_ingested: each with its body, as ingest hands it over)."""
    bodies = [r.SerializeToString() for r in requests] if as_ingested else []
    gc.collect()
    tracemalloc.start()
    index = TraceIndex(retention=timedelta(hours=1), max_bytes=1 << 40, clock=lambda: _T0)
    before = tracemalloc.get_traced_memory()[0]
    for i, request in enumerate(requests):
        if isinstance(request, ExportLogsServiceRequest):
            index.add_logs(request, _T0 + i)
        elif as_ingested:
            # A body read from a socket is new memory; the index keeps it and nothing else of the request.
            body = bytes(bytearray(bodies[i]))
            parsed = ExportTraceServiceRequest.FromString(body)
            index.add_spans(parsed, _T0 + i, validate(Signal.SPANS, parsed, body).scanned)
            del body, parsed
        else:
            index.add_spans(request, _T0 + i)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    raw = sum(raw_bytes(r) for r in requests)
    print(f"  {label:<34} raw {raw / 2**20:7.1f} MiB  resident {held / 2**20:7.1f} MiB  "
          f"ratio {held / raw:4.2f} (target <= 1.5)  accounted/resident {index.bytes_held / held:4.2f}")


def latency(requests: list[tuple[ExportTraceServiceRequest, Scanned | None]], rng: random.Random, label: str) -> None:
    index = TraceIndex(retention=timedelta(hours=1), max_bytes=1 << 40, clock=lambda: _T0)
    for i, (request, scanned) in enumerate(requests):
        index.add_spans(request, _T0 + i, scanned)
    ids = [ss.spans[0].trace_id for r, _ in requests for rs in r.resource_spans for ss in rs.scope_spans]
    sample = [rng.choice(ids) for _ in range(300)]
    get_us, doc_us = [], []
    for trace_id in sample:
        started = time.perf_counter()
        view = index.get(trace_id)
        got = time.perf_counter()
        assert view is not None
        view.to_dict()
        get_us.append((got - started) * 1e6)
        doc_us.append((time.perf_counter() - got) * 1e6)
    get_us.sort()
    p99 = get_us[int(len(get_us) * 0.99)]
    print(f"  {label:<14} get(): p50 {statistics.median(get_us):7.0f} us  p99 {p99:7.0f} us;  "
          f"to_dict(): p50 {statistics.median(doc_us):6.0f} us  ({index.records_held:,} records held)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--spans", type=int, default=1000)
    parser.add_argument("--spans-per-trace", type=int, default=10)
    args = parser.parse_args()
    rng = random.Random(7)
    print(machine())
    # Parsed from bytes, as ingest hands them over (upb serialises a parsed message faster than a built one).
    built = [span_request(rng, args.spans, args.spans_per_trace, _T0) for _ in range(args.requests)]
    bodies = [r.SerializeToString() for r in built]
    size = sum(map(len, bodies)) / len(bodies)
    print(f"{args.requests} requests x {args.spans} spans ({args.spans_per_trace} per trace), "
          f"{size / 1024:.0f} KiB each")
    print("add_spans throughput")
    for how, use_scan in (("from ingest", True), ("bare request", False)):
        for label, max_bytes in (("growing, no eviction", 1 << 40), ("steady, evicting at 20 MiB", 20 * 2**20)):
            runs = []
            for _ in range(3):
                # Freshly parsed each run, as ingest hands them over: a parsed request is read at first touch.
                requests = [(r, s if use_scan else None) for r, s in ingested(bodies)]
                runs.append(throughput(requests, max_bytes))
            wall, cpu = max(r[0] for r in runs), max(r[1] for r in runs)
            print(f"  {how:<13} {label:<27} {wall:>10,.0f} spans/s wall, {cpu:>10,.0f} spans/CPU-s (best of 3)")
    requests = [r for r, _ in ingested(bodies)]
    print("memory (tracemalloc; raw = serialised spans / log records alone)")
    memory(requests[:100], f"spans, {args.spans_per_trace} per trace, from ingest", as_ingested=True)
    memory([span_request(rng, args.spans, 1, _T0) for _ in range(50)], "spans, 1 per trace, from ingest",
           as_ingested=True)
    memory(requests[:100], f"spans, {args.spans_per_trace} per trace")
    memory([span_request(rng, args.spans, 1, _T0) for _ in range(50)], "spans, 1 per trace (worst case)")
    memory([span_request(rng, args.spans, 3, _T0) for _ in range(50)], "spans, 3 per trace")
    spread = []
    for _ in range(10):
        pool = [rng.randbytes(16) for _ in range(args.spans // 2)]
        spread += [span_request(rng, args.spans, 2, _T0, pool) for _ in range(5)]
    memory(spread, "spans, 10 per trace over 5 requests")
    memory([log_request(rng, args.spans, _T0) for _ in range(50)], "logs, 1 per trace (worst case)")
    print("lookup")
    latency(ingested(bodies), rng, "from ingest")
    latency([(r, None) for r, _ in ingested(bodies)], rng, "bare request")


if __name__ == "__main__":
    main()

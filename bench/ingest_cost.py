"""Where ingest's time goes, per item, on one core: each stage of the daemon's ingest path, without HTTP.

    .venv/bin/python bench/ingest_cost.py [--rules 50] [--requests 100] [--rounds 5]

For each signal it runs bench/ingest.py's 1000-item protobuf requests (stamped now, so every rule
does its work) through the stages the daemon runs, and prints CPU µs per item (best of the rounds):
protobuf parse, validation, the store's windows with no rules and with `--rules` rules per signal
(bench/ingest.py's rules: three attribute keys each), and the trace index. Their sum is the most one
core could take without HTTP; it is printed against bench/ingest.py's targets. A last table shows
the cost of the protobuf reads the rules need: a first touch of a parsed record's fields and
attributes, which the protobuf runtime wraps one object at a time.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from ingest import write_rules
from machine import machine
from payloads import logs_request, metrics_request, spans_request

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collector.app import GC_THRESHOLDS  # noqa: E402
from collector.ingest.decode import WireFormat, decode_request  # noqa: E402
from collector.ingest.validation import validate  # noqa: E402
from collector.model import Signal  # noqa: E402
from collector.rules.loader import load_rules  # noqa: E402
from collector.store.hub import Store  # noqa: E402
from collector.store.traces import TraceIndex  # noqa: E402

ITEMS = 1000
# bench/ingest.py's targets with 50 rules, items/s.
TARGETS = {Signal.SPANS: 200_000, Signal.LOGS: 300_000, Signal.METRICS: 150_000}
MAKE = {Signal.SPANS: spans_request, Signal.LOGS: logs_request, Signal.METRICS: metrics_request}


def store_for(rules: int) -> Store:
    with tempfile.TemporaryDirectory() as tmp:
        write_rules(Path(tmp) / "rules", rules)
        loaded = load_rules([Path(tmp) / "rules"], timedelta(seconds=5))
    store = Store(traces=None, max_series_per_rule=10_000, max_series=100_000)
    store.set_selectors(loaded.selectors(), {r.name: r.window for r in loaded.rules()})
    return store


def stages(signal: Signal, rules: int, requests: int, rounds: int) -> dict[str, float]:
    """CPU µs per item of each stage, best of `rounds` rounds of `requests` requests."""
    # Distinct timestamps per request: a metric point repeated at the same time would count as a duplicate.
    bodies = [MAKE[signal](t0=time.time_ns() + i * 1_000_000).SerializeToString() for i in range(requests * rounds)]
    stores = {"store, 0 rules": store_for(0), f"store, {rules} rules": store_for(rules)}
    index = TraceIndex(retention=timedelta(minutes=30), max_bytes=512 * 2**20)
    clock = time.process_time_ns
    best: dict[str, float] = {}
    for r in range(rounds):
        mine = bodies[r * requests : (r + 1) * requests]
        took = dict.fromkeys(["protobuf parse", "validation", *stores, "trace index"], 0)
        for body in mine:
            t0 = clock()
            request = decode_request(signal, body, WireFormat.PROTOBUF)
            t1 = clock()
            batch = validate(signal, request, body).batch(signal, time.time_ns())
            t2 = clock()
            took["protobuf parse"] += t1 - t0
            took["validation"] += t2 - t1
            for label, store in stores.items():
                # Each store reads a request of its own: a parsed record is slower at first touch.
                again = decode_request(signal, body, WireFormat.PROTOBUF)
                fresh = validate(signal, again, body).batch(signal, batch.received_ns)
                t0 = clock()
                store.consume(fresh)
                took[label] += clock() - t0
            t0 = clock()
            if signal is Signal.SPANS:
                index.add_spans(request, batch.received_ns, batch.scanned)
            elif signal is Signal.LOGS:
                index.add_logs(request, batch.received_ns, batch.scanned)
            took["trace index"] += clock() - t0
        for label, ns in took.items():
            per_item = ns / 1000 / (len(mine) * ITEMS)
            best[label] = min(best.get(label, per_item), per_item)
    return best


def first_touch(reads: Callable[[Any], None], signal: Signal, requests: int = 100) -> float:
    """CPU µs per item of `reads` on freshly parsed requests."""
    body = MAKE[signal](t0=time.time_ns()).SerializeToString()
    parsed = [decode_request(signal, body, WireFormat.PROTOBUF) for _ in range(requests)]
    started = time.process_time_ns()
    for request in parsed:
        reads(request)
    return (time.process_time_ns() - started) / 1000 / (requests * ITEMS)


def _spans(request: Any) -> list[Any]:
    return [sp for rs in request.resource_spans for ss in rs.scope_spans for sp in ss.spans]


def _wrap(request: Any) -> None:
    _spans(request)


def _fields(request: Any) -> None:
    for sp in _spans(request):
        _ = sp.end_time_unix_nano, sp.start_time_unix_nano, sp.status.code


def _two_attributes(request: Any) -> None:
    for sp in _spans(request):
        attributes = sp.attributes
        for i in (0, 1):
            kv = attributes[i]
            _ = kv.key, kv.value.string_value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rules", type=int, default=50)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    gc.set_threshold(*GC_THRESHOLDS)
    print(f"machine: {machine()}")
    print(f"CPU µs per item, 1000-item protobuf requests, best of {args.rounds} rounds of {args.requests}; "
          f"{args.rules} rules per signal")
    for signal in Signal:
        best = stages(signal, args.rules, args.requests, args.rounds)
        with_rules = sum(v for k, v in best.items() if k != "store, 0 rules")
        budget = 1e6 / TARGETS[signal]
        print(f"{signal.value}:")
        for label, us in best.items():
            print(f"  {label:<22} {us:6.2f}")
        print(f"  {'sum, with rules':<22} {with_rules:6.2f}  -> at most {1e6 / with_rules:,.0f}/s on one core before "
              f"HTTP; the target {TARGETS[signal]:,}/s allows {budget:.2f} µs in all")
    print("first touch of a freshly parsed span, CPU µs per span:")
    wrap = first_touch(_wrap, Signal.SPANS)
    print(f"  {'wrap each span':<40} {wrap:6.2f}")
    print(f"  {'+ end, start, status.code':<40} {first_touch(_fields, Signal.SPANS) - wrap:6.2f}")
    print(f"  {'+ two attributes (key and string value)':<40} {first_touch(_two_attributes, Signal.SPANS) - wrap:6.2f}")


if __name__ == "__main__":
    main()

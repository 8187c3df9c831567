"""The trace index at volume: records found the same once their chunks are sealed into sorted segments."""

from __future__ import annotations

import random
from datetime import timedelta

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from prometheus_client import CollectorRegistry

from collector.store.traces import TraceIndex
from tests.unit.store.resident import resident_after
from tests.unit.store.test_traces import MS, T0, TRACE, log, logs_request, span, spans_request

# Small enough that the index seals a segment every 1,024 records.
SMALL = 384 * 1024
SECOND = 10**9


def fillers(rng: random.Random, n: int, at_ms: int = 0) -> list[LogRecord]:
    """`n` log records, each in a trace of its own."""
    return [
        LogRecord(time_unix_nano=T0 + at_ms * MS, body=AnyValue(string_value=f"filler {i}"), trace_id=rng.randbytes(16))
        for i in range(n)
    ]


def index(
    max_bytes: int = SMALL, registry: CollectorRegistry | None = None, now: list[int] | None = None
) -> TraceIndex:
    clock = (lambda: now[0]) if now is not None else (lambda: T0)
    return TraceIndex(retention=timedelta(minutes=30), max_bytes=max_bytes, registry=registry, clock=clock)


def test_a_trace_spread_over_many_requests_comes_back_whole_and_in_order() -> None:
    rng = random.Random(1)
    idx = index()
    firsts = []
    # Ten requests of 300 records: the first ones end up sealed, the last ones are still young.
    for r in range(10):
        records = fillers(rng, 300, r)
        firsts.append(records[0].trace_id)
        records.insert(150, log(f"log {r}", r, span_n=r + 1))
        idx.add_logs(logs_request(*records), T0 + r)
        idx.add_spans(spans_request(span(r + 1, r if r else None, r)), T0 + r)
    assert idx.records_held == 10 * 302
    view = idx.get(TRACE)
    assert view is not None
    assert [(s.span.name, s.depth) for s in view.spans] == [(f"op-{r + 1}", r) for r in range(10)]
    assert [e.record.body.string_value for e in view.logs] == [f"log {r}" for r in range(10)]
    for r, first in enumerate(firsts):
        one = idx.get(first)
        assert one is not None and [e.record.body.string_value for e in one.logs] == ["filler 0"], r


def test_traces_sharing_the_first_half_of_their_id_stay_apart() -> None:
    rng = random.Random(2)
    idx = index()
    twin = TRACE[:8] + bytes(reversed(TRACE[8:]))
    for r in range(8):
        idx.add_logs(logs_request(*fillers(rng, 200, r), log(f"mine {r}", r), log(f"twin {r}", r, trace=twin)), T0)
    mine, theirs = idx.get(TRACE), idx.get(twin)
    assert mine is not None and theirs is not None
    assert [e.record.body.string_value for e in mine.logs] == [f"mine {r}" for r in range(8)]
    assert [e.record.body.string_value for e in theirs.logs] == [f"twin {r}" for r in range(8)]
    assert idx.get(TRACE[:8] + bytes(8)) is None


def test_eviction_reaches_into_sealed_segments_and_frees_every_byte() -> None:
    rng = random.Random(3)
    registry = CollectorRegistry()
    now = [T0]
    idx = index(registry=registry, now=now)
    n = 40
    for r in range(n):
        idx.add_logs(logs_request(*fillers(rng, 255, r), log(f"log {r}", r)), T0 + r * SECOND)
        assert idx.bytes_held <= SMALL
    evicted = registry.get_sample_value("vigil_trace_index_evicted_total", {"reason": "bytes"})
    kept = idx.get(TRACE)
    assert kept is not None
    oldest_kept = n - len(kept.logs)
    assert 0 < oldest_kept < n // 2
    assert [e.record.body.string_value for e in kept.logs] == [f"log {r}" for r in range(oldest_kept, n)]
    assert evicted == oldest_kept * 256
    # Half an hour after the twentieth request, the first twenty have left by age.
    now[0] = T0 + 30 * 60 * SECOND + n // 2 * SECOND
    view = idx.get(TRACE)
    assert view is not None
    assert [e.record.body.string_value for e in view.logs] == [f"log {r}" for r in range(n // 2, n)]
    assert idx.records_held == 256 * (n - n // 2)
    now[0] = T0 + 60 * 60 * SECOND
    assert idx.get(TRACE) is None
    assert (idx.records_held, idx.bytes_held) == (0, 0)


def test_logs_of_one_record_per_trace_take_at_most_one_and_a_half_times_their_size() -> None:
    rng = random.Random(4)
    requests = [logs_request(*fillers(rng, 1000, r)) for r in range(70)]
    raw = sum(
        r.ByteSize() for req in requests for rl in req.resource_logs for sl in rl.scope_logs for r in sl.log_records
    )
    idx = index(max_bytes=2**40)

    def add() -> None:
        for req in requests:
            idx.add_logs(req, T0)

    resident = resident_after(add)
    assert resident <= 1.5 * raw
    assert resident <= idx.bytes_held <= 1.1 * resident
    request: ExportLogsServiceRequest = requests[3]
    record = request.resource_logs[0].scope_logs[0].log_records[999]
    view = idx.get(record.trace_id)
    assert view is not None and [e.record for e in view.logs] == [record]

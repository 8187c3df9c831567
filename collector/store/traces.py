"""Trace index: spans and log records by trace ID, kept as raw protobuf, bounded by age and bytes."""

from __future__ import annotations

import sys
import time
from array import array
from bisect import bisect_right
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from itertools import accumulate
from typing import Any

import prometheus_client
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans
from prometheus_client import CollectorRegistry, Gauge

from collector.store.traceview import LogEntry, SpanEntry, TraceView, build_view

_ID_LEN = 16
_NO_TRACE = bytes(_ID_LEN)
# Resident cost of one trace's dict slot and key object, beyond its records (measured with tracemalloc).
_TRACE_ENTRY_BYTES = 120
# Cost of one more chunk of an already held trace: a list slot, and the list itself amortised.
_LINK_BYTES = 24
# Resident cost of a chunk's object, tuples and array headers beyond what sys.getsizeof reports of its parts.
_CHUNK_BYTES = 240


class _Chunk:
    """The traced records of one export request.

    Each ScopeSpans / ScopeLogs is serialised once, whole (one C call instead of one per record), and
    records are found again by their position in it. Records of one trace are listed together in
    `order`, so a lookup touches only the chunks that hold that trace.
    """

    __slots__ = (
        "blobs", "firsts", "logs", "order", "received_ns", "records", "resources", "size", "starts", "trace_ids",
        "traces",
    )

    def __init__(
        self, *, logs: bool, received_ns: int, blobs: list[bytes], resources: list[bytes], firsts: array[int],
        trace_ids: list[bytes], counts: Counter[bytes],
    ) -> None:
        self.logs = logs
        self.received_ns = received_ns
        self.blobs = tuple(blobs)
        # One entry per blob; blobs of one ResourceSpans share the same bytes object.
        self.resources = tuple(resources)
        # firsts[g]: number of the first record of blob g (records are numbered across blobs).
        self.firsts = firsts
        # The distinct IDs, sorted and back to back; the records of the k-th are order[starts[k]:starts[k+1]].
        # Sorting in C (a stable sort keeps each trace's records in arrival order) beats grouping in a loop.
        distinct = sorted(counts)
        self.trace_ids = b"".join(distinct)
        self.order = array("I", sorted(range(len(trace_ids)), key=trace_ids.__getitem__))
        self.starts = array("I", accumulate(map(counts.__getitem__, distinct), initial=0))
        self.records = len(trace_ids)
        self.traces = len(distinct)
        shared = {id(r): r for r in resources}
        self.size = (
            _CHUNK_BYTES
            + sum(map(sys.getsizeof, blobs))
            + sum(map(sys.getsizeof, shared.values()))
            + sys.getsizeof(self.trace_ids)
            + sys.getsizeof(self.order)
            + sys.getsizeof(self.starts)
            + sys.getsizeof(firsts)
            + 16 * len(blobs)
        )

    def distinct_ids(self) -> Iterator[bytes]:
        ids = self.trace_ids
        return (ids[pos : pos + _ID_LEN] for pos in range(0, len(ids), _ID_LEN))

    def record_numbers(self, trace_id: bytes) -> array[int]:
        pos = self.trace_ids.find(trace_id)
        # IDs sit at multiples of 16; a match straddling two of them is not this trace.
        while pos >= 0 and pos % _ID_LEN:
            pos = self.trace_ids.find(trace_id, pos + 1)
        if pos < 0:
            return array("I")
        k = pos // _ID_LEN
        return self.order[self.starts[k] : self.starts[k + 1]]


def _traced(trace_id: bytes) -> bool:
    return len(trace_id) == _ID_LEN and trace_id != _NO_TRACE


class TraceIndex:
    """Spans and log records by trace ID, oldest evicted first once older than `retention` or over `max_bytes`.

    `bytes_held` is the estimated resident memory of the index (records, their resources and the index
    itself), so `max_bytes` bounds memory, not just payload. Not thread-safe: use it from the event loop.
    """

    def __init__(
        self,
        *,
        retention: timedelta,
        max_bytes: int,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._retention_ns = int(retention.total_seconds() * 1e9)
        self._max_bytes = max_bytes
        self._clock = clock
        self._chunks: deque[_Chunk] = deque()
        # The chunk holding each trace, or its chunks oldest first (the order they are evicted in).
        self._traces: dict[bytes, _Chunk | list[_Chunk]] = {}
        self._bytes = 0
        Gauge(
            "vigil_trace_index_bytes", "Estimated memory held by the trace index.", registry=registry
        ).set_function(lambda: self._bytes)
        Gauge(
            "vigil_trace_index_traces", "Traces with spans or logs in the trace index.", registry=registry
        ).set_function(lambda: len(self._traces))
        evicted = prometheus_client.Counter(
            "vigil_trace_index_evicted_total",
            "Spans and log records dropped from the trace index, by reason (age: retention.traces, "
            "bytes: retention.max_bytes).",
            ["reason"],
            registry=registry,
        )
        self._evicted_age = evicted.labels(reason="age")
        self._evicted_bytes = evicted.labels(reason="bytes")

    @property
    def bytes_held(self) -> int:
        return self._bytes

    @property
    def traces_held(self) -> int:
        return len(self._traces)

    def add_spans(self, request: ExportTraceServiceRequest, received_ns: int) -> None:
        """Index every span of an accepted request."""
        groups = ((rs.resource, rs.scope_spans) for rs in request.resource_spans)
        self._add(groups, "spans", ScopeSpans, received_ns, logs=False)

    def add_logs(self, request: ExportLogsServiceRequest, received_ns: int) -> None:
        """Index the log records of an accepted request that carry a trace ID."""
        groups = ((rl.resource, rl.scope_logs) for rl in request.resource_logs)
        self._add(groups, "log_records", ScopeLogs, received_ns, logs=True)

    def _add(
        self, groups: Iterable[tuple[Any, Any]], field: str, scope_type: Any, received_ns: int, *, logs: bool
    ) -> None:
        scopes: list[tuple[Any, Any, Any]] = []
        trace_ids: list[bytes] = []
        for resource, scope_list in groups:
            for scope in scope_list:
                records = getattr(scope, field)
                if records:
                    scopes.append((resource, scope, records))
                    trace_ids.extend([r.trace_id for r in records])
        counts = Counter(trace_ids)
        if not counts:
            self.evict()
            return
        if min(map(len, counts)) == max(map(len, counts)) == _ID_LEN and _NO_TRACE not in counts:
            blobs = [scope.SerializeToString() for _, scope, _ in scopes]
            sizes = [len(records) for _, _, records in scopes]
            resource_of = [resource for resource, _, _ in scopes]
        else:
            # Some records carry no trace ID (common for logs): keep only the others.
            blobs, sizes, resource_of, trace_ids = [], [], [], []
            for resource, scope, records in scopes:
                kept = [r for r in records if _traced(r.trace_id)]
                if len(kept) < len(records):
                    if not kept:
                        continue
                    scope = scope_type(scope=scope.scope, schema_url=scope.schema_url)
                    getattr(scope, field).extend(kept)
                blobs.append(scope.SerializeToString())
                sizes.append(len(kept))
                resource_of.append(resource)
                trace_ids.extend([r.trace_id for r in kept])
            counts = Counter(trace_ids)
            if not counts:
                self.evict()
                return
        # Serialise each resource once; the blobs of its scopes share those bytes.
        serialised: dict[int, bytes] = {}
        resources = []
        for resource in resource_of:
            raw = serialised.get(id(resource))
            if raw is None:
                raw = serialised[id(resource)] = resource.SerializeToString()
            resources.append(raw)
        firsts = array("I", accumulate(sizes[:-1], initial=0))
        chunk = _Chunk(
            logs=logs, received_ns=received_ns, blobs=blobs, resources=resources, firsts=firsts,
            trace_ids=trace_ids, counts=counts,
        )
        self._keep(chunk)
        self.evict()

    def _keep(self, chunk: _Chunk) -> None:
        traces = self._traces
        new = 0
        for t in chunk.distinct_ids():
            held = traces.get(t)
            if held is None:
                # Most traces sit in one chunk: hold it directly and spare a list per trace.
                traces[t] = chunk
                new += 1
            elif isinstance(held, list):
                held.append(chunk)
            else:
                traces[t] = [held, chunk]
        chunk.size += (chunk.traces - new) * _LINK_BYTES
        self._chunks.append(chunk)
        self._bytes += chunk.size + new * _TRACE_ENTRY_BYTES

    def evict(self, now_ns: int | None = None) -> None:
        """Drop chunks older than the retention, then the oldest ones until under `max_bytes`."""
        chunks = self._chunks
        cutoff = (self._clock() if now_ns is None else now_ns) - self._retention_ns
        while chunks and chunks[0].received_ns < cutoff:
            self._evicted_age.inc(self._drop(chunks.popleft()))
        while chunks and self._bytes > self._max_bytes:
            self._evicted_bytes.inc(self._drop(chunks.popleft()))

    def _drop(self, chunk: _Chunk) -> int:
        traces = self._traces
        gone = 0
        for t in chunk.distinct_ids():
            held = traces[t]
            if held is chunk:
                del traces[t]
                gone += 1
            elif isinstance(held, list):
                # Chunks leave in arrival order, so this one is the trace's oldest: first in its list.
                held.remove(chunk)
                if len(held) == 1:
                    traces[t] = held[0]
        self._bytes -= chunk.size + gone * _TRACE_ENTRY_BYTES
        return chunk.records

    def get(self, trace_id: bytes) -> TraceView | None:
        """Every span and log record held for `trace_id`, decoded; None if nothing is known about it."""
        self.evict()
        held = self._traces.get(trace_id)
        if held is None:
            return None
        spans: list[SpanEntry] = []
        logs: list[LogEntry] = []
        resources: dict[bytes, Any] = {}
        for chunk in held if isinstance(held, list) else (held,):
            parsed: dict[int, tuple[Any, Any]] = {}
            for number in chunk.record_numbers(trace_id):
                g = bisect_right(chunk.firsts, number) - 1
                blob = parsed.get(g)
                if blob is None:
                    message = (ScopeLogs if chunk.logs else ScopeSpans).FromString(chunk.blobs[g])
                    blob = parsed[g] = (message, _copy(message.scope))
                message, scope = blob
                resource_bytes = chunk.resources[g]
                resource = resources.get(resource_bytes)
                if resource is None:
                    resource = resources[resource_bytes] = Resource.FromString(resource_bytes)
                index = number - chunk.firsts[g]
                if chunk.logs:
                    logs.append(LogEntry(_copy(message.log_records[index]), resource, scope, chunk.received_ns))
                else:
                    spans.append(SpanEntry(_copy(message.spans[index]), resource, scope, chunk.received_ns))
        return build_view(trace_id, spans, logs)


def _copy(record: Any) -> Any:
    # A sub-message keeps its whole parsed ScopeSpans alive; a copy lets a view outlive the parse cheaply.
    out = type(record)()
    out.CopyFrom(record)
    return out


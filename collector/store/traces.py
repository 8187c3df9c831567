"""Trace index: spans and log records by trace ID, kept as raw protobuf, bounded by age and bytes."""

from __future__ import annotations

import struct
import sys
import time
from array import array
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Iterable, KeysView
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

from collector.model import Scanned
from collector.store.traceview import LogEntry, SpanEntry, TraceView, build_view

_ID_LEN = 16
_NO_TRACE = bytes(_ID_LEN)
_BAD_IDS = frozenset({_NO_TRACE})
_IDS = struct.Struct(f"{_ID_LEN}s")
# Resident cost of one trace's dict slot and key object, beyond its records (measured with tracemalloc).
_TRACE_ENTRY_BYTES = 120
# Cost of one more chunk of an already held trace: a list slot, and the list itself amortised.
_LINK_BYTES = 24
# Resident cost of a chunk's object, tuples and array headers beyond what sys.getsizeof reports of its parts.
_CHUNK_BYTES = 240


class _Chunk:
    """The traced records of one export request, as protobuf bytes.

    When ingest hands over the request's own encoding (nothing was removed or rewritten, every record
    carries a trace ID), that is the one blob (`whole`): nothing is serialised again. Otherwise each
    ScopeSpans / ScopeLogs is serialised once, whole (one C call instead of one per record). Records are
    numbered across the non-empty scopes, in order, and found again by that number. `ids` holds each
    record's trace ID back to back in the same order, so a lookup finds a trace's records with
    `bytes.find`, in C, and adding a chunk never sorts. `seq` numbers chunks in arrival order.
    """

    __slots__ = ("blobs", "firsts", "ids", "logs", "received_ns", "records", "resources", "seq", "size", "whole")

    def __init__(
        self, *, seq: int, logs: bool, received_ns: int, blobs: tuple[bytes, ...], resources: tuple[bytes, ...],
        firsts: array[int], ids: bytes,
    ) -> None:
        self.seq = seq
        self.logs = logs
        self.received_ns = received_ns
        self.blobs = blobs
        self.whole = not resources
        # One entry per scope blob (none for a whole request); blobs of one resource share the same bytes.
        self.resources = resources
        # firsts[g]: number of the first record of scope g (records are numbered across scopes).
        self.firsts = firsts
        self.ids = ids
        self.records = len(ids) // _ID_LEN
        shared = {id(r): r for r in resources}
        self.size = (
            _CHUNK_BYTES
            + sum(map(sys.getsizeof, blobs))
            + sum(map(sys.getsizeof, shared.values()))
            + sys.getsizeof(ids)
            + sys.getsizeof(firsts)
            + 16 * (len(blobs) + len(resources))
        )

    def distinct_ids(self) -> list[bytes]:
        return list(dict.fromkeys([t for (t,) in _IDS.iter_unpack(self.ids)]))

    def release(self) -> None:
        """Let go of the records (the chunk has left the index; a trace's list may still name it for a while)."""
        self.blobs = self.resources = ()
        self.ids = b""
        self.firsts = array("I")

    def record_numbers(self, trace_id: bytes) -> list[int]:
        ids, out = self.ids, []
        pos = ids.find(trace_id)
        while pos >= 0:
            # IDs sit at multiples of 16; a match straddling two of them is not this trace.
            if pos % _ID_LEN:
                pos = ids.find(trace_id, pos + 1)
            else:
                out.append(pos // _ID_LEN)
                pos = ids.find(trace_id, pos + _ID_LEN)
        return out

    def scope(self, g: int, parsed: dict[object, Any]) -> tuple[Any, Any]:
        """(Resource, ScopeSpans / ScopeLogs) of scope g, which holds records firsts[g]…, parsed when first asked.

        `parsed` keeps what one lookup has parsed: a whole request by its chunk, a resource by its bytes.
        """
        if self.whole:
            scopes = parsed.get(self)
            if scopes is None:
                scopes = parsed[self] = self._scopes_of_request()
            found: tuple[Any, Any] = scopes[g]
            return found
        raw = self.resources[g]
        resource = parsed.get(raw)
        if resource is None:
            resource = parsed[raw] = Resource.FromString(raw)
        return resource, (ScopeLogs if self.logs else ScopeSpans).FromString(self.blobs[g])

    def _scopes_of_request(self) -> list[tuple[Any, Any]]:
        if self.logs:
            logs = ExportLogsServiceRequest.FromString(self.blobs[0])
            return [(rl.resource, sl) for rl in logs.resource_logs for sl in rl.scope_logs if sl.log_records]
        spans = ExportTraceServiceRequest.FromString(self.blobs[0])
        return [(rs.resource, ss) for rs in spans.resource_spans for ss in rs.scope_spans if ss.spans]


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
        # The chunk holding each trace, or its chunks oldest first (the order they are evicted in). A list
        # may still start with chunks that have left (`seq` below `_live_from`): an evicted chunk is not
        # looked for in the lists that name it (one memmove per trace, and a long trace's list is long);
        # a list sheds such chunks when it next grows, and a trace goes once its newest chunk has left.
        self._traces: dict[bytes, _Chunk | list[_Chunk]] = {}
        self._next_seq = 0
        self._live_from = 0
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

    def add_spans(self, request: ExportTraceServiceRequest, received_ns: int, scanned: Scanned | None = None) -> None:
        """Index every span of an accepted request (`scanned`: what ingest read from it, when it did)."""
        groups = ((rs.resource, rs.scope_spans) for rs in request.resource_spans)
        self._add(groups, "spans", ScopeSpans, received_ns, scanned, logs=False)

    def add_logs(self, request: ExportLogsServiceRequest, received_ns: int, scanned: Scanned | None = None) -> None:
        """Index the log records of an accepted request that carry a trace ID (`scanned` as for add_spans)."""
        groups = ((rl.resource, rl.scope_logs) for rl in request.resource_logs)
        self._add(groups, "log_records", ScopeLogs, received_ns, scanned, logs=True)

    def _add(
        self, groups: Iterable[tuple[Any, Any]], field: str, scope_type: Any, received_ns: int,
        scanned: Scanned | None, *, logs: bool,
    ) -> None:
        scopes: list[tuple[Any, Any, Any]] = []
        for resource, scope_list in groups:
            for scope in scope_list:
                records = getattr(scope, field)
                if records:
                    scopes.append((resource, scope, records))
        sizes = [len(records) for _, _, records in scopes]
        if scanned is not None and len(scanned.trace_ids) == sum(sizes):
            trace_ids, body = scanned.trace_ids, scanned.body
        else:
            trace_ids, body = [r.trace_id for _, _, records in scopes for r in records], None
        if not trace_ids:
            self.evict()
            return
        distinct = dict.fromkeys(trace_ids)
        if distinct.keys().isdisjoint(_BAD_IDS) and set(map(len, distinct)) == {_ID_LEN}:
            if body is not None:
                # Every record is in the request's own bytes: keep those, serialise nothing.
                blobs: tuple[bytes, ...] = (body,)
                resources: tuple[bytes, ...] = ()
            else:
                blobs = tuple(scope.SerializeToString() for _, scope, _ in scopes)
                resources = self._resources([resource for resource, _, _ in scopes])
        else:
            # Some records carry no trace ID (common for logs): keep only the others.
            kept_blobs, resource_of, sizes, trace_ids = [], [], [], []
            for resource, scope, records in scopes:
                kept = [r for r in records if _traced(r.trace_id)]
                if len(kept) < len(records):
                    if not kept:
                        continue
                    scope = scope_type(scope=scope.scope, schema_url=scope.schema_url)
                    getattr(scope, field).extend(kept)
                kept_blobs.append(scope.SerializeToString())
                sizes.append(len(kept))
                resource_of.append(resource)
                trace_ids += [r.trace_id for r in kept]
            if not trace_ids:
                self.evict()
                return
            distinct = dict.fromkeys(trace_ids)
            blobs, resources = tuple(kept_blobs), self._resources(resource_of)
        firsts = array("I", accumulate(sizes[:-1], initial=0))
        chunk = _Chunk(
            seq=self._next_seq, logs=logs, received_ns=received_ns, blobs=blobs, resources=resources,
            firsts=firsts, ids=b"".join(trace_ids),
        )
        self._next_seq += 1
        self._keep(chunk, distinct.keys())
        self.evict()

    @staticmethod
    def _resources(resource_of: list[Any]) -> tuple[bytes, ...]:
        # Serialise each resource once; the blobs of its scopes share those bytes.
        serialised: dict[int, bytes] = {}
        out = []
        for resource in resource_of:
            raw = serialised.get(id(resource))
            if raw is None:
                raw = serialised[id(resource)] = resource.SerializeToString()
            out.append(raw)
        return tuple(out)

    def _keep(self, chunk: _Chunk, distinct: KeysView[bytes]) -> None:
        traces = self._traces
        known = traces.keys() & distinct
        live_from = self._live_from
        for t in known:
            held = traces[t]
            if isinstance(held, list):
                if held[len(held) // 2].seq < live_from:
                    # At least half of the list has left: trimming now costs O(1) per chunk ever added.
                    del held[: bisect_left(held, live_from, key=_seq)]
                held.append(chunk)
            else:
                traces[t] = [held, chunk]
        # Most traces are new, and then sit in one chunk: hold it directly and spare a list per trace.
        # Adding them all at once keeps the loop above (in Python) to the traces already held.
        before = len(traces)
        traces.update(dict.fromkeys(distinct - known if known else distinct, chunk))
        new = len(traces) - before
        chunk.size += len(known) * _LINK_BYTES
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
        distinct = chunk.distinct_ids()
        # Chunks leave in arrival order: a trace whose newest chunk leaves has nothing left.
        gone = [
            t for t, held in zip(distinct, map(traces.__getitem__, distinct), strict=True)
            if held is chunk or (isinstance(held, list) and held[-1] is chunk)
        ]
        for t in gone:
            del traces[t]
        self._live_from = chunk.seq + 1
        self._bytes -= chunk.size + len(gone) * _TRACE_ENTRY_BYTES
        records = chunk.records
        chunk.release()
        return records

    def get(self, trace_id: bytes) -> TraceView | None:
        """Every span and log record held for `trace_id`, decoded; None if nothing is known about it."""
        self.evict()
        held = self._traces.get(trace_id)
        if held is None:
            return None
        spans: list[SpanEntry] = []
        logs: list[LogEntry] = []
        # One object per distinct resource, shared by its entries (the view works each out once).
        resources: dict[bytes, Any] = {}
        parsed: dict[object, Any] = {}
        for chunk in held if isinstance(held, list) else (held,):
            if chunk.seq < self._live_from:
                continue
            copied: dict[int, tuple[Any, Any, Any]] = {}
            for number in chunk.record_numbers(trace_id):
                g = bisect_right(chunk.firsts, number) - 1
                found = copied.get(g)
                if found is None:
                    resource, message = chunk.scope(g, parsed)
                    raw = resource.SerializeToString()
                    shared = resources.get(raw)
                    if shared is None:
                        shared = resources[raw] = _copy(resource)
                    found = copied[g] = (message, shared, _copy(message.scope))
                message, resource, scope = found
                index = number - chunk.firsts[g]
                if chunk.logs:
                    logs.append(LogEntry(_copy(message.log_records[index]), resource, scope, chunk.received_ns))
                else:
                    spans.append(SpanEntry(_copy(message.spans[index]), resource, scope, chunk.received_ns))
        return build_view(trace_id, spans, logs)



def _seq(chunk: _Chunk) -> int:
    return chunk.seq


def _copy(record: Any) -> Any:
    # A sub-message keeps its whole parsed request alive; a copy lets a view outlive the parse cheaply.
    out = type(record)()
    out.CopyFrom(record)
    return out

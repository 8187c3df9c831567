"""Trace index: spans and log records by trace ID, kept as raw protobuf, bounded by age and bytes."""

from __future__ import annotations

import sys
import time
from array import array
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable
from datetime import timedelta
from itertools import accumulate
from typing import Any

import numpy as np
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
# Resident cost of a chunk's object, tuples, array headers and deque slots, beyond what sys.getsizeof
# reports of its parts.
_CHUNK_BYTES = 256
# Resident cost of a segment's object and tuple beyond its arrays, and per chunk it names.
_SEGMENT_BYTES = 200
_SEGMENT_PER_CHUNK = 8
# A segment indexes at most this many records (sealing sorts them: ~5 ms, once per 65,536 records)…
_SEAL_MAX = 65_536
# …and at least this many, unless max_bytes is so small that the index never holds as many.
_SEAL_MIN = 1024
# A segment's index (12 bytes a record) stays within 1/32 of max_bytes: it is freed only with its last chunk.
_SEAL_SHARE = 32 * 12
_EMPTY_BYTES = sys.getsizeof(b"")


class _Chunk:
    """The traced records of one export request, as protobuf bytes.

    When ingest hands over the request's own encoding (nothing was removed or rewritten, every record
    carries a trace ID), that is the one blob (`whole`): nothing is serialised again. Otherwise each
    ScopeSpans / ScopeLogs is serialised once, whole (one C call instead of one per record). Records are
    numbered across the non-empty scopes, in order, and found again by that number. `ids` holds each
    record's trace ID back to back in the same order, so a lookup finds a trace's records with
    `bytes.find`, in C, until the chunk is sealed into a `_Segment` (which then holds what lookups need
    and `ids` is let go). `seq` numbers chunks in arrival order.
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

    def release(self) -> None:
        """Let go of the records (the chunk has left the index; its segment may still name it for a while)."""
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


class _Segment:
    """The sealed index of consecutive chunks: the first 8 bytes of each record's trace ID, sorted.

    `keys[i]` is that prefix (as a little-endian integer) for the segment's record `order[i]`; records are
    numbered across the segment's chunks, chunk k's first being `starts[k]`. That is 12 bytes a record,
    where a dict entry and key object per trace cost ~120. Two traces may share a prefix: a record read
    back is checked against the whole ID. A segment leaves the index with its last chunk.
    """

    __slots__ = ("chunks", "keys", "last", "order", "size", "starts")

    def __init__(self, chunks: list[_Chunk]) -> None:
        prefixes = np.frombuffer(b"".join(c.ids for c in chunks), dtype="<u8")[::2]
        order = prefixes.argsort()
        self.keys = prefixes[order]
        self.order = order.astype(np.uint32)
        self.chunks = tuple(chunks)
        self.starts = array("I", accumulate((c.records for c in chunks[:-1]), initial=0))
        self.last = chunks[-1]
        self.size = (
            _SEGMENT_BYTES + _SEGMENT_PER_CHUNK * len(chunks)
            + sys.getsizeof(self.keys) + sys.getsizeof(self.order) + sys.getsizeof(self.starts)
        )

    def find(self, trace_id: bytes) -> list[tuple[_Chunk, int]]:
        """(chunk, record number within it) of each record whose trace ID starts as `trace_id` does, in order."""
        key = np.uint64(int.from_bytes(trace_id[:8], "little"))
        keys = self.keys
        lo, hi = int(keys.searchsorted(key, "left")), int(keys.searchsorted(key, "right"))
        out = []
        for number in sorted(self.order[lo:hi].tolist()):
            k = bisect_right(self.starts, number) - 1
            out.append((self.chunks[k], number - self.starts[k]))
        return out


def _traced(trace_id: bytes) -> bool:
    return len(trace_id) == _ID_LEN and trace_id != _NO_TRACE


class TraceIndex:
    """Spans and log records by trace ID, oldest evicted first once older than `retention` or over `max_bytes`.

    Each export request's records are one chunk. The newest chunks are looked through one by one; every
    `_SEAL_MAX` records or so (fewer for a small `max_bytes`) they are sealed into a segment, a sorted
    index of their trace IDs. Nothing is kept per trace, so a trace of one log record costs no more than
    the record. `bytes_held` is the estimated resident memory of the index (records, their resources and
    the index itself), so `max_bytes` bounds memory, not just payload. Not thread-safe: use it from the
    event loop.
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
        self._seal_at = max(_SEAL_MIN, min(_SEAL_MAX, max_bytes // _SEAL_SHARE))
        self._clock = clock
        # Every chunk held, oldest first (the order they are evicted in)…
        self._chunks: deque[_Chunk] = deque()
        # …the sealed ones by segment, oldest first; a segment may still name chunks that have left
        # (`seq` below `_live_from`), which lookups pass over…
        self._segments: deque[_Segment] = deque()
        # …and the newest ones, not sealed yet.
        self._young: deque[_Chunk] = deque()
        self._young_records = 0
        self._next_seq = 0
        self._live_from = 0
        self._bytes = 0
        self._records = 0
        Gauge(
            "vigil_trace_index_bytes", "Estimated memory held by the trace index.", registry=registry
        ).set_function(lambda: self._bytes)
        Gauge(
            "vigil_trace_index_records", "Spans and log records held in the trace index.", registry=registry
        ).set_function(lambda: self._records)
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
    def records_held(self) -> int:
        return self._records

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
        if _NO_TRACE not in trace_ids and set(map(len, trace_ids)) == {_ID_LEN}:
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
            blobs, resources = tuple(kept_blobs), self._resources(resource_of)
        firsts = array("I", accumulate(sizes[:-1], initial=0))
        chunk = _Chunk(
            seq=self._next_seq, logs=logs, received_ns=received_ns, blobs=blobs, resources=resources,
            firsts=firsts, ids=b"".join(trace_ids),
        )
        self._next_seq += 1
        self._chunks.append(chunk)
        self._young.append(chunk)
        self._young_records += chunk.records
        self._records += chunk.records
        self._bytes += chunk.size
        if self._young_records >= self._seal_at:
            self._seal()
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

    def _seal(self) -> None:
        """Index the young chunks in a new segment, which from now on finds their records."""
        young = list(self._young)
        segment = _Segment(young)
        freed = 0
        for chunk in young:
            ids = sys.getsizeof(chunk.ids) - _EMPTY_BYTES
            chunk.size -= ids
            freed += ids
            chunk.ids = b""
        self._segments.append(segment)
        self._young.clear()
        self._young_records = 0
        self._bytes += segment.size - freed

    def evict(self, now_ns: int | None = None) -> None:
        """Drop chunks older than the retention, then the oldest ones until under `max_bytes`."""
        chunks = self._chunks
        cutoff = (self._clock() if now_ns is None else now_ns) - self._retention_ns
        while chunks and chunks[0].received_ns < cutoff:
            self._evicted_age.inc(self._drop(chunks.popleft()))
        while chunks and self._bytes > self._max_bytes:
            self._evicted_bytes.inc(self._drop(chunks.popleft()))

    def _drop(self, chunk: _Chunk) -> int:
        # Chunks leave in arrival order: a young chunk leaves after every segment has.
        if self._young and self._young[0] is chunk:
            self._young.popleft()
            self._young_records -= chunk.records
        elif self._segments[0].last is chunk:
            self._bytes -= self._segments.popleft().size
        self._live_from = chunk.seq + 1
        self._bytes -= chunk.size
        records = chunk.records
        self._records -= records
        chunk.release()
        return records

    def get(self, trace_id: bytes) -> TraceView | None:
        """Every span and log record held for `trace_id`, decoded; None if nothing is known about it."""
        self.evict()
        if len(trace_id) != _ID_LEN:
            return None
        live_from = self._live_from
        # The records to read, by chunk, oldest chunk first.
        found: dict[_Chunk, list[int]] = {}
        for segment in self._segments:
            for chunk, number in segment.find(trace_id):
                if chunk.seq >= live_from:
                    found.setdefault(chunk, []).append(number)
        for chunk in self._young:
            numbers = chunk.record_numbers(trace_id)
            if numbers:
                found[chunk] = numbers
        spans: list[SpanEntry] = []
        logs: list[LogEntry] = []
        # One object per distinct resource, shared by its entries (the view works each out once).
        resources: dict[bytes, Any] = {}
        parsed: dict[object, Any] = {}
        for chunk, numbers in found.items():
            copied: dict[int, tuple[Any, Any, Any]] = {}
            for number in numbers:
                g = bisect_right(chunk.firsts, number) - 1
                scope_of = copied.get(g)
                if scope_of is None:
                    resource, message = chunk.scope(g, parsed)
                    raw = resource.SerializeToString()
                    shared = resources.get(raw)
                    if shared is None:
                        shared = resources[raw] = _copy(resource)
                    scope_of = copied[g] = (message, shared, _copy(message.scope))
                message, resource, scope = scope_of
                index = number - chunk.firsts[g]
                # A segment finds records by the first half of their trace ID: check the whole of it.
                if chunk.logs:
                    record = message.log_records[index]
                    if record.trace_id == trace_id:
                        logs.append(LogEntry(_copy(record), resource, scope, chunk.received_ns))
                else:
                    record = message.spans[index]
                    if record.trace_id == trace_id:
                        spans.append(SpanEntry(_copy(record), resource, scope, chunk.received_ns))
        if not spans and not logs:
            return None
        return build_view(trace_id, spans, logs)


def _copy(record: Any) -> Any:
    # A sub-message keeps its whole parsed request alive; a copy lets a view outlive the parse cheaply.
    out = type(record)()
    out.CopyFrom(record)
    return out

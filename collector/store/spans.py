"""Span windows: the hot ingest loop, span buckets (count, errors, latency sketch, exemplars) and their measures.

Per request, spans are grouped by (time step, key tuple) with nothing but list
appends and a few field reads; each group is then turned into counts and a
sketch once, and folded into every series its key tuple feeds. Latency is
``(end - start) / 1e6`` milliseconds; a span whose end precedes its start counts
as 0 ms. The time of a span is its end time.
"""

from __future__ import annotations

import heapq
import math
import struct
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.store import sketch
from collector.store.plan import SERVICE, Plan
from collector.store.series import Table
from collector.store.windows import MAX_EXEMPLARS, QUANTILES, Exemplar, WindowStats, best_exemplars, ratio

_STATUS_ERROR = 2
_HEAD = struct.Struct("<IIIdf")  # idx, count, errors, total ms, max ms
_EX = struct.Struct("<?fQ16s8s")  # error, duration ms, time, trace id, span id
# A sealed bucket keeps its single best exemplar; the filling buckets keep MAX_EXEMPLARS.
_SEALED_EXEMPLARS = 1

# (error, duration ms, time ns, trace id, span id): tuples sort best first when reversed.
ExemplarRow = tuple[bool, float, int, bytes, bytes]
# time step -> key tuple -> (durations ns, spans, error spans)
Group = tuple[list[int], list[Any], list[Any]]
Groups = dict[int, dict[tuple[Any, ...], Group]]


class SpanBucket:
    """Spans of one series in one time bucket."""

    __slots__ = ("count", "errors", "ex", "idx", "max_ms", "sk", "total_ms")

    def __init__(self, idx: int) -> None:
        self.idx = idx
        self.count = 0
        self.errors = 0
        self.total_ms = 0.0
        self.max_ms = 0.0
        self.sk = sketch.Dense()
        # Packed exemplar rows (_EX), best first: a tuple per row would cost four times the memory.
        self.ex: list[bytes] = []


class SpanKind:
    """Creates, seals and unseals span buckets."""

    def new(self, idx: int) -> SpanBucket:
        return SpanBucket(idx)

    def seal(self, b: SpanBucket) -> bytes:
        ex = b.ex[:_SEALED_EXEMPLARS]
        parts = [_HEAD.pack(b.idx, b.count, b.errors, b.total_ms, b.max_ms), bytes((len(ex),)), *ex]
        parts.append(b.sk.pack())
        return b"".join(parts)

    def unseal(self, blob: bytes) -> SpanBucket:
        idx, count, errors, total, top = _HEAD.unpack_from(blob)
        b = SpanBucket(idx)
        b.count, b.errors, b.total_ms, b.max_ms = count, errors, total, top
        rows, offset = _unpack_exemplars(blob)
        b.ex = [_EX.pack(*row) for row in rows]
        b.sk = sketch.Dense.unpack(blob, offset)
        return b


def _unpack_exemplars(blob: bytes) -> tuple[list[ExemplarRow], int]:
    offset = _HEAD.size
    n = blob[offset]
    offset += 1
    rows: list[ExemplarRow] = []
    for _ in range(n):
        err, dur, t, trace, span = _EX.unpack_from(blob, offset)
        rows.append((err, dur, t, trace, span))
        offset += _EX.size
    return rows, offset


def read_spans(
    request: ExportTraceServiceRequest, plan: Plan, received_ns: int, oldest_ns: int, step_ns: int
) -> tuple[Groups, int]:
    """Group the spans of a request by (time step, key tuple): [durations ns, spans, error spans].

    Returns the groups and the count of spans too old to keep.
    """
    layout = plan.layout
    attrs = layout.attrs
    n_attrs = len(attrs)
    get_slot = attrs.get
    name_i = layout.fields.get("span.name", 0)
    kind_i = layout.fields.get("span.kind", 0)
    status_i = layout.fields.get("status.code", 0)
    newest_ns = received_ns + 60_000_000_000
    groups: Groups = {}
    late = 0
    lo = hi = 0
    current: dict[tuple[Any, ...], Group] = {}
    for rs in request.resource_spans:
        base: list[Any] = [None] * len(layout.keys)
        for kv in rs.resource.attributes:
            key = kv.key
            if key == SERVICE:
                base[0] = kv.value.string_value
            else:
                slot = get_slot(key)
                if slot is not None:
                    base[slot] = kv.SerializeToString()
        const = tuple(base) if not (n_attrs or name_i or kind_i or status_i) else None
        for ss in rs.scope_spans:
            for sp in ss.spans:
                end = sp.end_time_unix_nano
                if end < oldest_ns or end > newest_ns:
                    if end and end <= newest_ns:
                        late += 1
                        continue
                    at = received_ns
                else:
                    at = end
                if not lo <= at < hi:
                    # Spans of a request mostly share a step: compare bounds instead of dividing.
                    step = at // step_ns
                    lo, hi = step * step_ns, (step + 1) * step_ns
                    current = groups.setdefault(step, {})
                dur = end - sp.start_time_unix_nano
                status = sp.status.code
                if const is not None:
                    tup = const
                else:
                    vals = base.copy()
                    if n_attrs:
                        found = 0
                        for kv in sp.attributes:
                            slot = get_slot(kv.key)
                            if slot is not None:
                                vals[slot] = kv.SerializeToString()
                                found += 1
                                if found == n_attrs:
                                    break
                    if name_i:
                        vals[name_i] = sp.name
                    if kind_i:
                        vals[kind_i] = sp.kind
                    if status_i:
                        vals[status_i] = status
                    tup = tuple(vals)
                g = current.get(tup)
                if g is None:
                    g = current[tup] = ([], [], [])
                g[0].append(dur)
                g[1].append(sp)
                if status == _STATUS_ERROR:
                    g[2].append(sp)
    return groups, late


def _row(sp: Any, error: bool) -> ExemplarRow:
    end = sp.end_time_unix_nano
    dur = max(0, end - sp.start_time_unix_nano) * 1e-6
    return (error, dur, end, bytes(sp.trace_id), bytes(sp.span_id))


class _Part:
    """One group, summed up once, before it is added to every series it feeds."""

    __slots__ = ("_durs", "_errs", "_rows", "_spans", "bins", "count", "errors", "rank", "top_ms", "total_ms")

    def __init__(self, durs: list[int], spans: list[Any], errs: list[Any]) -> None:
        log, ceil, inv, zero = math.log, math.ceil, sketch.INV_LOG_GAMMA, sketch.ZERO
        self.count = len(durs)
        self.errors = len(errs)
        top = max(durs)
        self.top_ms = max(top, 0) * 1e-6
        self.total_ms = sum([d for d in durs if d > 0]) * 1e-6 if top > 0 else 0.0
        bins: sketch.Bins = {}
        get = bins.get
        for d in durs:
            k = ceil(log(d * 1e-6) * inv) if d > 0 else zero
            bins[k] = get(k, 0) + 1
        self.bins = bins
        # Exemplar rows are built only for buckets they would enter: reading IDs costs more than ranking.
        if errs:
            worst_ns = max(sp.end_time_unix_nano - sp.start_time_unix_nano for sp in errs[:MAX_EXEMPLARS])
            self.rank = (True, max(worst_ns, 0) * 1e-6)
        else:
            self.rank = (False, self.top_ms)
        self._errs = errs
        self._durs = durs
        self._spans = spans
        self._rows: list[ExemplarRow] | None = None

    def rows(self) -> list[ExemplarRow]:
        if self._rows is None:
            rows = [_row(sp, True) for sp in self._errs[:MAX_EXEMPLARS]]
            if len(rows) < MAX_EXEMPLARS:
                slowest = heapq.nlargest(MAX_EXEMPLARS, range(len(self._durs)), key=self._durs.__getitem__)
                ok = [self._spans[i] for i in slowest if self._spans[i].status.code != _STATUS_ERROR]
                rows.extend(_row(sp, False) for sp in ok[: MAX_EXEMPLARS - len(rows)])
            rows.sort(reverse=True)
            self._rows = rows
        return self._rows


def fold_spans(groups: Groups, plan: Plan, step_ns: int, received_ns: int) -> None:
    """Add each group to every series its key tuple feeds, one update per (table, series, bucket)."""
    targets_of = plan.targets
    entries: dict[tuple[Table[SpanBucket], tuple[str, ...], int], list[_Part]] = {}
    get_entry = entries.get
    for step, step_groups in groups.items():
        for tup, (durs, spans, errs) in step_groups.items():
            targets: list[tuple[Table[SpanBucket], tuple[str, ...]]] = targets_of(tup)
            if not targets:
                continue
            part = _Part(durs, spans, errs)
            for table, byvals in targets:
                key = (table, byvals, step // table.steps)
                parts = get_entry(key)
                if parts is None:
                    entries[key] = [part]
                else:
                    parts.append(part)
    for (table, byvals, idx), parts in entries.items():
        s = table.get_series(byvals)
        seen = min(received_ns, (idx + 1) * table.width_ns)
        if seen > s.last_ns:
            s.last_ns = seen
        b = table.bucket(s, idx)
        if b is None:
            continue
        n = 0
        add_bins = b.sk.add
        top = b.max_ms
        worst = _EX.unpack_from(b.ex[-1])[:2] if len(b.ex) == MAX_EXEMPLARS else None
        rows: list[ExemplarRow] = []
        for part in parts:
            n += part.count
            b.errors += part.errors
            b.total_ms += part.total_ms
            if part.top_ms > top:
                top = part.top_ms
            add_bins(part.bins)
            if worst is None or part.rank > worst:
                rows.extend(part.rows())
        b.count += n
        b.max_ms = top
        if s.overflow:
            table.overflow_points += n
        if rows:
            rows.extend(_EX.unpack(row) for row in b.ex)
            rows.sort(reverse=True)
            b.ex = [_EX.pack(*row) for row in rows[:MAX_EXEMPLARS]]


def span_stats(entries: list[SpanBucket | bytes], seconds: float) -> WindowStats:
    """Measures of one series over the buckets of a window."""
    count = errors = 0
    total = top = 0.0
    rows: list[ExemplarRow] = []
    live: sketch.Bins = {}
    sealed: list[tuple[bytes, int]] = []
    for e in entries:
        if type(e) is bytes:
            _, c, er, t, m = _HEAD.unpack_from(e)
            ex, offset = _unpack_exemplars(e)
            rows.extend(ex)
            sealed.append((e, offset))
        else:
            assert isinstance(e, SpanBucket)
            c, er, t, m = e.count, e.errors, e.total_ms, e.max_ms
            rows.extend(_EX.unpack(row) for row in e.ex)
            e.sk.add_to(live)
        count += c
        errors += er
        total += t
        top = max(top, m)

    def quantile(name: str) -> float | None:
        q = QUANTILES.get(name.removeprefix("latency_"))
        if q is None or not name.startswith("latency_"):
            return None
        for blob, offset in sealed:
            sketch.unpack_into(live, blob, offset)
        sealed.clear()
        return sketch.quantile(live, q)

    values = {
        "count": float(count),
        "rate": count / seconds if seconds > 0 else None,
        "error_count": float(errors),
        "error_ratio": ratio(errors, count),
        "latency_avg": total / count if count else None,
        "latency_max": top if count else None,
    }
    exemplars = [Exemplar(trace, span, err, float(dur), t) for err, dur, t, trace, span in rows]
    return WindowStats(count, values, best_exemplars(exemplars), quantile)


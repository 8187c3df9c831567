"""Span ingest: the hot loop that groups a request's spans, and the fold of each group into span series.

Per request, spans are grouped by (time step, key tuple) with nothing but list
appends and a few field reads; each group is then turned into counts and a
sketch once, and folded into every series its key tuple feeds. Latency is
``(end - start) / 1e6`` milliseconds; a span whose end precedes its start counts
as 0 ms. The time of a span is its end time.
"""

from __future__ import annotations

import heapq
import math
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.model import Scanned
from collector.store import sketch
from collector.store.packed import keep_best
from collector.store.plan import Plan, by_resource, record_attributes, resource_base
from collector.store.series import Table
from collector.store.spanwindow import SpanBucket
from collector.store.windows import EX_ROW, MAX_EXEMPLARS, ExemplarRow

_STATUS_ERROR = 2

# time step -> key tuple -> (durations ns, spans, error spans)
Group = tuple[list[int], list[Any], list[Any]]
Groups = dict[int, dict[tuple[Any, ...], Group]]


def read_spans(
    request: ExportTraceServiceRequest,
    plan: Plan,
    received_ns: int,
    oldest_ns: int,
    step_ns: int,
    scanned: Scanned | None = None,
) -> tuple[Groups, int]:
    """Group the spans of a request by (time step, key tuple): [durations ns, spans, error spans].

    `scanned` is what ingest read while validating (the spans, wrapped once). Returns the groups and
    the count of spans too old to keep.
    """
    layout = plan.layout
    attrs = layout.attrs
    n_attrs = len(attrs)
    every = layout.all_attrs
    get_slot = attrs.get
    name_i = layout.fields.get("span.name", 0)
    kind_i = layout.fields.get("span.kind", 0)
    status_i = layout.fields.get("status.code", 0)
    newest_ns = received_ns + 60_000_000_000
    resources, spans = by_resource(request.resource_spans, "scope_spans", "spans", scanned)
    groups: Groups = {}
    late = 0
    lo = hi = 0
    current: dict[tuple[Any, ...], Group] = {}
    first = 0
    for resource, n in resources:
        base = resource_base(resource.attributes, layout)
        # Spans of a service that no rule reading attributes selects are not read for them.
        read_attrs = n_attrs and plan.reads_attributes(base[0])
        const = tuple(base) if not (read_attrs or name_i or kind_i or status_i) else None
        stop = first + n
        for sp in spans[first:stop]:
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
                if read_attrs:
                    record_attributes(vals, sp.attributes, get_slot, every)
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
        first = stop
    return groups, late


def _row(sp: Any, error: bool) -> ExemplarRow:
    end = sp.end_time_unix_nano
    dur = max(0, end - sp.start_time_unix_nano) * 1e-6
    return (error, dur, end, bytes(sp.trace_id), bytes(sp.span_id))


class _Part:
    """One group, summed up once, before it is added to every series it feeds."""

    __slots__ = (
        "_best", "_durs", "_errs", "_rows", "_spans", "bins", "count", "errors", "rank", "top", "top_ms", "total_ms",
    )

    def __init__(self, durs: list[int], spans: list[Any], errs: list[Any]) -> None:
        log, ceil, inv, zero = math.log, math.ceil, sketch.INV_LOG_GAMMA, sketch.ZERO
        self.count = len(durs)
        self.errors = len(errs)
        top = self.top = max(durs)
        self.top_ms = max(top, 0) * 1e-6
        bins: sketch.Bins = {}
        get = bins.get
        if min(durs) > 0:  # the rule: no zero-length or clock-skewed span, so no test per span
            self.total_ms = sum(durs) * 1e-6
            for d in durs:
                k = ceil(log(d * 1e-6) * inv)
                bins[k] = get(k, 0) + 1
        else:
            self.total_ms = sum([d for d in durs if d > 0]) * 1e-6 if top > 0 else 0.0
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
        self._best: ExemplarRow | None = None

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

    def best(self) -> ExemplarRow:
        """The row `rank` describes (ties aside): the slowest of the first errors, else the slowest span."""
        if self._best is None:
            if self._errs:
                self._best = _row(max(self._errs[:MAX_EXEMPLARS], key=_duration), True)
            else:
                self._best = _row(self._spans[self._durs.index(self.top)], False)
        return self._best


def _duration(sp: Any) -> int:
    return int(sp.end_time_unix_nano - sp.start_time_unix_nano)


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
    last = (MAX_EXEMPLARS - 1) * EX_ROW.size
    for (table, byvals, idx), parts in entries.items():
        s = table.get_series(byvals)
        seen = min(received_ns, (idx + 1) * table.width_ns)
        if seen > s.last_ns:
            s.last_ns = seen
        got = table.bucket(s, idx)
        if got is None:
            continue
        b, k = got
        n = errors = 0
        add_bins = b.sk.add
        total, top = b.total_ms, b.max_ms
        # The series keeps its best exemplars: a part's rows are built only when they could enter.
        worst = EX_ROW.unpack_from(s.ex, last)[1:3] if len(s.ex) > last else None
        rows: list[tuple[int, ExemplarRow]] = []
        for part in parts:
            n += part.count
            errors += part.errors
            total += part.total_ms
            if part.top_ms > top:
                top = part.top_ms
            add_bins(part.bins)
            # A part whose best row the series holds already was offered before (a retried batch): skip it.
            if (worst is None or part.rank > worst) and EX_ROW.pack(idx, *part.best()) not in s.ex:
                rows += [(idx, row) for row in part.rows()]
        h = s.heads
        h[k + 1] += n
        h[k + 2] += errors
        b.total_ms, b.max_ms = total, top
        if s.overflow:
            table.overflow_points += n
        if rows:
            s.ex = keep_best(s.ex, rows, table.now_idx - table.keep)

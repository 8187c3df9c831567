"""Metric ingest: reads points, keeps per-stream state, and turns cumulative points into deltas.

A stream is one metric name + resource attributes + point attributes, identified
by a hash of their serialized bytes. Its state remembers what the next point
needs: the previous cumulative value(s) and start time (to take deltas and spot
resets), the newest point time (a cumulative point at or before it is a retried
duplicate or out of order, and is dropped), or for gauges and delta points the
last few point times (an exact repeat is a duplicate and is dropped; an older,
different point still counts). Streams not seen for longer than the longest
window are forgotten.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from collector.store import sketch
from collector.store.metrics import MetricBucket
from collector.store.plan import Plan, resource_base
from collector.store.series import Table

_DELTA = 1
_RECENT = 16  # point times remembered per gauge / delta stream to drop exact repeats
Groups = dict[tuple[str, int, tuple[Any, ...]], MetricBucket]


class Stream:
    """What one stream's next point needs to know."""

    __slots__ = ("last_t", "recent", "seen_ns", "start", "total", "value")

    def __init__(self) -> None:
        self.start = 0
        self.last_t = -1
        self.value: Any = None
        self.total = 0.0
        self.recent: list[int] = []
        self.seen_ns = 0

    def repeat(self, t: int) -> bool:
        """True when a point with time `t` was already taken (gauge and delta streams)."""
        if t in self.recent:
            return True
        self.recent.append(t)
        if len(self.recent) > _RECENT:
            del self.recent[0]
        return False


class MetricReader:
    """Reads metric requests into per-(metric, step, key tuple) accumulators; owns the stream state."""

    def __init__(self) -> None:
        self.streams: dict[int, Stream] = {}
        self.duplicates = 0
        self.out_of_order = 0

    def forget(self, before_ns: int) -> None:
        """Drop streams not seen since `before_ns`."""
        stale = [h for h, st in self.streams.items() if st.seen_ns < before_ns]
        for h in stale:
            del self.streams[h]

    def read(
        self,
        request: ExportMetricsServiceRequest,
        plans: Mapping[str, Plan],
        fallback: Plan | None,
        received_ns: int,
        oldest_ns: int,
        step_ns: int,
    ) -> tuple[Groups, int]:
        """Group the points of a request. Returns the groups and the count too old to keep."""
        groups: Groups = {}
        late = 0
        layout = fallback.layout if fallback is not None else next(iter(plans.values())).layout
        get_slot = layout.attrs.get
        newest_ns = received_ns + 60_000_000_000
        for rm in request.resource_metrics:
            base = resource_base(rm.resource.attributes, layout)
            resource = rm.resource.SerializeToString()
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    name = m.name
                    if name not in plans and fallback is None:
                        continue
                    which = m.WhichOneof("data")
                    if which is None:
                        continue
                    data = getattr(m, which)
                    cumulative = which == "summary" or (which != "gauge" and data.aggregation_temporality != _DELTA)
                    monotonic = which != "sum" or data.is_monotonic
                    for p in data.data_points:
                        t = p.time_unix_nano
                        if t < oldest_ns or t > newest_ns:
                            if t and t <= newest_ns:
                                late += 1
                                continue
                            t = received_ns
                        vals = base.copy()
                        parts = []
                        found = 0  # a bit per slot this point has filled: a repeated key's first value counts
                        for kv in p.attributes:
                            raw = kv.SerializeToString()
                            parts.append(raw)
                            slot = get_slot(kv.key)
                            if slot is not None and not found >> slot & 1:
                                vals[slot] = raw
                                found |= 1 << slot
                        h = hash((name, resource, *parts))
                        st = self.streams.get(h)
                        if st is None:
                            st = self.streams[h] = Stream()
                        st.seen_ns = received_ns
                        key = (name, t // step_ns, tuple(vals))
                        acc = groups.get(key)
                        if acc is None:
                            acc = groups[key] = MetricBucket(-1)
                        if which in ("gauge", "sum"):
                            self._number(acc, st, h, p, t, which == "sum", cumulative, monotonic, oldest_ns)
                        elif which == "summary":
                            self._summary(acc, st, p, t, oldest_ns)
                        else:
                            self._histogram(acc, st, p, t, cumulative, oldest_ns, which == "histogram")
                        if which != "summary" and p.exemplars:
                            _exemplars(acc, p)
        return groups, late

    def _stale(self, st: Stream, t: int) -> bool:
        if t > st.last_t:
            return False
        if t == st.last_t:
            self.duplicates += 1
        else:
            self.out_of_order += 1
        return True

    def _number(
        self, acc: MetricBucket, st: Stream, h: int, p: Any, t: int,
        is_sum: bool, cumulative: bool, monotonic: bool, oldest_ns: int,
    ) -> None:
        v = p.as_double or float(p.as_int)
        if not is_sum:
            if st.repeat(t):
                self.duplicates += 1
                return
            acc.value(t, v)
            return
        s = p.start_time_unix_nano
        if not cumulative:
            if st.repeat(t):
                self.duplicates += 1
                return
            st.total += v
            acc.inc += v
            value = st.total
        else:
            if st.value is None:
                # The first point is the baseline, unless the stream began inside the retention.
                inc = v if monotonic and s and s >= oldest_ns else 0.0
            elif self._stale(st, t):
                return
            elif (s and s != st.start) or (monotonic and v < st.value):
                inc = v
            else:
                inc = v - st.value
            st.start, st.last_t, st.value = s, t, v
            acc.inc += inc
            value = v
        acc.value(t, value)
        totals = acc.totals if acc.totals is not None else acc._new_totals()
        cur = totals.get(h)
        if cur is None or t >= cur[0]:
            totals[h] = (t, value)

    def _summary(self, acc: MetricBucket, st: Stream, p: Any, t: int, oldest_ns: int) -> None:
        count, total, s = float(p.count), p.sum, p.start_time_unix_nano
        if st.value is None:
            d_count, d_sum = (count, total) if s and s >= oldest_ns else (0.0, 0.0)
        elif self._stale(st, t):
            return
        elif (s and s != st.start) or count < st.value[0]:
            d_count, d_sum = count, total
        else:
            d_count, d_sum = count - st.value[0], total - st.value[1]
        st.start, st.last_t, st.value = s, t, (count, total)
        acc.n += 1
        acc.hcnt += d_count
        acc.hsum += d_sum
        acc.inc += d_count
        quant = (t, tuple((q.quantile, q.value) for q in p.quantile_values))
        if acc.quant is None or t >= acc.quant[0]:
            acc.quant = quant

    def _histogram(
        self, acc: MetricBucket, st: Stream, p: Any, t: int, cumulative: bool, oldest_ns: int, explicit: bool
    ) -> None:
        now = _explicit(p) if explicit else _exponential(p)
        s = p.start_time_unix_nano
        delta: Histo | None
        if not cumulative:
            if st.repeat(t):
                self.duplicates += 1
                return
            delta = now
        else:
            prev = st.value
            if prev is None:
                delta = now if s and s >= oldest_ns else None
            elif self._stale(st, t):
                return
            elif s and s != st.start:
                delta = now
            else:
                delta = _subtract(now, prev)
            st.start, st.last_t, st.value = s, t, now
        acc.n += 1
        if p.HasField("min") and (acc.hmin is None or p.min < acc.hmin):
            acc.hmin = p.min
        if p.HasField("max") and (acc.hmax is None or p.max > acc.hmax):
            acc.hmax = p.max
        if delta is None:
            return
        count, total, buckets = delta
        acc.hcnt += count
        acc.hsum += total
        acc.inc += count
        bins = acc.bins if acc.bins is not None else {}
        acc.bins = bins
        for (low, high), c in buckets.items():
            if c > 0:
                # The open-ended buckets end at the point's own min and max when it has them.
                if low == -math.inf:
                    low = p.min if p.HasField("min") and p.min < high else min(0.0, high)
                if high == math.inf:
                    high = p.max if p.HasField("max") and p.max > low else low
                sketch.spread(bins, low, high, c)


# A histogram point as (count, sum, {(low, high): count}); buckets keyed by their bounds so
# points with different layouts still subtract bucket by bucket.
Histo = tuple[float, float, dict[tuple[float, float], float]]


def _explicit(p: Any) -> Histo:
    bounds = [-math.inf, *p.explicit_bounds, math.inf]
    buckets: dict[tuple[float, float], float] = {}
    for i, c in enumerate(p.bucket_counts[: len(bounds) - 1]):
        buckets[(bounds[i], bounds[i + 1])] = float(c)
    return float(p.count), p.sum, buckets


def _exponential(p: Any) -> Histo:
    base = 2.0 ** (2.0**-p.scale)
    buckets: dict[tuple[float, float], float] = {}
    offset = p.positive.offset
    for i, c in enumerate(p.positive.bucket_counts):
        if c:
            buckets[(base ** (offset + i), base ** (offset + i + 1))] = float(c)
    # Zero and negative values share the sketch's zero bin.
    zeros = float(p.zero_count + sum(p.negative.bucket_counts))
    if zeros:
        buckets[(0.0, 0.0)] = zeros
    return float(p.count), p.sum, buckets


def _subtract(now: Histo, prev: Histo) -> Histo:
    count, total, buckets = now
    p_count, p_total, p_buckets = prev
    if count < p_count:
        return now  # a reset: everything in the new point is new
    diff = {b: c - p_buckets.get(b, 0.0) for b, c in buckets.items()}
    if any(c < 0 for c in diff.values()) or any(b not in buckets for b in p_buckets):
        return now  # the bucket layout changed under the same start time: take the point whole
    return count - p_count, total - p_total, diff


def _exemplars(acc: MetricBucket, p: Any) -> None:
    for ex in p.exemplars:
        if ex.trace_id:
            acc.ex.append((False, -1.0, ex.time_unix_nano, bytes(ex.trace_id), bytes(ex.span_id)))
    if len(acc.ex) > 5:
        acc.ex.sort(key=lambda row: row[2], reverse=True)
        del acc.ex[5:]


def fold_metrics(groups: Groups, plans: Mapping[str, Plan], fallback: Plan | None, step_ns: int) -> None:
    """Add each accumulator to every series its key tuple feeds."""
    for (name, step, tup), acc in groups.items():
        plan = plans.get(name, fallback)
        if plan is None:
            continue
        targets: list[tuple[Table[MetricBucket], tuple[str, ...]]] = plan.targets(tup)
        for table, byvals in targets:
            s = table.get_series(byvals)
            if s.overflow:
                table.overflow_points += acc.n
            got = table.bucket(s, step // table.steps)
            if got is not None:
                b, k = got
                b.merge(acc)
                s.heads[k + 1] += acc.n

"""Metric windows: metric buckets and the measures a series of metric points answers.

What each measure means, and how the streams of one `by` group combine (a
stream is one metric + resource attributes + point attributes):

- gauge: `last` is the value of the newest point in the group (whichever stream
  sent it); `avg`, `min`, `max` and `sum` are over every point in the window.
- sum (counter or up-down counter, cumulative or delta): `increase` is the
  total change over the window, summed over streams — a cumulative stream's
  deltas are taken at ingest, a value lower than the previous one or a new
  start time is a reset (the new value counts whole), and duplicate or older
  points are dropped; `rate` is `increase` per second. `last` is the sum over
  streams of each stream's newest value (for a delta stream, its running total
  since first seen), i.e. the group's total; `avg`/`min`/`max`/`sum` are over
  those stream values at each point.
- histogram and exponential histogram: `p50`…`p99` from the buckets' counts
  over the window (cumulative points turned into deltas like sums), with linear
  interpolation inside each bucket and the sketch's 2% on top; `avg` is
  Δsum/Δcount, `sum` is Δsum, `increase`/`rate` count observations, `min`/`max`
  come from the points' own min and max when they carry them.
- summary: `p50`…`p99` are the newest point's quantile values in the group
  (None where that quantile is not reported); `avg` is Δsum/Δcount, `sum` Δsum,
  `increase`/`rate` count observations.

The first cumulative point of a stream is its baseline: it adds to `increase`
only when its start time lies inside the retention (the stream began recently).
"""

from __future__ import annotations

import marshal
from typing import Any

from collector.store import sketch
from collector.store.packed import exemplar_rows, records
from collector.store.series import Series
from collector.store.windows import (
    QUANTILES,
    Exemplar,
    ExemplarRow,
    SeriesStats,
    View,
    best_exemplars,
    ratio,
)

_FIELDS = ("n", "vsum", "vmin", "vmax", "last_t", "last_v", "inc", "hsum", "hcnt", "hmin", "hmax", "bins",
           "totals", "quant", "ex")
# What a sealed bucket keeps (its exemplars move to the series).
_SEALED = _FIELDS[:-1]
_BINS = _SEALED.index("bins")


class MetricBucket:
    """Metric points of one series in one time bucket (also used to add up one request's points)."""

    __slots__ = ("idx", *_FIELDS)

    def __init__(self, idx: int) -> None:
        self.idx = idx
        self.n = 0
        self.vsum = 0.0
        self.vmin: float | None = None
        self.vmax: float | None = None
        self.last_t = -1
        self.last_v: float | None = None
        self.inc = 0.0
        self.hsum = 0.0
        self.hcnt = 0.0
        self.hmin: float | None = None
        self.hmax: float | None = None
        self.bins: sketch.Bins | None = None
        # stream -> (time, value) of its newest point: the parts of a counter's `last`.
        self.totals: dict[int, tuple[int, float]] | None = None
        self.quant: tuple[int, tuple[tuple[float, float], ...]] | None = None
        # (error, -1: no duration, time, trace id, span id), newest first.
        self.ex: list[ExemplarRow] = []

    def value(self, t: int, v: float) -> None:
        """One gauge value (or a counter's value at a point)."""
        self.n += 1
        self.vsum += v
        if self.vmin is None or v < self.vmin:
            self.vmin = v
        if self.vmax is None or v > self.vmax:
            self.vmax = v
        if t >= self.last_t:
            self.last_t, self.last_v = t, v

    def merge(self, o: MetricBucket) -> None:
        self.n += o.n
        self.vsum += o.vsum
        if o.vmin is not None and (self.vmin is None or o.vmin < self.vmin):
            self.vmin = o.vmin
        if o.vmax is not None and (self.vmax is None or o.vmax > self.vmax):
            self.vmax = o.vmax
        if o.last_t >= self.last_t and o.last_v is not None:
            self.last_t, self.last_v = o.last_t, o.last_v
        self.inc += o.inc
        self.hsum += o.hsum
        self.hcnt += o.hcnt
        if o.hmin is not None and (self.hmin is None or o.hmin < self.hmin):
            self.hmin = o.hmin
        if o.hmax is not None and (self.hmax is None or o.hmax > self.hmax):
            self.hmax = o.hmax
        if o.bins:
            if self.bins is None:
                self.bins = {}
            sketch.merge(self.bins, o.bins)
        if o.totals:
            merge_totals(self.totals if self.totals is not None else self._new_totals(), o.totals)
        if o.quant is not None and (self.quant is None or o.quant[0] >= self.quant[0]):
            self.quant = o.quant
        if o.ex:
            self.ex.extend(o.ex)
            self.ex.sort(key=_newest, reverse=True)
            del self.ex[5:]

    def _new_totals(self) -> dict[int, tuple[int, float]]:
        self.totals = {}
        return self.totals


def _newest(row: ExemplarRow) -> tuple[bool, int]:
    return (row[0], row[2])


def merge_totals(into: dict[int, tuple[int, float]], other: dict[int, tuple[int, float]]) -> None:
    for stream, (t, v) in other.items():
        cur = into.get(stream)
        if cur is None or t >= cur[0]:
            into[stream] = (t, v)


class MetricKind:
    """Creates, seals (marshal: our own plain values only) and unseals metric buckets; head rows: ``(idx, points)``."""

    counters = 1

    def new(self, idx: int) -> MetricBucket:
        return MetricBucket(idx)

    def seal(self, b: MetricBucket) -> tuple[bytes, list[ExemplarRow]]:
        values: list[Any] = [getattr(b, f) for f in _SEALED]
        values[_BINS] = sketch.pack(b.bins) if b.bins else None
        return marshal.dumps(tuple(values)), list(b.ex)

    def unseal(self, idx: int, blob: bytes, start: int, end: int) -> MetricBucket:
        b = MetricBucket(idx)
        for f, v in zip(_SEALED, marshal.loads(blob[start:end]), strict=True):
            setattr(b, f, v)
        packed = b.bins
        if packed is not None:
            b.bins = {}
            sketch.unpack_into(b.bins, packed)  # type: ignore[arg-type]
        return b

    def window(self, s: Series[MetricBucket], view: View, a: int, b: int) -> MetricWindow:
        return MetricWindow(s, view, sum(s.heads[a + 1 : b : 2]))


class MetricWindow(SeriesStats):
    """One metric series over a window: the point count at once, every other measure on the first one asked for."""

    __slots__ = ()

    def _compute(self, name: str) -> float | None:
        values = self._values
        assert values is not None
        values.update(_measures(self._merged(), self.view.seconds))
        return values.get(name)

    def _merged(self) -> MetricBucket:
        s, first, stop = self.series, self.view.first, self.view.stop
        acc = MetricBucket(-1)
        blob = s.sealed
        for start, end in records(blob, first, stop):
            acc.merge(_KIND.unseal(-1, blob, start, end))
        for b in s.open:
            if first <= b.idx < stop:
                acc.merge(b)
        return acc

    def _gather(self) -> tuple[Exemplar, ...]:
        s, first, stop = self.series, self.view.first, self.view.stop
        rows = exemplar_rows(s.ex, first, stop)
        for b in s.open:
            if first <= b.idx < stop:
                rows += b.ex
        return best_exemplars(rows)


def _measures(acc: MetricBucket, seconds: float) -> dict[str, float | None]:
    has_hist = acc.hcnt > 0 or acc.bins is not None or acc.quant is not None
    if acc.totals:
        last: float | None = sum(v for _, v in acc.totals.values())
    else:
        last = acc.last_v
    values: dict[str, float | None] = {
        "last": last,
        "avg": ratio(acc.hsum, acc.hcnt) if has_hist else ratio(acc.vsum, acc.n),
        "min": acc.hmin if has_hist else acc.vmin,
        "max": acc.hmax if has_hist else acc.vmax,
        "sum": acc.hsum if has_hist else (acc.vsum if acc.n else None),
        "increase": acc.inc if acc.n or has_hist else None,
        "rate": acc.inc / seconds if (acc.n or has_hist) and seconds > 0 else None,
    }
    for name, q in QUANTILES.items():
        if acc.bins:
            values[name] = sketch.quantile(acc.bins, q)
        elif acc.quant is not None:
            values[name] = next((v for qq, v in acc.quant[1] if abs(qq - q) < 1e-9), None)
        else:
            values[name] = None
    return values


_KIND = MetricKind()

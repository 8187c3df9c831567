"""Span buckets (latency sum, max and sketch; counts are the series' head rows) and lazy span stats.

A span series' head row per bucket is ``(idx, spans, error spans)``. A sealed span
bucket is ``<total ms f32><max ms f32>`` followed by its packed latency sketch. Span
exemplars are kept by the series, across its buckets: the best MAX_EXEMPLARS
(errors, then the slowest, then the newest) of its whole retention, each with its
bucket, so a window reports those that fall inside it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from collector.store import sketch
from collector.store.packed import exemplar_rows, records
from collector.store.series import Series
from collector.store.windows import QUANTILES, Exemplar, ExemplarRow, SeriesStats, View, WindowStats, best_exemplars

# Total and max ms: float32 keeps 7 significant digits of a total, far more than a latency average needs.
_LAT = struct.Struct("<ff")


class SpanBucket:
    """The detail of one series' spans in one time bucket, while it takes data."""

    __slots__ = ("idx", "max_ms", "sk", "total_ms")

    def __init__(self, idx: int) -> None:
        self.idx = idx
        self.total_ms = 0.0
        self.max_ms = 0.0
        self.sk = sketch.Dense()


class SpanKind:
    """Creates, seals and unseals span buckets, and measures span series."""

    counters = 2  # spans, error spans

    def new(self, idx: int) -> SpanBucket:
        return SpanBucket(idx)

    def seal(self, b: SpanBucket) -> tuple[bytes, list[ExemplarRow]]:
        # Span exemplars go straight to the series (spans.fold_spans): a bucket has none of its own.
        return _LAT.pack(b.total_ms, b.max_ms) + b.sk.pack(), []

    def unseal(self, idx: int, blob: bytes, start: int, end: int) -> SpanBucket:
        b = SpanBucket(idx)
        b.total_ms, b.max_ms = _LAT.unpack_from(blob, start)
        b.sk = sketch.Dense.unpack(blob, start + _LAT.size, end)
        return b

    def window(self, s: Series[SpanBucket], view: View, a: int, b: int) -> SpanWindow:
        h = s.heads
        return SpanWindow(s, view, sum(h[a + 1 : b : 3]), sum(h[a + 2 : b : 3]))


def _rate(w: SpanWindow) -> float | None:
    return w.samples / w.view.seconds if w.view.seconds > 0 else None


# The measures answered from the head counters alone.
_CHEAP: dict[str, Callable[[SpanWindow], float | None]] = {
    "count": lambda w: float(w.samples),
    "rate": _rate,
    "error_count": lambda w: float(w.errors),
    "error_ratio": lambda w: w.errors / w.samples if w.samples else None,
}


class SpanWindow(SeriesStats):
    """One span series over a window: counts at once, latency and exemplars read from the series when asked."""

    __slots__ = ("errors",)
    errors: int

    def __init__(self, series: Series[SpanBucket], view: View, samples: int, errors: int) -> None:
        # Set every slot here rather than through SeriesStats.__init__: one call less per series and query.
        self.samples = samples
        self.errors = errors
        self.series = series
        self.view = view
        self._exemplars = None
        self._values = None
        self._quantile = None

    def measure(self, name: str) -> float | None:
        cheap = _CHEAP.get(name)
        if cheap is not None:
            return cheap(self)
        return WindowStats.measure(self, name)

    def _compute(self, name: str) -> float | None:
        if not name.startswith("latency_"):
            return None
        values = self._values
        assert values is not None
        s, first, stop = self.series, self.view.first, self.view.stop
        blob = s.sealed
        found = records(blob, first, stop)
        live = [b for b in s.open if first <= b.idx < stop]
        if name in ("latency_avg", "latency_max"):
            total = top = 0.0
            for start, _ in found:
                t, m = _LAT.unpack_from(blob, start)
                total += t
                top = max(top, m)
            for b in live:
                total += b.total_ms
                top = max(top, b.max_ms)
            values["latency_avg"] = total / self.samples if self.samples else None
            values["latency_max"] = top if self.samples else None
        else:
            bins: sketch.Bins = {}
            for start, end in found:
                sketch.Dense.add_packed(bins, blob, start + _LAT.size, end)
            for b in live:
                b.sk.add_to(bins)
            for q_name, q in QUANTILES.items():
                values[f"latency_{q_name}"] = sketch.quantile(bins, q)
        return values.get(name)

    def _gather(self) -> tuple[Exemplar, ...]:
        return best_exemplars(exemplar_rows(self.series.ex, self.view.first, self.view.stop))


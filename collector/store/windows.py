"""What the store answers: per-series window statistics, exemplars, service overview, bucket geometry.

Bucket geometry: each rule's data is kept in time buckets of `bucket_width(window)`
seconds, aligned to multiples of the width since the Unix epoch (about 20 to 30
buckets per window). A query for ``[start_ns, end_ns)`` rounds both ends *down* to a
bucket boundary and covers the whole buckets in between: the newest, still filling
bucket is left out, so a window lags real time by less than one bucket, and `rate`
divides by the covered time, ``(floor(end) - floor(start))``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

# Widths a bucket may have (seconds); the largest that fits 20 times in the window is used,
# so that windows which differ a little share one bucket grid and keep their data.
_WIDTHS = (1, 2, 3, 5, 10, 15, 30, 60, 120, 180, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
_BUCKETS_PER_WINDOW = 20

SPAN_MEASURES = frozenset({
    "count", "rate", "error_count", "error_ratio", "latency_avg", "latency_max",
    "latency_p50", "latency_p90", "latency_p95", "latency_p99",
})
LOG_MEASURES = frozenset({"count", "rate"})
METRIC_MEASURES = frozenset({"last", "avg", "min", "max", "sum", "rate", "increase", "p50", "p90", "p95", "p99"})
MEASURES = SPAN_MEASURES | LOG_MEASURES | METRIC_MEASURES
QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
MAX_EXEMPLARS = 5


def bucket_width(window: timedelta) -> int:
    """Seconds per bucket for a rule window."""
    target = window.total_seconds() / _BUCKETS_PER_WINDOW
    width = 1
    for w in _WIDTHS:
        if w <= target:
            width = w
    return width


def covered(start_ns: int, end_ns: int, width_s: int) -> tuple[int, int]:
    """Bucket indexes ``[first, stop)`` a query covers (both ends rounded down)."""
    width_ns = width_s * 1_000_000_000
    return start_ns // width_ns, end_ns // width_ns


@dataclass(frozen=True, slots=True)
class Exemplar:
    """A trace worth showing next to an alert: an error, a slow span, or a metric exemplar."""

    trace_id: bytes
    span_id: bytes
    error: bool
    duration_ms: float | None
    time_ns: int

    def rank(self) -> tuple[bool, float, int]:
        """Sort key, best first when reversed: errors, then slowest, then newest."""
        return (self.error, self.duration_ms or 0.0, self.time_ns)


# A packed exemplar row: bucket index, then (error, duration ms or -1, time ns, trace id, span id).
EX_ROW = struct.Struct("<I?fQ16s8s")
# (error, duration ms (negative: none), time ns, trace id, span id): rows sort best first when reversed.
ExemplarRow = tuple[bool, float, int, bytes, bytes]


def best_exemplars(rows: list[ExemplarRow], limit: int = MAX_EXEMPLARS) -> tuple[Exemplar, ...]:
    """The best `limit` exemplars of `rows`, one per trace."""
    out: list[Exemplar] = []
    seen: set[bytes] = set()
    for err, dur, t, trace, span in sorted(rows, reverse=True):
        if trace not in seen:
            seen.add(trace)
            out.append(Exemplar(trace, span, err, float(dur) if dur >= 0 else None, t))
            if len(out) == limit:
                break
    return tuple(out)


class View:
    """The window of one query, shared by the stats of every series it reports."""

    __slots__ = ("first", "seconds", "stop")

    def __init__(self, first: int, stop: int, seconds: float) -> None:
        self.first = first
        self.stop = stop
        self.seconds = seconds


class WindowStats:
    """One series aggregated over a query window.

    The store hands out lazy subclasses: a query computes only `samples` and the
    counters the cheap measures need; latency sketches are merged on the first
    latency measure and exemplars gathered on the first read of `exemplars`.
    Built directly, a WindowStats holds the given values (and a quantile callback).
    """

    __slots__ = ("_exemplars", "_quantile", "_values", "samples")

    def __init__(
        self,
        samples: int,
        values: Mapping[str, float | None],
        exemplars: tuple[Exemplar, ...],
        quantile: Callable[[str], float | None] | None = None,
    ) -> None:
        self.samples = samples
        self._exemplars: tuple[Exemplar, ...] | None = exemplars
        self._values: dict[str, float | None] | None = dict(values)
        self._quantile = quantile

    @property
    def exemplars(self) -> tuple[Exemplar, ...]:
        """Up to MAX_EXEMPLARS traces from the window worth showing, best first."""
        found = self._exemplars
        if found is None:
            found = self._exemplars = self._gather()
        return found

    def measure(self, name: str) -> float | None:
        """The named measure (DESIGN §4); None when it cannot be computed for this window."""
        values = self._values
        if values is None:
            values = self._values = {}
        elif name in values:
            return values[name]
        if name not in MEASURES:
            raise ValueError(f"unknown measure {name!r}")
        value = values[name] = self._compute(name)
        return value

    def _compute(self, name: str) -> float | None:
        return self._quantile(name) if self._quantile is not None else None

    def _gather(self) -> tuple[Exemplar, ...]:
        return ()

    def __repr__(self) -> str:
        known = ", ".join(f"{k}={v!r}" for k, v in sorted((self._values or {}).items()))
        return f"{type(self).__name__}(samples={self.samples}, {known})"


class SeriesStats(WindowStats):
    """Stats of one stored series over a query's window, read from the series as measures are asked for."""

    __slots__ = ("series", "view")

    def __init__(self, series: Any, view: View, samples: int) -> None:
        self.samples = samples
        self.series = series
        self.view = view
        self._exemplars = None
        self._values = None
        self._quantile = None


@dataclass(frozen=True, slots=True)
class ServiceStats:
    """One service as seen in its spans over a recent window."""

    service: str
    spans: int
    rate: float
    error_ratio: float | None
    p99_ms: float | None
    last_seen_ns: int


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None

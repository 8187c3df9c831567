"""The `robust` baseline: rolling median and MAD over `history`, from a bounded, time-decimated sample."""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, insort
from typing import Any

from collector.evaluate.band import MIN_POINTS, BaselineParams, Judge, Verdict, floor_scale, robust_scale, sorted_median
from collector.evaluate.snapshot import STATE_VERSION, integer, number, optional_number, pack, unpack

# Bounded memory: the window holds at most CAPACITY points. Every point is kept at first; each time the window
# fills up before it spans `history`, the spacing between kept points doubles and every other point goes. In
# steady state the window holds CAPACITY/2..CAPACITY points evenly spread over `history` (one every 40-80 min for
# 7d): a uniform sample whose median and MAD estimate those of every value seen, at 3 x 8 bytes per point.
CAPACITY = 256
# With `span_range`, this share of the window at either end is left out of the range (1/20: 5 %).
RANGE_TRIM = 20
# After a gap longer than `history` the last points are kept anyway: stale normal beats no baseline.
KEEP_AT_LEAST = 32


class RobustDetector:
    """Band = median +/- sensitivity * robust standard deviation of the values learnt over the last `history`: the
    1.4826 * MAD, or more when the window's 90th percentile deviation says the tails are heavier (band.robust_scale).

    With `span_range` the band also reaches the window's (trimmed) extremes plus that half-width: the seasonal
    baseline's stand-in while it learns its first season, which must not page on that season's own peaks and troughs.
    """

    __slots__ = (
        "_center", "_first_ts", "_high", "_history_s", "_judge", "_learnt", "_low", "_ordered",
        "_spacing", "_span_range", "_times", "_values",
    )

    def __init__(self, params: BaselineParams, *, span_range: bool = False) -> None:
        self._judge = Judge(params)
        self._span_range = span_range
        self._history_s = params.history.total_seconds()
        self._first_ts: float | None = None
        self._learnt = 0
        self._spacing = 0.0
        self._times: array[float] = array("d")
        self._values: array[float] = array("d")
        self._ordered: array[float] = array("d")
        self._center = math.nan
        self._low = math.nan
        self._high = math.nan

    def observe(self, ts: float, value: float, *, learn: bool = True) -> Verdict:
        judge = self._judge
        first = self._first_ts
        learning = first is None or self._learnt < MIN_POINTS or ts - first < judge.min_history_s
        if not math.isfinite(value):
            return judge.pending(learning, self._learnt)
        if first is None:
            self._first_ts = ts
        if len(self._ordered) >= MIN_POINTS:
            verdict = judge.verdict(value, self._center, self._low, self._high, learning, self._learnt)
        else:
            verdict = judge.pending(learning, self._learnt)
        if learn:
            self._learnt += 1
            times = self._times
            if not times or ts - times[-1] >= self._spacing:
                self._keep(ts, value)
        return verdict

    def _keep(self, ts: float, value: float) -> None:
        times, values, ordered = self._times, self._values, self._ordered
        times.append(ts)
        values.append(value)
        insort(ordered, value)
        horizon = ts - self._history_s
        while len(times) > KEEP_AT_LEAST and times[0] < horizon:
            del times[0]
            old = values.pop(0)
            del ordered[bisect_left(ordered, old)]
        if len(times) >= CAPACITY:
            self._thin()
        self._refresh()

    def _thin(self) -> None:
        """Double the spacing between kept points (at least twice the mean spacing) and drop the points in between."""
        times, values = self._times, self._values
        mean_spacing = (times[-1] - times[0]) / (len(times) - 1)
        self._spacing = max(2.0 * self._spacing, 2.0 * mean_spacing)
        kept_t: array[float] = array("d", [times[0]])
        kept_v: array[float] = array("d", [values[0]])
        # Keep the newest point too, so the window still reaches the present.
        for i in range(1, len(times) - 1):
            if times[i] - kept_t[-1] >= self._spacing:
                kept_t.append(times[i])
                kept_v.append(values[i])
        kept_t.append(times[-1])
        kept_v.append(values[-1])
        self._times, self._values = kept_t, kept_v
        self._ordered = array("d", sorted(kept_v))

    def scale(self) -> float:
        """The robust standard deviation of the window (NaN while it holds too few points)."""
        ordered = self._ordered
        if len(ordered) < MIN_POINTS:
            return math.nan
        return floor_scale(robust_scale(ordered, self._center), self._center)

    def _refresh(self) -> None:
        ordered = self._ordered
        if len(ordered) < MIN_POINTS:
            return
        center = sorted_median(ordered)
        half = self._judge.sensitivity * floor_scale(robust_scale(ordered, center), center)
        if self._span_range:
            # Trimmed extremes: a stray point or a short burst does not stretch the range.
            trim = len(ordered) // RANGE_TRIM
            self._center, self._low, self._high = center, ordered[trim] - half, ordered[-1 - trim] + half
        else:
            self._center, self._low, self._high = center, center - half, center + half

    def state(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "method": "robust",
            "first": self._first_ts,
            "learnt": self._learnt,
            "spacing": self._spacing,
            "times": pack(self._times),
            "values": pack(self._values),
        }

    @classmethod
    def from_state(cls, params: BaselineParams, state: dict[str, Any], *, span_range: bool = False) -> RobustDetector:
        detector = cls(params, span_range=span_range)
        detector._first_ts = optional_number(state, "first")
        detector._learnt = integer(state, "learnt")
        detector._spacing = number(state, "spacing")
        detector._times = unpack(state["times"], "d")
        detector._values = unpack(state["values"], "d")
        if len(detector._times) != len(detector._values):
            raise ValueError("robust state has times and values of different lengths")
        detector._ordered = array("d", sorted(detector._values))
        detector._refresh()
        return detector

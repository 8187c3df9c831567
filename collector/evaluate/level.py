"""Level tracking shared by the ewma and seasonal baselines: gap-proof smoothing weights and level-shift detection."""

from __future__ import annotations

import math
from typing import Any

from collector.evaluate.band import robust_scale, sorted_median
from collector.evaluate.snapshot import floats, integer, number, optional_number

# A gap counts as at most this many typical intervals: after hours without data the next point must not carry the
# weight of hours (it may be a stray one).
GAP_FACTOR = 4.0
# A sustained shift needs this many consecutive points beyond the band, besides its minimum duration.
SHIFT_POINTS = 8
# ... and must have lasted this fraction of `history` (7h for 7d): shorter excursions are incidents, not new normals.
SHIFT_SPAN = 1.0 / 24.0
# The new level is the median of the run's last points.
_RUN_VALUES = 16


def smoothing(dt: float, tau: float) -> float:
    """The weight of a point that stands for `dt` seconds in an exponential average of time constant `tau`."""
    return 1.0 - math.exp(-dt / tau) if dt > 0 else 0.0


class Cadence:
    """How much time each learnt point stands for, robust to gaps and to a changing sampling interval."""

    __slots__ = ("interval", "last_ts")

    def __init__(self, last_ts: float | None = None, interval: float = 0.0) -> None:
        self.last_ts = last_ts
        self.interval = interval

    def step(self, ts: float) -> float:
        """Seconds since the previous learnt point, capped at GAP_FACTOR typical intervals."""
        last = self.last_ts
        if last is None or ts <= last:
            if last is None:
                self.last_ts = ts
            return 0.0
        self.last_ts = ts
        dt = ts - last
        interval = self.interval
        if interval <= 0:
            self.interval = dt
            return dt
        if dt > GAP_FACTOR * interval:
            dt = GAP_FACTOR * interval
        # A slow average of the (capped) spacing follows a changed scrape interval within a few dozen points.
        self.interval = interval + 0.05 * (dt - interval)
        return dt

    def state(self) -> dict[str, Any]:
        return {"last": self.last_ts, "interval": self.interval}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Cadence:
        return cls(optional_number(state, "last"), number(state, "interval"))


class ShiftTracker:
    """Spots a sustained level shift: a run of points beyond the band on one side that lasts long enough.

    A run starts with a point beyond the band (|z| > sensitivity) and goes on while points stay on that side past
    half the band, so noise around a shifted level that is only a little above the band does not break it. Once it
    has lasted SHIFT_POINTS points and `min_span` seconds, `update` returns the new level and spread (median and
    robust scale of the run's evidence) and the baseline re-seeds there. Only learnt points are fed: while an
    alert fires nothing is learnt, so an outage is never adopted this way.
    """

    __slots__ = ("count", "min_span", "side", "start", "values")

    def __init__(self, min_span: float) -> None:
        self.min_span = min_span
        self.side = 0
        self.start = 0.0
        self.count = 0
        self.values: list[float] = []

    def update(self, ts: float, z: float, sensitivity: float, evidence: float) -> tuple[float, float] | None:
        """Feed one learnt point's standardised deviation `z` and its level evidence; (level, spread) if confirmed."""
        side = self.side
        if side and z * side > 0.5 * sensitivity:
            self.count += 1
            values = self.values
            values.append(evidence)
            if len(values) > _RUN_VALUES:
                del values[0]
            if self.count >= SHIFT_POINTS and ts - self.start >= self.min_span:
                ordered = sorted(values)
                level = sorted_median(ordered)
                self.reset()
                return level, robust_scale(ordered, level)
            return None
        if z > sensitivity or z < -sensitivity:
            self.side = 1 if z > 0 else -1
            self.start = ts
            self.count = 1
            self.values = [evidence]
        elif side:
            self.reset()
        return None

    def reset(self) -> None:
        self.side = 0
        self.count = 0
        self.values = []

    def state(self) -> dict[str, Any]:
        return {"side": self.side, "start": self.start, "count": self.count, "values": list(self.values)}

    def restore(self, state: dict[str, Any]) -> None:
        self.side = integer(state, "side")
        self.start = number(state, "start")
        self.count = integer(state, "count")
        self.values = floats(state, "values")

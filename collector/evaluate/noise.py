"""Per-slot noise of a seasonal profile: what the slot being learnt shows, and each slot's scale over seasons."""

from __future__ import annotations

import math
from array import array
from typing import Any

from collector.evaluate.band import median_of
from collector.evaluate.snapshot import number, pack, unpack

# Each season, a slot's noise evidence decays by this share before the new season's is added (a memory of about
# three seasons), weighted by degrees of freedom so a season seen with many points outweighs one seen with few.
_SCALE_DECAY = 1.0 / 3.0
# One season can raise a slot's scale at most this much: a stretch of anomaly that never fired must not blind the
# slot for the next seasons.
_SCALE_STEP = 1.5
# A slot's scale pools its neighbours' evidence, out to _POOL_REACH_S either side, until it rests on this many
# degrees of freedom: one slot seen with three points a season makes a noisy scale, and a low one pages.
_POOL_DOF = 30.0
_POOL_REACH_S = 2 * 3600
_POOL_CAP = 10.0
# The first season only shows each slot's spread around its own mean, not how one day differs from the next: widen.
_FIRST_SEASON_WIDENING = 1.5
# No slot's scale is trusted below this fraction of the median slot scale (a slot seen with few, similar points).
_SCALE_MIN_FRACTION = 0.5
# Mean absolute deviation -> standard deviation for normal noise (sqrt(pi / 2)).
_MEAN_ABS_TO_STD = 1.2533

_NAN = math.nan


class SlotNoise:
    """Each slot's noise variance and the degrees of freedom behind it, float32; scales pooled across slots."""

    __slots__ = ("_dof", "_pool_reach", "_pooled", "_var", "median", "slots")

    def __init__(self, slots: int, width: int) -> None:
        self.slots = slots
        self._pool_reach = _POOL_REACH_S // width
        self._var: array[float] = array("f", [0.0]) * slots
        self._dof: array[float] = array("f", [0.0]) * slots
        self.median = _NAN
        # Pooled scales per slot, derived from _var, _dof and median: dropped whenever one of them changes.
        self._pooled: dict[int, float] = {}

    def scale(self, at: int) -> float:
        """Noise scale at slot `at`, pooled with its neighbours (NaN while no slot has one)."""
        at %= self.slots
        cached = self._pooled.get(at)
        if cached is not None:
            return cached
        slots, var, dof = self.slots, self._var, self._dof
        pool = [(var[at], dof[at])] if dof[at] > 0 else []
        weight = dof[at]
        for reach in range(1, self._pool_reach + 1):
            if weight >= _POOL_DOF:
                break
            for i in ((at - reach) % slots, (at + reach) % slots):
                if dof[i] > 0:
                    pool.append((var[i], dof[i]))
                    weight += dof[i]
        floor = _SCALE_MIN_FRACTION * self.median
        if pool:
            # A dof-weighted mean of variances, each capped at _POOL_CAP times their weighted median: one slot that
            # saw a burst the band let through does not set its neighbours' scale.
            cap = _POOL_CAP * _weighted_median(pool, weight)
            total = sum(d * (v if v < cap else cap) for v, d in pool)
            prior = self.median
            if weight < _POOL_DOF and prior == prior:
                # Short of evidence, lean on the median slot scale for the missing degrees of freedom.
                total += (_POOL_DOF - weight) * prior * prior
                weight = _POOL_DOF
            scale = math.sqrt(total / weight)
            scale = scale if scale >= floor else floor
        else:
            scale = self.median
        self._pooled[at] = scale
        return scale

    def learn(self, at: int, sums: SlotSums) -> None:
        """Add what slot `at` showed this season: residuals once the profile judged, else its detrended spread."""
        if sums.judged:
            seen, seen_dof = sums.res / sums.res_n * _MEAN_ABS_TO_STD if sums.res_n else _NAN, float(sums.res_n)
            now = self.scale(at)
            if seen > _SCALE_STEP * now:
                seen = _SCALE_STEP * now
        else:
            seen, seen_dof = sums.detrended_std() * _FIRST_SEASON_WIDENING, sums.n - 2.0
        if seen == seen and seen_dof > 0:
            kept = self._dof[at] * (1.0 - _SCALE_DECAY)
            self._dof[at] = kept + seen_dof
            self._var[at] = (self._var[at] * kept + seen * seen * seen_dof) / (kept + seen_dof)
            self._pooled.clear()

    def refresh(self, fallback: float = _NAN) -> None:
        """Recompute the median slot scale (as each season starts, and when the profile starts judging); `fallback`
        stands in while no slot has a scale (data too sparse for a spread within a slot)."""
        self._pooled.clear()
        known = [math.sqrt(v) for v, d in zip(self._var, self._dof, strict=True) if d > 0]
        if known:
            self.median = median_of(known)
        elif self.median != self.median:
            self.median = fallback

    def state(self) -> dict[str, Any]:
        return {
            "var": pack(self._var),
            "dof": pack(self._dof),
            "median": None if self.median != self.median else self.median,
        }

    def restore(self, state: dict[str, Any]) -> None:
        var, dof = unpack(state["var"], "f"), unpack(state["dof"], "f")
        if not len(var) == len(dof) == self.slots:
            raise ValueError("seasonal state was learnt with another season")
        self._var, self._dof = var, dof
        self.median = _NAN if state["median"] is None else number(state, "median")
        self._pooled.clear()


def _weighted_median(pool: list[tuple[float, float]], weight: float) -> float:
    """The value at half the total weight of (value, weight) pairs."""
    pool.sort()
    seen = 0.0
    for value, w in pool:
        seen += w
        if seen >= weight / 2.0:
            return value
    return pool[-1][0]


class SlotSums:
    """Running sums over the current slot: its mean, its spread around its own straight-line trend (so a ramp
    inside the slot is not mistaken for noise), the raw mean for phase tracking and the residuals once judging."""

    __slots__ = ("judged", "n", "raw", "res", "res_n", "sx", "sxx", "sxy", "sy", "syy", "y0")

    def __init__(self) -> None:
        self.n = 0
        self.y0 = self.sx = self.sxx = self.sy = self.sxy = self.syy = self.raw = self.res = 0.0
        self.res_n = 0
        self.judged = 0

    def add(self, x: float, y: float, raw: float, residual: float | None) -> None:
        if not self.n:
            self.y0 = y
        # Sums of y - y0, not y: no cancellation on series with a large constant level (byte counters).
        y -= self.y0
        self.n += 1
        self.sx += x
        self.sxx += x * x
        self.sy += y
        self.sxy += x * y
        self.syy += y * y
        self.raw += raw
        if residual is not None:
            self.judged += 1
            if residual == residual:
                self.res += residual
                self.res_n += 1

    def mean(self) -> float:
        return self.y0 + self.sy / self.n

    def detrended_std(self) -> float:
        """Standard deviation around the least-squares line through the slot's points (NaN with too few)."""
        n = self.n
        if n < 3:
            return _NAN
        var_x = self.sxx - self.sx * self.sx / n
        var_y = self.syy - self.sy * self.sy / n
        cov = self.sxy - self.sx * self.sy / n
        left = var_y - cov * cov / var_x if var_x > 0 else var_y
        return math.sqrt(max(left, 0.0) / (n - 2))

    def state(self) -> list[float]:
        return [
            self.n, self.y0, self.sx, self.sxx, self.sy, self.sxy, self.syy, self.raw, self.res, self.res_n, self.judged
        ]

    @classmethod
    def from_state(cls, values: list[float]) -> SlotSums:
        if len(values) != 11:
            raise ValueError("seasonal state has a malformed slot accumulator")
        sums = cls()
        sums.n, sums.res_n, sums.judged = int(values[0]), int(values[9]), int(values[10])
        sums.y0, sums.sx, sums.sxx, sums.sy, sums.sxy, sums.syy, sums.raw, sums.res = values[1:9]
        return sums

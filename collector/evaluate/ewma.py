"""The `ewma` baseline: exponentially weighted mean and variance that re-seed after a sustained level shift."""

from __future__ import annotations

import math
from typing import Any

from collector.evaluate.band import MIN_POINTS, BaselineParams, Judge, Verdict, floor_scale, robust_scale, sorted_median
from collector.evaluate.level import SHIFT_SPAN, Cadence, ShiftTracker, smoothing
from collector.evaluate.snapshot import STATE_VERSION, floats, integer, number, optional_number

# Time constant tau = history / 6 (28 h for 7d): all but e^-6 = 0.25 % of the weight lies inside `history`, and the
# mean follows a slow drift within a fraction of it. Weights are time-based (alpha = 1 - e^(-dt/tau) per point, dt
# capped after gaps), so the baseline means the same at any scrape interval.
HISTORY_PER_TAU = 6.0
# Each learnt value is clipped to mean +/- CLIP * scale first, so one outlier moves the baseline by a bounded step.
CLIP = 3.0


class EwmaDetector:
    """Band = EW mean +/- sensitivity * EW standard deviation.

    The first MIN_POINTS values seed mean and variance with their median and robust spread (a stray first value
    cannot dominate); after that each value counts at least 1/n, so a young baseline converges like a plain mean.
    """

    __slots__ = ("_cadence", "_first_ts", "_judge", "_learnt", "_mean", "_shift", "_tau", "_var", "_warm")

    def __init__(self, params: BaselineParams) -> None:
        history_s = params.history.total_seconds()
        self._judge = Judge(params)
        self._tau = history_s / HISTORY_PER_TAU
        self._first_ts: float | None = None
        self._learnt = 0
        self._warm: list[float] | None = []
        self._mean = 0.0
        self._var = 0.0
        self._cadence = Cadence()
        self._shift = ShiftTracker(history_s * SHIFT_SPAN)

    def observe(self, ts: float, value: float, *, learn: bool = True) -> Verdict:
        judge = self._judge
        first = self._first_ts
        learning = first is None or self._learnt < MIN_POINTS or ts - first < judge.min_history_s
        if not math.isfinite(value):
            return judge.pending(learning, self._learnt)
        if first is None:
            self._first_ts = ts
        warm = self._warm
        if warm is not None:
            verdict = judge.pending(learning, self._learnt)
            if learn:
                self._learnt += 1
                self._cadence.step(ts)
                warm.append(value)
                if len(warm) >= MIN_POINTS:
                    self._seed(warm)
            return verdict
        mean = self._mean
        scale = floor_scale(math.sqrt(self._var), mean)
        half = judge.sensitivity * scale
        verdict = judge.verdict(value, mean, mean - half, mean + half, learning, self._learnt)
        if learn:
            self._learn(ts, value, scale)
        return verdict

    def _seed(self, warm: list[float]) -> None:
        ordered = sorted(warm)
        self._mean = sorted_median(ordered)
        self._var = robust_scale(ordered, self._mean) ** 2
        self._warm = None

    def _learn(self, ts: float, value: float, scale: float) -> None:
        self._learnt += 1
        weight = smoothing(self._cadence.step(ts), self._tau)
        if weight * self._learnt < 1.0:
            weight = 1.0 / self._learnt
        mean = self._mean
        dev = value - mean
        limit = CLIP * scale
        clipped = limit if dev > limit else -limit if dev < -limit else dev
        self._mean = mean + weight * clipped
        self._var = (1.0 - weight) * (self._var + weight * clipped * clipped)
        shift = self._shift.update(ts, dev / scale, self._judge.sensitivity, value)
        if shift is not None:
            # The variance was learnt from clipped values: let it widen at once if the new level is noisier.
            self._mean = shift[0]
            self._var = max(self._var, shift[1] ** 2)

    def state(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "method": "ewma",
            "first": self._first_ts,
            "learnt": self._learnt,
            "warm": self._warm,
            "mean": self._mean,
            "var": self._var,
            "cadence": self._cadence.state(),
            "shift": self._shift.state(),
        }

    @classmethod
    def from_state(cls, params: BaselineParams, state: dict[str, Any]) -> EwmaDetector:
        detector = cls(params)
        detector._first_ts = optional_number(state, "first")
        detector._learnt = integer(state, "learnt")
        detector._warm = None if state["warm"] is None else floats(state, "warm")
        detector._mean = number(state, "mean")
        detector._var = number(state, "var")
        detector._cadence = Cadence.from_state(state["cadence"])
        detector._shift.restore(state["shift"])
        return detector

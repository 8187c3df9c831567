"""How a learnt baseline judges one value: the rule's baseline parameters, the band and the verdict."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

METHODS = frozenset({"robust", "ewma", "seasonal"})
DIRECTIONS = frozenset({"above", "below", "both"})
SEASONS = (timedelta(days=1), timedelta(weeks=1))

# A band exists only once this many points were learnt, so one stray early point cannot define "normal".
MIN_POINTS = 10
# The scale never drops below this fraction of the level: on a flat series a 0.1 % wobble is not an incident.
REL_FLOOR = 1e-3
# Last resort when level and spread are both zero (a series that has only ever been 0).
ABS_FLOOR = 1e-12

# Quantiles of |x - median| with the matching quantile of |N(0, 1)|. The scale is the largest estimate of the
# first two (the MAD, 0.6745 = 1 / 1.4826, and the 90th percentile): the MAD alone understates the spread of
# heavy-tailed noise and of small counts (a Poisson(30) count has a MAD of 3 or 4 for a standard deviation of 5.5).
# The last two keep a band on quantised series (a counter that is 0 most of the time) where the first two are 0.
_DEVIATION_QUANTILES = ((0.5, 0.6745), (0.9, 1.6449))
_SPARSE_QUANTILES = ((0.975, 2.2414), (1.0, 3.0))


def _plain(value: Any) -> Any:
    """An enum member's value, or the value itself (the rule schema may use either)."""
    return getattr(value, "value", value)


@dataclass(frozen=True, slots=True)
class BaselineParams:
    """The `condition.baseline` settings of one rule (DESIGN §4)."""

    method: str
    history: timedelta
    sensitivity: float
    direction: str
    min_history: timedelta
    min_delta: float
    season: timedelta | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown baseline method {self.method!r} (expected robust, ewma or seasonal)")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {self.direction!r} (expected above, below or both)")
        if not self.sensitivity > 0:
            raise ValueError("sensitivity must be greater than 0")
        if self.history <= timedelta(0):
            raise ValueError("history must be longer than 0s")
        if self.min_history < timedelta(0) or self.min_delta < 0:
            raise ValueError("min_history and min_delta must not be negative")
        if self.method == "seasonal" and self.season not in (None, *SEASONS):
            raise ValueError("season must be 1d or 1w")

    @classmethod
    def from_spec(cls, spec: Any) -> BaselineParams:
        """Read the fields from any object that has them (the rule schema's baseline spec)."""
        return cls(
            method=str(_plain(spec.method)),
            history=spec.history,
            sensitivity=float(spec.sensitivity),
            direction=str(_plain(spec.direction)),
            min_history=spec.min_history,
            min_delta=float(spec.min_delta),
            season=getattr(spec, "season", None),
        )

    @property
    def season_or_day(self) -> timedelta:
        """The seasonal profile's period; a daily one when the rule names none."""
        return self.season or SEASONS[0]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a baseline says about one value.

    `lower`/`upper` are the effective thresholds: the statistical band, widened to at least `min_delta` either side
    of `expected`, so a value is anomalous exactly when it lies beyond them on the rule's side. `score` is the signed
    deviation from `expected` in units of (statistical band half-width / sensitivity), i.e. robust standard
    deviations: |score| > sensitivity means outside the statistical band. `samples` counts the values learnt.
    Without enough history the band fields are None; while `learning` the value is never anomalous.
    """

    expected: float | None
    lower: float | None
    upper: float | None
    score: float | None
    anomalous: bool
    learning: bool
    samples: int

    def to_dict(self, method: str) -> dict[str, Any]:
        """The `baseline` object of events and of /api/alerts."""
        return {
            "method": method,
            "expected": self.expected,
            "lower": self.lower,
            "upper": self.upper,
            "score": self.score,
            "samples": self.samples,
        }


class Judge:
    """Turns a band into a verdict with the rule's sensitivity, direction, min_delta and learning period."""

    __slots__ = ("above", "below", "min_delta", "min_history_s", "sensitivity")

    def __init__(self, params: BaselineParams) -> None:
        self.sensitivity = params.sensitivity
        self.above = params.direction in ("above", "both")
        self.below = params.direction in ("below", "both")
        self.min_delta = params.min_delta
        self.min_history_s = params.min_history.total_seconds()

    def verdict(
        self, value: float, expected: float, low: float, high: float, learning: bool, samples: int
    ) -> Verdict:
        """Judge `value` against the statistical band [low, high] around `expected` (low < expected < high)."""
        dev = value - expected
        sens = self.sensitivity
        width = high - expected if dev >= 0 else expected - low
        # The floors keep width > 0; only a sensitivity too small to shift a float leaves it at 0.
        score = sens * dev / width if width > 0 else 0.0 if dev == 0 else math.copysign(math.inf, dev)
        delta = self.min_delta
        lower = low if low < expected - delta else expected - delta
        upper = high if high > expected + delta else expected + delta
        anomalous = not learning and ((self.above and value > upper) or (self.below and value < lower))
        return Verdict(expected, lower, upper, score, anomalous, learning, samples)

    def pending(self, learning: bool, samples: int) -> Verdict:
        """The verdict while no band exists yet."""
        return Verdict(None, None, None, None, False, learning, samples)


def floor_scale(scale: float, level: float) -> float:
    """`scale` raised to the relative and absolute floors, so a flat series still has a band."""
    floor = REL_FLOOR * abs(level)
    if floor < ABS_FLOOR:
        floor = ABS_FLOOR
    return scale if scale > floor else floor


def sorted_median(values: Sequence[float]) -> float:
    """Median of a sorted, non-empty sequence."""
    n = len(values)
    half = n // 2
    return values[half] if n % 2 else (values[half - 1] + values[half]) / 2.0


def _kth_deviation(values: Sequence[float], center: float, k: int) -> float:
    """The k-th smallest |x - center| over a sorted sequence, in O(log n).

    The k values closest to `center` form a contiguous run of the sorted sequence; a binary search finds where it
    starts, and the k-th smallest deviation is the larger of the run's two end deviations.
    """
    lo, hi = 0, len(values) - k
    while lo < hi:
        mid = (lo + hi) // 2
        if center - values[mid] > values[mid + k] - center:
            lo = mid + 1
        else:
            hi = mid
    return max(center - values[lo], values[lo + k - 1] - center)


def robust_scale(values: Sequence[float], center: float) -> float:
    """A robust standard deviation of a sorted sequence around its median (see _DEVIATION_QUANTILES); 0 only when
    every value equals the median."""
    n = len(values)
    scale = 0.0
    for q, z in _DEVIATION_QUANTILES:
        dev = _kth_deviation(values, center, max(1, math.ceil(q * n))) / z
        if dev > scale:
            scale = dev
    if scale > 0:
        return scale
    for q, z in _SPARSE_QUANTILES:
        dev = _kth_deviation(values, center, max(1, math.ceil(q * n)))
        if dev > 0:
            return dev / z
    return 0.0


def median_of(values: Sequence[float]) -> float:
    """Median of any non-empty sequence."""
    return sorted_median(sorted(values))


"""Seeded synthetic series with labelled anomalies, to tune and check baselines (tests, bench, rule trials).

Every series is a sum of parts a user recognises: a level, a daily pattern (a busy afternoon, quiet nights), a
weekend dip, growth, a slow random wander, noise (normal, heavy-tailed or Poisson counts), gaps, and a DST-like
switch after which the daily pattern comes an hour earlier. Anomalies are injected on top and labelled:
spikes, dips, temporary level shifts, slow drifts, outages and permanent steps.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from collector.evaluate.band import BaselineParams

DAY = 86_400.0
# 2026-01-01 13:30 UTC, a Thursday afternoon: series start mid-day, as real ones do.
START = 1_767_274_200.0


@dataclass(frozen=True, slots=True)
class Shape:
    """The normal behaviour of a synthetic series."""

    level: float = 100.0
    daily: float = 0.0  # relative height of the afternoon peak over the night level
    weekend: float = 1.0  # level factor on Saturdays and Sundays
    trend: float = 0.0  # relative growth per day
    wander: float = 0.0  # relative random-walk step per sqrt(day)
    noise: float = 0.02  # standard deviation relative to the level (ignored for poisson)
    noise_kind: str = "gauss"  # gauss | student (5 degrees of freedom) | poisson
    multiplicative: bool = False  # noise proportional to the current value instead of the base level
    dst_day: float | None = None  # from this day on the daily pattern comes one hour earlier


@dataclass(frozen=True, slots=True)
class Injection:
    """One anomaly: `size` is in noise standard deviations (a factor of the value for outage and step)."""

    day: float
    kind: str  # spike | dip | shift | drift | outage | step
    size: float
    minutes: float


@dataclass(frozen=True, slots=True)
class Anomaly:
    """A labelled window, in unix seconds."""

    start: float
    end: float
    kind: str


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    times: list[float]
    values: list[float]
    anomalies: tuple[Anomaly, ...]


def _pattern(shape: Shape, t: float, rng_walk: float) -> float:
    """The normal value at unix time t (before noise)."""
    days = (t - START) / DAY
    shift = 3600.0 if shape.dst_day is not None and days >= shape.dst_day else 0.0
    local = (t + shift) % DAY / 3600.0
    value = shape.level * (1.0 + shape.trend * days) * (1.0 + rng_walk)
    if shape.daily:
        # Quiet nights, a morning ramp and a broad afternoon peak at 14:00.
        value *= (1.0 + shape.daily * math.exp(-(((local - 14.0) / 4.0) ** 2))) / (1.0 + shape.daily / 2.0)
    if shape.weekend != 1.0 and ((t + shift) // DAY + 3) % 7 >= 5:
        value *= shape.weekend
    return value


def _poisson(rng: random.Random, lam: float) -> float:
    if lam > 60.0:
        return float(max(0, round(rng.gauss(lam, math.sqrt(lam)))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return float(k)


def synthesize(
    name: str,
    shape: Shape,
    *,
    days: float,
    step_s: float,
    seed: int,
    injections: Sequence[Injection] = (),
    gaps: Sequence[tuple[float, float]] = (),
) -> Series:
    """A series sampled every `step_s` seconds for `days`, without points inside `gaps` (day ranges)."""
    rng = random.Random(seed)
    times: list[float] = []
    values: list[float] = []
    walk = 0.0
    walk_step = shape.wander * math.sqrt(step_s / DAY)
    for i in range(int(days * DAY / step_s)):
        t = START + i * step_s
        walk += rng.gauss(0.0, walk_step)
        day = i * step_s / DAY
        normal = _pattern(shape, t, walk)
        sigma = shape.noise * (normal if shape.multiplicative else shape.level)
        if shape.noise_kind == "poisson":
            sigma = math.sqrt(max(normal, 1.0))
        value = normal
        for inj in injections:
            into = (day - inj.day) * 1440.0
            if inj.kind == "step" and into >= 0:
                value *= inj.size
            elif 0 <= into < max(inj.minutes, step_s / 60.0):
                value = _inject(inj, value, sigma, into)
        if any(a <= day < b for a, b in gaps):
            continue
        if shape.noise_kind == "poisson":
            value = _poisson(rng, max(value, 0.0))
        elif shape.noise_kind == "student":
            value += sigma * rng.gauss(0.0, 1.0) / math.sqrt(sum(rng.gauss(0.0, 1.0) ** 2 for _ in range(5)) / 5.0)
        else:
            value += rng.gauss(0.0, sigma)
        times.append(t)
        values.append(value)
    anomalies = tuple(
        Anomaly(START + inj.day * DAY, START + inj.day * DAY + max(inj.minutes * 60.0, step_s) + step_s, inj.kind)
        for inj in injections
    )
    return Series(name, times, values, anomalies)


def _inject(inj: Injection, value: float, sigma: float, minutes_in: float) -> float:
    if inj.kind == "spike" or inj.kind == "shift":
        return value + inj.size * sigma
    if inj.kind == "dip":
        return value - inj.size * sigma
    if inj.kind == "drift":
        return value + inj.size * sigma * minutes_in / inj.minutes
    if inj.kind == "outage":
        return value * inj.size
    raise ValueError(f"unknown injection {inj.kind!r}")


@dataclass(frozen=True, slots=True)
class Case:
    """A series and the rule settings a user would pick for it, per method that suits it."""

    series: Series
    methods: tuple[str, ...]
    sensitivity: float = 4.0
    history: timedelta = timedelta(days=7)
    season: timedelta | None = None

    def params(self, method: str, **changes: object) -> BaselineParams:
        fields: dict[str, object] = {
            "method": method,
            "history": self.history,
            "sensitivity": self.sensitivity,
            "direction": "both",
            "min_history": timedelta(hours=1),
            "min_delta": 0.0,
            "season": self.season if method == "seasonal" else None,
        }
        fields.update(changes)
        return BaselineParams(**fields)  # type: ignore[arg-type]


_FLAT_ANOMALIES = (
    Injection(2.1, "spike", 10, 1),
    Injection(2.6, "dip", 10, 2),
    Injection(3.3, "shift", 6, 90),
    Injection(4.2, "drift", 12, 240),
    Injection(5.05, "spike", 8, 1),
    Injection(5.7, "outage", 0.3, 20),
    Injection(6.4, "shift", -6, 60),
    Injection(7.2, "spike", 15, 3),
)
_DAILY_ANOMALIES = (
    Injection(2.35, "spike", 10, 2),
    Injection(3.1, "outage", 0.4, 45),
    Injection(4.55, "dip", 10, 4),
    Injection(5.9, "shift", 6, 120),
    Injection(7.4, "drift", 12, 240),
    Injection(8.2, "spike", 12, 2),
    Injection(9.65, "outage", 0.2, 30),
    Injection(10.95, "shift", -6, 90),
    Injection(12.3, "spike", 8, 4),
    Injection(13.2, "dip", 8, 6),
)


def catalogue(scale: float = 1.0, variant: int = 0) -> list[Case]:
    """The synthetic corpus. `scale` < 1 samples more sparsely (fewer points, same days) for quick runs; another
    `variant` draws other noise (same shapes and anomalies)."""
    step, daily_step, seed = 60.0 / scale, 120.0 / scale, 100 * variant
    flat = ("robust", "ewma")
    day = timedelta(days=1)
    traffic = Shape(level=1000.0, daily=1.5, noise=0.03, multiplicative=True)
    weekly = tuple(Injection(inj.day * 2 + 8, inj.kind, inj.size, inj.minutes) for inj in _DAILY_ANOMALIES)

    def plain(name: str, shape: Shape, n: int, injections: Sequence[Injection] = _FLAT_ANOMALIES) -> Series:
        return synthesize(name, shape, days=8, step_s=step, seed=seed + n, injections=injections)

    def daily(name: str, shape: Shape, n: int, gaps: Sequence[tuple[float, float]] = ()) -> Series:
        return synthesize(
            name, shape, days=14, step_s=daily_step, seed=seed + n, injections=_DAILY_ANOMALIES, gaps=gaps
        )

    return [
        Case(plain("flat", Shape(), 1), flat),
        Case(
            plain("heavy-tailed", Shape(level=50.0, noise=0.04, noise_kind="student"), 2, _FLAT_ANOMALIES[:4]),
            flat,
            sensitivity=7.0,
        ),
        Case(plain("counts", Shape(level=30.0, noise_kind="poisson"), 3), flat),
        Case(plain("wander", Shape(wander=0.1), 4), ("ewma",), history=day),
        Case(daily("daily", traffic, 5), ("seasonal",), season=day),
        Case(
            daily("daily-trend", Shape(level=1000.0, daily=1.5, noise=0.03, multiplicative=True, trend=0.03), 6),
            ("seasonal",),
            season=day,
        ),
        Case(daily("daily-gaps", traffic, 7, gaps=((4.0, 4.3), (6.5, 7.2))), ("seasonal",), season=day),
        Case(
            daily("daily-dst", Shape(level=1000.0, daily=1.5, noise=0.03, multiplicative=True, dst_day=6.6), 8),
            ("seasonal",),
            season=day,
        ),
        Case(daily("daily-counts", Shape(level=40.0, daily=1.5, noise_kind="poisson"), 9), ("seasonal",), season=day),
        Case(
            synthesize(
                "weekly",
                Shape(level=500.0, daily=1.2, weekend=0.5, noise=0.03, multiplicative=True),
                days=35,
                step_s=5 * step,
                seed=seed + 10,
                injections=weekly,
            ),
            ("seasonal",),
            season=timedelta(weeks=1),
            history=timedelta(weeks=4),
        ),
    ]

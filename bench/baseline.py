"""Dynamic baselines: per-point observe() cost, memory per series, and precision / recall / detection delay on the
synthetic corpus, per method; prints figures, asserts nothing.

Run: .venv/bin/python bench/baseline.py [--points 200000] [--variants 3] [--series 200] [--scales 1 0.4]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import random
import time
import tracemalloc
from datetime import timedelta

from machine import machine

from collector.evaluate.baseline import BaselineParams, Detector, make_detector
from collector.evaluate.corpus import catalogue
from collector.evaluate.trial import Score, replay, score

DAY = 86_400.0
STEP = 10.0  # one evaluation every 10 s
# (label, method, season, history, days of data before measuring)
CONFIGS = (
    ("robust", "robust", None, timedelta(days=7), 8.0),
    ("ewma", "ewma", None, timedelta(days=7), 8.0),
    ("seasonal 1d", "seasonal", timedelta(days=1), timedelta(days=7), 8.0),
    ("seasonal 1w", "seasonal", timedelta(weeks=1), timedelta(weeks=4), 15.0),
)


def _params(method: str, season: timedelta | None, history: timedelta) -> BaselineParams:
    return BaselineParams(
        method=method,
        history=history,
        sensitivity=3.0,
        direction="both",
        min_history=timedelta(hours=1),
        min_delta=0.0,
        season=season,
    )


def _traffic(n: int, start: float, rng: random.Random) -> tuple[list[float], list[float]]:
    """A daily-seasonal series with 3 % noise, sampled every STEP seconds."""
    times = [start + i * STEP for i in range(n)]
    values = [
        1000.0 * (1.0 + 0.6 * math.sin(2 * math.pi * t / DAY)) * (1.0 + rng.gauss(0.0, 0.03)) for t in times
    ]
    return times, values


def _warm(params: BaselineParams, days: float) -> tuple[Detector, float]:
    rng = random.Random(7)
    times, values = _traffic(int(days * DAY / STEP), 1_767_225_600.0, rng)
    detector = make_detector(params)
    for t, v in zip(times, values, strict=True):
        detector.observe(t, v)
    return detector, times[-1] + STEP


def bench_cost(points: int) -> None:
    print(f"\nobserve() cost in steady state (one value every {STEP:.0f} s, learn=True), best of 3:")
    for label, method, season, history, days in CONFIGS:
        params = _params(method, season, history)
        detector, start = _warm(params, days)
        times, values = _traffic(points, start, random.Random(11))
        saved = json.dumps(detector.state())
        best = math.inf
        for _ in range(3):
            observe = make_detector(params, json.loads(saved)).observe
            gc.disable()
            began = time.perf_counter()
            for t, v in zip(times, values, strict=True):
                observe(t, v)
            elapsed = time.perf_counter() - began
            gc.enable()
            best = min(best, elapsed)
        print(f"  {label:12s} {best / points * 1e6:6.2f} µs/point  (history {history.days}d, {points} points)")


def bench_memory(series: int) -> None:
    print(f"\nmemory per series in steady state ({series} restored detectors, tracemalloc):")
    for label, method, season, history, days in CONFIGS:
        params = _params(method, season, history)
        detector, _ = _warm(params, days)
        text = json.dumps(detector.state())
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        kept = [make_detector(params, json.loads(text)) for _ in range(series)]
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        # Only what the detectors hold: the decoded JSON dicts are garbage by now.
        used = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
        print(f"  {label:12s} {used / len(kept):8.0f} B in memory   {len(text):6d} B as JSON  "
              f"(after {days:.0f} days of data, history {history.days}d)")


def bench_quality(variants: int, scale: float) -> None:
    print(
        f"\nsynthetic corpus, one value every {60 / scale:.0f} s (flat) / {120 / scale:.0f} s (daily), "
        f"{variants} noise draws; per-point alerting, nothing learnt while firing:"
    )
    print(f"  {'series':14s} {'method':9s} {'found':>7s} {'episodes':>8s} {'false':>5s} {'delay':>8s}   (first draw)")
    totals: dict[str, Score] = {}
    for variant in range(variants):
        for case in catalogue(scale=scale, variant=variant):
            for method in case.methods:
                result = score(case.series, replay(make_detector(case.params(method)), case.series))
                totals[method] = totals[method] + result if method in totals else result
                if variant == 0:
                    print(
                        f"  {case.series.name:14s} {method:9s} {result.found:3d}/{result.anomalies:<3d} "
                        f"{result.episodes:8d} {result.false_episodes:5d} {result.mean_delay / 60:6.1f} m"
                    )
    print("  all draws:")
    for method, result in totals.items():
        print(
            f"  {method:9s} precision {result.precision:.3f}  recall {result.recall:.3f}  "
            f"mean delay {result.mean_delay / 60:.1f} min  ({result.anomalies} anomalies, "
            f"{result.false_episodes} false episodes of {result.episodes})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--variants", type=int, default=3)
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 0.4], help="corpus sampling rates")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    bench_cost(args.points)
    bench_memory(args.series)
    for scale in args.scales:
        bench_quality(args.variants, scale)


if __name__ == "__main__":
    main()

"""The latency sketch answers p50…p99 within 2% of the exact value, merges, and packs without loss."""

from __future__ import annotations

import math
import random

import pytest

from collector.store import sketch

QUANTILES = (0.5, 0.75, 0.9, 0.95, 0.99)


def exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


def sketch_of(values: list[float]) -> sketch.Bins:
    bins: sketch.Bins = {}
    sketch.add_values(bins, values)
    return bins


def assert_close(values: list[float], bins: sketch.Bins) -> None:
    for q in QUANTILES:
        want, got = exact(values, q), sketch.quantile(bins, q)
        assert got is not None
        if want == 0:
            assert got == 0
        else:
            assert abs(got - want) / want <= sketch.RELATIVE_ACCURACY + 1e-9, (q, want, got)


def distributions() -> dict[str, list[float]]:
    rng = random.Random(42)
    n = 20_000
    return {
        "uniform": [rng.uniform(1, 1000) for _ in range(n)],
        "lognormal": [rng.lognormvariate(3, 1.5) for _ in range(n)],
        "bimodal": [rng.gauss(5, 0.5) if rng.random() < 0.7 else rng.gauss(800, 50) for _ in range(n)],
        "all equal": [42.0] * n,
        "1 µs .. 1 h": [10 ** rng.uniform(-3, math.log10(3_600_000)) for _ in range(n)],
        "many zeros": [0.0] * (n // 2) + [rng.expovariate(0.1) for _ in range(n // 2)],
        "mostly zeros": [0.0] * (n - 50) + [rng.uniform(1, 2) for _ in range(50)],
        "tiny and huge": [1e-6] * (n // 2) + [3.6e6] * (n // 2),
        "two values": [1.0, 1000.0],
    }


@pytest.mark.parametrize("name", list(distributions()))
def test_quantiles_are_within_two_percent_of_exact(name: str) -> None:
    values = distributions()[name]
    assert_close(values, sketch_of(values))


@pytest.mark.parametrize("name", ["lognormal", "bimodal", "many zeros"])
def test_merged_sketches_answer_like_one_sketch_of_everything(name: str) -> None:
    values = distributions()[name]
    merged: sketch.Bins = {}
    for i in range(0, len(values), 997):
        sketch.merge(merged, sketch_of(values[i : i + 997]))
    assert_close(values, merged)


def test_packed_sketch_unpacks_to_the_same_counts() -> None:
    values = distributions()["lognormal"] + [0.0] * 10
    bins = sketch_of(values)
    back: sketch.Bins = {}
    sketch.unpack_into(back, sketch.pack(bins))
    assert back == bins


def test_packing_uses_one_byte_per_bin_for_small_counts() -> None:
    bins = sketch_of([float(v) for v in range(1, 200)])
    assert len(sketch.pack(bins)) < 2 * len(bins) + 32


def test_dense_counts_round_trip_and_merge() -> None:
    rng = random.Random(3)
    values = [rng.lognormvariate(2, 1) for _ in range(5000)] + [0.0] * 3
    dense = sketch.Dense()
    for i in range(0, len(values), 100):
        dense.add(sketch_of(values[i : i + 100]))
    again = sketch.Dense.unpack(dense.pack())
    bins: sketch.Bins = {}
    again.add_to(bins)
    assert bins == sketch_of(values)
    assert_close(values, bins)


def test_empty_sketch_has_no_quantile() -> None:
    assert sketch.quantile({}, 0.5) is None


def test_histogram_bucket_spreads_evenly_over_its_range() -> None:
    bins: sketch.Bins = {}
    sketch.spread(bins, 0.0, 100.0, 1000)
    assert sketch.total(bins) == pytest.approx(1000)
    median = sketch.quantile(bins, 0.5)
    assert median is not None and 40 <= median <= 60
    top = sketch.quantile(bins, 0.99)
    assert top is not None and 90 <= top <= 100 * (1 + sketch.RELATIVE_ACCURACY)

"""Every baseline method keeps the detector contract: learning period, stray first point, min_delta, direction,
restart, outage exclusion, gaps, bounded state."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from datetime import timedelta

import pytest

from collector.evaluate.baseline import BaselineParams, Detector, Verdict, make_detector

METHODS = ("robust", "ewma", "seasonal")
MIDNIGHT = 1_767_225_600.0  # 2026-01-01 00:00 UTC
DAY = 86_400.0


def params(method: str, **changes: object) -> BaselineParams:
    base = BaselineParams(
        method=method,
        history=timedelta(days=7),
        sensitivity=4.0,
        direction="both",
        min_history=timedelta(hours=1),
        min_delta=0.0,
        season=timedelta(days=1) if method == "seasonal" else None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def steady(n: int, *, step: float = 60.0, level: float = 100.0, noise: float = 2.0, seed: int = 1,
           start: float = MIDNIGHT) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [(start + i * step, level + rng.gauss(0.0, noise)) for i in range(n)]


def daily(days: float, *, step: float = 300.0, seed: int = 1, start: float = MIDNIGHT) -> list[tuple[float, float]]:
    """Traffic with quiet nights and a busy afternoon, 3 % noise."""
    rng = random.Random(seed)
    points = []
    for i in range(int(days * DAY / step)):
        t = start + i * step
        normal = 500.0 * (1.6 - math.cos(2 * math.pi * (t % DAY) / DAY))
        points.append((t, normal * (1.0 + rng.gauss(0.0, 0.03))))
    return points


def history_for(method: str) -> list[tuple[float, float]]:
    """Normal data long enough for every method to judge with its own model (seasonal: two days)."""
    return daily(2.5) if method == "seasonal" else steady(2000)


def feed(detector: Detector, points: list[tuple[float, float]]) -> list[Verdict]:
    return [detector.observe(t, v) for t, v in points]


@pytest.mark.parametrize("method", METHODS)
def test_nothing_is_anomalous_during_the_learning_period(method: str) -> None:
    detector = make_detector(params(method, min_history=timedelta(hours=2)))
    points = steady(240)
    early = [detector.observe(t, v * (30.0 if i % 29 == 3 else 1.0)) for i, (t, v) in enumerate(points[:120])]
    assert all(v.learning and not v.anomalous for v in early)
    assert [v.samples for v in early] == list(range(120))
    later = [detector.observe(t, v) for t, v in points[120:]]
    assert not any(v.learning for v in later)
    assert detector.observe(points[-1][0] + 60.0, 3000.0).anomalous


@pytest.mark.parametrize("method", METHODS)
def test_a_band_needs_several_points_not_only_time(method: str) -> None:
    detector = make_detector(params(method))
    detector.observe(MIDNIGHT, 100.0)
    after_gap = detector.observe(MIDNIGHT + 2 * DAY, 5000.0)
    assert after_gap.learning and not after_gap.anomalous and after_gap.expected is None


@pytest.mark.parametrize("method", METHODS)
def test_a_stray_first_point_does_not_poison_the_baseline(method: str) -> None:
    detector = make_detector(params(method))
    detector.observe(MIDNIGHT - 60.0, 1_000_000.0)
    verdicts = feed(detector, steady(300))
    settled = verdicts[100:]
    assert not any(v.anomalous for v in settled)
    assert all(v.expected is not None and abs(v.expected - 100.0) < 3.0 for v in settled)
    assert detector.observe(MIDNIGHT + 300 * 60.0, 130.0).anomalous


@pytest.mark.parametrize("method", METHODS)
def test_min_delta_keeps_small_absolute_moves_quiet(method: str) -> None:
    points = steady(2000, level=0.001, noise=0.0001)
    spike_at = points[-1][0] + 60.0
    strict = make_detector(params(method))
    lenient = make_detector(params(method, min_delta=0.01))
    feed(strict, points)
    feed(lenient, points)
    assert strict.observe(spike_at, 0.003).anomalous
    verdict = lenient.observe(spike_at, 0.003)
    assert not verdict.anomalous
    assert verdict.expected is not None and verdict.upper is not None and verdict.lower is not None
    assert verdict.upper >= verdict.expected + 0.01 and verdict.lower <= verdict.expected - 0.01
    assert lenient.observe(spike_at + 60.0, 0.05).anomalous


@pytest.mark.parametrize("method", METHODS)
def test_direction_decides_which_side_is_anomalous(method: str) -> None:
    learnt = make_detector(params(method))
    points = history_for(method)
    feed(learnt, points)
    state = learnt.state()
    at = points[-1][0] + 300.0
    expected = learnt.observe(at, points[-1][1], learn=False).expected
    assert expected is not None
    outcomes = {}
    for direction in ("above", "below", "both"):
        detector = make_detector(params(method, direction=direction), state)
        outcomes[direction] = (
            detector.observe(at, expected * 3.0, learn=False).anomalous,
            detector.observe(at, expected * 0.2, learn=False).anomalous,
        )
    assert outcomes == {"above": (True, False), "below": (False, True), "both": (True, True)}


@pytest.mark.parametrize("method", METHODS)
def test_anomalous_exactly_outside_the_band_and_score_in_sensitivity_units(method: str) -> None:
    detector = make_detector(params(method))
    points = history_for(method)
    feed(detector, points)
    rng = random.Random(5)
    start = points[-1][0]
    for i in range(1, 400):
        value = points[-(i % 200) - 1][1] * rng.choice((1.0, 1.0, 1.15, 0.85, 1.4))
        verdict = detector.observe(start + i * 300.0, value, learn=False)
        assert verdict.expected is not None and verdict.lower is not None and verdict.upper is not None
        assert verdict.score is not None
        assert verdict.lower < verdict.expected < verdict.upper
        assert verdict.anomalous == (value > verdict.upper or value < verdict.lower)
        assert verdict.anomalous == (abs(verdict.score) > 4.0)
        assert math.copysign(1.0, verdict.score) == math.copysign(1.0, value - verdict.expected)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("cut", [5, 200, 500, 900])
def test_restart_mid_history_gives_the_same_verdicts(method: str, cut: int) -> None:
    points = daily(4.0, step=360.0)
    # Some values the evaluator would not let it learn (an alert firing), including across the cut.
    learn = [not 480 <= i <= 520 for i in range(len(points))]
    whole = make_detector(params(method))
    expected = [whole.observe(t, v, learn=ok) for (t, v), ok in zip(points, learn, strict=True)]
    first = make_detector(params(method))
    got = [first.observe(t, v, learn=ok) for (t, v), ok in zip(points[:cut], learn[:cut], strict=True)]
    saved = json.dumps(first.state(), allow_nan=False)
    second = make_detector(params(method), json.loads(saved))
    got += [second.observe(t, v, learn=ok) for (t, v), ok in zip(points[cut:], learn[cut:], strict=True)]
    assert got == expected
    assert second.state() == whole.state()


@pytest.mark.parametrize("method", METHODS)
def test_a_restart_does_not_restart_the_learning_period(method: str) -> None:
    detector = make_detector(params(method, min_history=timedelta(hours=3)))
    points = steady(240)
    feed(detector, points[:120])
    restored = make_detector(params(method, min_history=timedelta(hours=3)), json.loads(json.dumps(detector.state())))
    assert restored.observe(*points[120]).learning
    assert not restored.observe(points[0][0] + 3 * 3600.0, 100.0).learning


@pytest.mark.parametrize("method", METHODS)
def test_an_outage_that_fires_is_not_learnt(method: str) -> None:
    detector = make_detector(params(method))
    points = history_for(method)
    feed(detector, points)
    start = points[-1][0] + 300.0
    normal = {t % DAY: v for t, v in points[-288:]} if method == "seasonal" else None
    firing = False
    during = []
    for i in range(72):  # six hours at 20 % of normal; nothing learnt while the alert fires
        t = start + i * 300.0
        usual = normal[t % DAY] if normal else 100.0
        verdict = detector.observe(t, 0.2 * usual, learn=not firing)
        firing = firing or verdict.anomalous
        during.append(verdict)
    assert all(v.anomalous and v.score is not None and v.score < 0 for v in during[1:])
    after = start + 72 * 300.0
    recovered = [detector.observe(after + i * 300.0, normal[(after + i * 300.0) % DAY] if normal else 100.0)
                 for i in range(24)]
    assert not any(v.anomalous for v in recovered)


@pytest.mark.parametrize("method", METHODS)
def test_gaps_in_the_data_break_nothing(method: str) -> None:
    detector = make_detector(params(method))
    points = daily(1.5) if method == "seasonal" else steady(1500)
    feed(detector, points)
    resume = points[-1][0] + 2 * DAY
    later = daily(1.0, start=MIDNIGHT + math.ceil((resume - MIDNIGHT) / DAY) * DAY, seed=2) if method == "seasonal" \
        else steady(600, start=resume, seed=2)
    verdicts = feed(detector, later)
    assert not any(v.anomalous for v in verdicts)
    assert all(v.expected is not None and math.isfinite(v.expected) for v in verdicts)


@pytest.mark.parametrize("method", METHODS)
def test_values_that_are_not_finite_are_neither_judged_nor_learnt(method: str) -> None:
    detector = make_detector(params(method))
    feed(detector, steady(200))
    before = detector.state()
    for bad in (math.nan, math.inf, -math.inf):
        verdict = detector.observe(MIDNIGHT + 200 * 60.0, bad)
        assert not verdict.anomalous and verdict.score is None
    assert detector.state() == before


@pytest.mark.parametrize(("method", "limit"), [("robust", 8_000), ("ewma", 1_000), ("seasonal", 9_000)])
def test_state_stays_bounded_however_long_the_history(method: str, limit: int) -> None:
    detector = make_detector(params(method))
    points = daily(16.0, step=60.0)
    feed(detector, points[: len(points) // 2])
    early = len(json.dumps(detector.state()))
    feed(detector, points[len(points) // 2 :])
    late = len(json.dumps(detector.state()))
    assert late <= limit
    assert late <= early * 1.1 + 300


@pytest.mark.parametrize("method", METHODS)
def test_odd_inputs_never_break_a_detector(method: str) -> None:
    # Constant, zero, negative, tiny and huge values, repeated or out-of-order timestamps, long gaps, NaN, and
    # alternating learn flags: every verdict stays consistent and every state survives a JSON round trip.
    rng = random.Random(METHODS.index(method))
    for trial in range(12):
        p = params(method, sensitivity=rng.choice((0.5, 3.0, 10.0)), min_delta=rng.choice((0.0, 0.5)),
                   min_history=timedelta(seconds=rng.choice((0, 3600))), direction=rng.choice(("above", "below")))
        detector = make_detector(p)
        t, size = MIDNIGHT, 10 ** rng.uniform(-9, 12)
        for i in range(400):
            t += rng.choice((0.0, 10.0, 60.0, 60.0, -5.0, 3 * DAY if i == 200 else 60.0))
            value = rng.choice((0.0, size, -size, size * (1 + rng.gauss(0, 0.1)), size * 1e3, math.nan))
            if trial % 3 == 0:
                value = size
            verdict = detector.observe(t, value, learn=rng.random() < 0.9)
            if verdict.expected is not None:
                assert verdict.lower is not None and verdict.upper is not None and verdict.score is not None
                assert verdict.lower <= verdict.expected <= verdict.upper
                assert not math.isnan(verdict.score)
            assert not (verdict.learning and verdict.anomalous)
        restored = make_detector(p, json.loads(json.dumps(detector.state(), allow_nan=False)))
        assert restored.state() == detector.state()

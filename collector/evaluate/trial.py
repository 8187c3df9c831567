"""How a baseline fares on labelled series: replay them as the evaluator would, and score the alert episodes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from collector.evaluate.band import Verdict
from collector.evaluate.baseline import Detector
from collector.evaluate.corpus import Series


def replay(detector: Detector, series: Series, *, keep_firing_s: float = 300.0) -> list[Verdict]:
    """Feed the series as the evaluator does: nothing is learnt while the alert fires (from an anomalous verdict
    until `keep_firing_s` without one)."""
    verdicts: list[Verdict] = []
    firing_until = -math.inf
    for ts, value in zip(series.times, series.values, strict=True):
        verdict = detector.observe(ts, value, learn=ts > firing_until)
        if verdict.anomalous:
            firing_until = ts + keep_firing_s
        verdicts.append(verdict)
    return verdicts


@dataclass(frozen=True, slots=True)
class Score:
    """Event-level outcome: anomalies found, alert episodes raised (true or false), detection delays."""

    anomalies: int
    found: int
    episodes: int
    false_episodes: int
    delays: tuple[float, ...]

    @property
    def recall(self) -> float:
        return self.found / self.anomalies if self.anomalies else 1.0

    @property
    def precision(self) -> float:
        return 1.0 - self.false_episodes / self.episodes if self.episodes else 1.0

    @property
    def mean_delay(self) -> float:
        return sum(self.delays) / len(self.delays) if self.delays else math.nan

    def __add__(self, other: Score) -> Score:
        return Score(
            self.anomalies + other.anomalies,
            self.found + other.found,
            self.episodes + other.episodes,
            self.false_episodes + other.false_episodes,
            self.delays + other.delays,
        )


def score(series: Series, verdicts: Sequence[Verdict], *, merge_s: float = 900.0, grace_s: float = 1800.0) -> Score:
    """Anomalous points closer than `merge_s` form one alert episode; an episode is true when it overlaps a labelled
    window extended by `grace_s` (a drift may be caught after it peaks), and a window is found when an anomalous point
    falls inside it (extended the same way)."""
    windows = [(a.start, a.end + grace_s) for a in series.anomalies]
    flagged = [t for t, v in zip(series.times, verdicts, strict=True) if v.anomalous]
    episodes: list[tuple[float, float]] = []
    for t in flagged:
        if episodes and t - episodes[-1][1] <= merge_s:
            episodes[-1] = (episodes[-1][0], t)
        else:
            episodes.append((t, t))
    false_episodes = sum(1 for s, e in episodes if not any(s <= b and e >= a for a, b in windows))
    delays: list[float] = []
    for a, b in windows:
        hits = [t for t in flagged if a <= t <= b]
        if hits:
            delays.append(hits[0] - a)
    return Score(len(windows), len(delays), len(episodes), false_episodes, tuple(delays))

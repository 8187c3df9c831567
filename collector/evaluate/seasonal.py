"""The `seasonal` baseline: a daily or weekly profile scaled to the current level; robust until a season is learnt."""

from __future__ import annotations

import math
from typing import Any

from collector.evaluate.band import ABS_FLOOR, MIN_POINTS, BaselineParams, Judge, Verdict, floor_scale
from collector.evaluate.level import SHIFT_SPAN, Cadence, ShiftTracker, smoothing
from collector.evaluate.profile import SeasonProfile
from collector.evaluate.robust import RobustDetector
from collector.evaluate.snapshot import STATE_VERSION, integer, number, optional_number

# The profile takes over once the data spans a season and this share of its slots has been seen (of those the
# sampling interval can reach: hourly data fills one 15-minute slot in four).
COVERAGE = 0.75
# The level (today vs the profile) is an exponential average with a time constant of season / 6: 4 h for a daily
# profile, 28 h for a weekly one. Quick enough to follow a quiet Sunday or a week of growth, slow enough not to
# follow an incident that creeps in over an afternoon. It spans at least LEVEL_POINTS values, so sparse data
# (one value an hour) does not make a jittery level.
LEVEL_POINTS = 20
SEASON_PER_TAU = 6.0


class SeasonalDetector:
    """Band = level-adjusted profile +/- sensitivity * the slot's noise scale, widened to the profile's values
    15 minutes either side (TOLERANCE_S), so a pattern arriving a few minutes early or late is not an anomaly.

    The level is multiplicative (value / profile, a ratio of sums) for series that were never negative, additive
    otherwise; a sustained shift re-seeds it. Before the profile is ready a robust detector judges (its band
    stretched over the range seen, see RobustDetector), and the profile learns from values winsorised to the band,
    so a stray point or a spike weighs at most a band edge in a slot mean. Values beyond the band move neither the
    level nor the noise scale.
    """

    __slots__ = (
        "_additive", "_cadence", "_factor", "_fallback", "_first_ts", "_judge", "_learnt", "_lv_num", "_lv_prof",
        "_offset", "_profile", "_season_s", "_shift", "_tau",
    )

    def __init__(self, params: BaselineParams) -> None:
        season = params.season_or_day
        self._judge = Judge(params)
        self._season_s = season.total_seconds()
        self._tau = self._season_s / SEASON_PER_TAU
        self._profile = SeasonProfile(season, params.history)
        self._fallback: RobustDetector | None = RobustDetector(params, span_range=True)
        self._first_ts: float | None = None
        self._learnt = 0
        self._additive = False
        self._lv_num = 0.0
        self._lv_prof = 0.0
        self._factor = 1.0
        self._offset = 0.0
        self._cadence = Cadence()
        self._shift = ShiftTracker(params.history.total_seconds() * SHIFT_SPAN)

    def observe(self, ts: float, value: float, *, learn: bool = True) -> Verdict:
        judge = self._judge
        first = self._first_ts
        learning = first is None or self._learnt < MIN_POINTS or ts - first < judge.min_history_s
        if not math.isfinite(value):
            return judge.pending(learning, self._learnt)
        if first is None:
            self._first_ts = ts
        fallback = self._fallback
        if fallback is not None:
            verdict = fallback.observe(ts, value, learn=learn)
            if learn:
                self._learn_first_season(ts, value, verdict, fallback)
            return verdict
        mid, before, after = self._profile.around(ts)
        if mid != mid:
            # A time of season never seen (data used to stop here): nothing to compare with yet.
            verdict = judge.pending(learning, self._learnt)
            if learn:
                self._learnt += 1
                self._cadence.step(ts)
                self._profile.add(ts, value, value, None, self._factor, self._offset)
            return verdict
        factor, offset = self._factor, self._offset
        expected = mid * factor + offset
        before = expected if before != before else before * factor + offset
        after = expected if after != after else after * factor + offset
        spread = self._profile.scale_at(ts) * (factor if factor > 1.0 else 1.0)
        scale = floor_scale(spread, expected)
        half = judge.sensitivity * scale
        low = min(before, expected, after) - half
        high = max(before, expected, after) + half
        verdict = judge.verdict(value, expected, low, high, learning, self._learnt)
        if learn:
            self._learn(ts, value, mid, expected, low, high, scale)
        return verdict

    def _learn_first_season(self, ts: float, value: float, verdict: Verdict, fallback: RobustDetector) -> None:
        self._learnt += 1
        self._cadence.step(ts)
        if value < 0:
            self._additive = True
        low, high = verdict.lower, verdict.upper
        if low is None or high is None:
            # No band yet to winsorise with: the first points stay out of the profile (a stray one must not count).
            return
        clipped = low if value < low else high if value > high else value
        profile = self._profile
        if (
            profile.add(ts, clipped, value, None, 1.0, 0.0)
            and self._first_ts is not None
            and ts - self._first_ts >= self._season_s
            and profile.coverage(self._cadence.interval) >= COVERAGE
        ):
            self._start_profile(fallback)

    def _start_profile(self, fallback: RobustDetector) -> None:
        self._fallback = None
        # The robust scale (wide: it includes the season's swing) until the slots have their own.
        self._profile.noise.refresh(fallback.scale())
        self._lv_num = self._lv_prof = self._profile.mean()
        self._set_level()

    def _learn(
        self, ts: float, value: float, mid: float, expected: float, low: float, high: float, scale: float
    ) -> None:
        self._learnt += 1
        if value < 0:
            self._additive = True
        clipped = low if value < low else high if value > high else value
        growth = self._factor if self._factor > 1.0 else 1.0
        residual = abs(value - expected) / growth if clipped == value else math.nan
        self._profile.add(ts, clipped, value, residual, self._factor, self._offset)
        cadence = self._cadence
        dt = cadence.step(ts)
        weight = smoothing(dt, max(self._tau, LEVEL_POINTS * cadence.interval))
        if clipped == value:
            # Values beyond the band do not move the level: an anomaly that is not (yet) firing must not drag the
            # baseline after it. A lasting change comes through the shift tracker instead.
            self._lv_num += weight * (value - self._lv_num)
            self._lv_prof += weight * (mid - self._lv_prof)
        multiplicative = not self._additive and mid > ABS_FLOOR
        evidence = value / mid if multiplicative else value - mid
        shift = self._shift.update(ts, (value - expected) / scale, self._judge.sensitivity, evidence)
        if shift is not None:
            self._lv_num = self._lv_prof * shift[0] if multiplicative else self._lv_prof + shift[0]
        self._set_level()

    def _set_level(self) -> None:
        if not self._additive and self._lv_prof > ABS_FLOOR:
            self._factor, self._offset = self._lv_num / self._lv_prof, 0.0
        else:
            self._factor, self._offset = 1.0, self._lv_num - self._lv_prof

    def state(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "method": "seasonal",
            "season": self._season_s,
            "seasons": self._profile.seasons,
            "first": self._first_ts,
            "learnt": self._learnt,
            "additive": self._additive,
            "level": [self._lv_num, self._lv_prof],
            "cadence": self._cadence.state(),
            "shift": self._shift.state(),
            "profile": self._profile.state(),
            "fallback": None if self._fallback is None else self._fallback.state(),
        }

    @classmethod
    def from_state(cls, params: BaselineParams, state: dict[str, Any]) -> SeasonalDetector:
        detector = cls(params)
        if number(state, "season") != detector._season_s:
            raise ValueError("seasonal state was learnt with another season")
        detector._first_ts = optional_number(state, "first")
        detector._learnt = integer(state, "learnt")
        detector._additive = bool(state["additive"])
        level = state["level"]
        if not isinstance(level, list) or len(level) != 2:
            raise ValueError("seasonal state has a malformed level")
        detector._lv_num, detector._lv_prof = float(level[0]), float(level[1])
        detector._cadence = Cadence.from_state(state["cadence"])
        detector._shift.restore(state["shift"])
        detector._profile.restore(state["profile"])
        fallback = state["fallback"]
        detector._fallback = None if fallback is None else RobustDetector.from_state(params, fallback, span_range=True)
        detector._set_level()
        return detector

"""Seasonal profile: per time-of-season slot, the median of the last seasons' values; a phase for DST shifts."""

from __future__ import annotations

import math
from array import array
from datetime import timedelta
from typing import Any

from collector.evaluate.band import median_of
from collector.evaluate.noise import SlotNoise, SlotSums
from collector.evaluate.snapshot import floats, integer, pack, unpack

# Daily profiles use 96 slots of 15 min; weekly ones day-of-week x 48 slots of 30 min (336 slots).
_SLOT_SECONDS = {86_400: 900, 604_800: 1800}
# Seasons kept per slot (median of that many past values): a week of days, or a month of weeks, within `history`.
_MAX_SEASONS = {86_400: 7, 604_800: 4}
# The band also spans the profile this long before and after: a pattern a little early or late is not an anomaly.
TOLERANCE_S = 900.0
# How far the phase may move: +/- 1 h, enough for a DST switch.
_PHASE_REACH_S = 3600
# Each candidate phase's error is an exponential average over the closed slots of about this long...
_PHASE_MEMORY_S = 3 * 3600
# ... of |slot mean - candidate profile| in noise scales, capped so an outage weighs the same on every candidate...
_PHASE_ERROR_CAP = 6.0
# ... and the phase moves when another candidate's error is lower by this many noise scales and by this ratio:
# on flat stretches all candidates look alike and nothing moves; a pattern an hour early shows on every ramp.
_PHASE_MARGIN = 0.5
_PHASE_RATIO = 0.6
# Interpolation bridges unknown slots up to this far (data sparser than the slots, or a short gap).
_GAP_REACH_S = 3 * 3600
_NAN = math.nan


def seasons_kept(season: timedelta, history: timedelta) -> int:
    """How many past seasons each slot keeps: as many as `history` holds, at least one, at most _MAX_SEASONS."""
    return max(1, min(_MAX_SEASONS[round(season.total_seconds())], round(history / season)))


class SeasonProfile:
    """What each slot of the season looks like, learnt from winsorised slot means.

    Values live in a ring of `seasons` rows x `slots` float32 cells; each slot closes with its mean written into the
    current season's row, so every slot holds its last `seasons` values and the profile is their median. The profile
    is kept in its own time frame: `phase` (in slots) maps clock time onto it, and moves when the slot means match a
    shifted profile better (a DST switch), instead of waiting seasons for the medians to move.
    """

    __slots__ = (
        "_acc",
        "_gap_reach",
        "_phase_err",
        "_profile",
        "_reach",
        "_ring",
        "_slot",
        "_tolerance",
        "_width",
        "noise",
        "phase",
        "seasons",
        "slots",
    )

    def __init__(self, season: timedelta, history: timedelta) -> None:
        season_s = round(season.total_seconds())
        self._width = _SLOT_SECONDS[season_s]
        self.slots = season_s // self._width
        self.seasons = seasons_kept(season, history)
        self._reach = _PHASE_REACH_S // self._width
        self._tolerance = TOLERANCE_S / self._width
        self._gap_reach = _GAP_REACH_S // self._width
        self._ring: array[float] = array("f", [_NAN]) * (self.seasons * self.slots)
        self._profile: array[float] = array("f", [_NAN]) * self.slots
        self.noise = SlotNoise(self.slots, self._width)
        self.phase = 0
        self._phase_err = [0.0] * (2 * self._reach + 1)
        self._slot = -1
        self._acc = SlotSums()

    # --- reading -----------------------------------------------------------------------------------------------

    def around(self, ts: float) -> tuple[float, float, float]:
        """Profile value at `ts`, TOLERANCE_S before and after (linear between slot centres; NaN where unknown)."""
        u = ts / self._width - 0.5 + self.phase
        tol = self._tolerance
        return self._at(u), self._at(u - tol), self._at(u + tol)

    def _at(self, u: float) -> float:
        """Linear between the nearest known slot centres either side of position `u`, within _GAP_REACH slots, so
        data sparser than the slots (one value an hour) still has a profile everywhere."""
        base = math.floor(u)
        profile, slots = self._profile, self.slots
        left = profile[base % slots]
        right = profile[(base + 1) % slots]
        if left == left and right == right:
            return left + (right - left) * (u - base)
        lo, hi = base, base + 1
        reach = self._gap_reach
        while left != left and base - lo < reach:
            lo -= 1
            left = profile[lo % slots]
        while right != right and hi - base - 1 < reach:
            hi += 1
            right = profile[hi % slots]
        if left != left:
            return right
        if right != right:
            return left
        return left + (right - left) * (u - lo) / (hi - lo)

    def scale_at(self, ts: float) -> float:
        """Noise scale of the slot `ts` falls in (NaN when no slot has one yet)."""
        return self.noise.scale(math.floor(ts / self._width) + self.phase)

    def coverage(self, interval: float) -> float:
        """Share of the slots that have a value, out of those data arriving every `interval` seconds can reach."""
        reachable = min(1.0, self._width / interval) if interval > 0 else 1.0
        return sum(1 for v in self._profile if v == v) / self.slots / reachable

    def mean(self) -> float:
        known = [v for v in self._profile if v == v]
        return sum(known) / len(known) if known else 0.0

    # --- learning ----------------------------------------------------------------------------------------------

    def add(self, ts: float, clipped: float, raw: float, residual: float | None, factor: float, offset: float) -> bool:
        """Learn one point: winsorised value, raw value, and once the profile judges, its |residual| (NaN when beyond
        the band: such points do not widen the scale). True if a slot closed. `factor`/`offset` map the profile to
        the current level, for phase tracking."""
        position = ts / self._width
        slot = math.floor(position)
        closed = False
        if slot != self._slot:
            if self._acc.n:
                self._close(factor, offset)
                closed = True
            if slot // self.slots != self._slot // self.slots:
                self.noise.refresh()
            self._slot = slot
            self._acc = SlotSums()
        self._acc.add(position - slot, clipped, raw, residual)
        return closed

    def _close(self, factor: float, offset: float) -> None:
        slots = self.slots
        clock = self._slot % slots
        acc = self._acc
        if acc.judged:
            # Profile positions count slot centres as whole numbers (see `around`).
            self._track_phase(clock + acc.sx / acc.n - 0.5, acc.raw / acc.n, factor, offset)
        at = (clock + self.phase) % slots
        season = self._slot // slots
        seasons = self.seasons
        ring = self._ring
        ring[(season % seasons) * slots + at] = acc.mean()
        self._profile[at] = median_of([v for v in ring[at::slots] if v == v])
        self.noise.learn(at, acc)

    def _track_phase(self, clock: float, value: float, factor: float, offset: float) -> None:
        """Move each candidate phase's error toward how far `value` (the slot's mean, taken at profile position
        `clock`) lies from the profile shifted by that many slots."""
        reach, err = self._reach, self._phase_err
        noise = self.noise.scale(math.floor(clock + 0.5) + self.phase) * (factor if factor > 1.0 else 1.0)
        candidates = [self._at(clock + i - reach) for i in range(2 * reach + 1)]
        if not noise > 0 or any(p != p for p in candidates):
            return
        weight = self._width / _PHASE_MEMORY_S
        for i, p in enumerate(candidates):
            miss = abs(value - (p * factor + offset)) / noise
            err[i] += weight * ((miss if miss < _PHASE_ERROR_CAP else _PHASE_ERROR_CAP) - err[i])
        best = min(range(len(err)), key=err.__getitem__)
        now = err[self.phase + reach]
        if err[best] < now - _PHASE_MARGIN and err[best] < _PHASE_RATIO * now:
            self.phase = best - reach

    # --- state -------------------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "ring": pack(self._ring),
            "noise": self.noise.state(),
            "phase": self.phase,
            "phase_err": list(self._phase_err),
            "slot": self._slot,
            "acc": self._acc.state(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        ring = unpack(state["ring"], "f")
        if len(ring) != len(self._ring):
            raise ValueError("seasonal state was learnt with another season or history")
        self._ring = ring
        self.noise.restore(state["noise"])
        # The profile is each slot's median over the ring, exactly as `_close` keeps it: derived, not stored.
        slots = self.slots
        for at in range(slots):
            known = [v for v in ring[at::slots] if v == v]
            self._profile[at] = median_of(known) if known else _NAN
        self.phase = integer(state, "phase")
        err = floats(state, "phase_err")
        if len(err) != len(self._phase_err) or abs(self.phase) > self._reach:
            raise ValueError("seasonal state has a phase out of reach")
        self._phase_err = err
        self._slot = integer(state, "slot")
        self._acc = SlotSums.from_state(floats(state, "acc"))

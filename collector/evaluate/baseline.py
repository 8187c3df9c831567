"""Dynamic baselines for `condition.baseline` rules: one detector per series, judging then learning each value."""

from __future__ import annotations

from typing import Any, Protocol

from collector.evaluate.band import BaselineParams, Verdict
from collector.evaluate.ewma import EwmaDetector
from collector.evaluate.profile import seasons_kept
from collector.evaluate.robust import RobustDetector
from collector.evaluate.seasonal import SeasonalDetector
from collector.evaluate.snapshot import STATE_VERSION

__all__ = ["BaselineParams", "Detector", "Verdict", "make_detector"]


class Detector(Protocol):
    """The baseline of one series of one rule."""

    def observe(self, ts: float, value: float, *, learn: bool = True) -> Verdict:
        """Judge `value` at unix time `ts` against the baseline learnt so far, then (if `learn`) absorb it.

        The evaluator passes learn=False while the alert fires, so an outage never becomes normal. Values that are
        not finite are neither judged nor learnt.
        """

    def state(self) -> dict[str, Any]:
        """Everything learnt, JSON-serialisable and bounded in size; `make_detector` restores it exactly."""


_DETECTORS: dict[str, type[RobustDetector] | type[EwmaDetector] | type[SeasonalDetector]] = {
    "robust": RobustDetector,
    "ewma": EwmaDetector,
    "seasonal": SeasonalDetector,
}


def make_detector(params: BaselineParams, state: dict[str, Any] | None = None) -> Detector:
    """A detector for `params`, restored from `state` when there is one.

    A state learnt for another method, season or number of seasons kept, or with an older layout, gives a fresh
    detector (the rule changed: the baseline relearns). A state that cannot be read raises ValueError; the caller
    decides whether to start over.
    """
    cls = _DETECTORS[params.method]
    if state is None or not _same_kind(params, state):
        return cls(params)
    try:
        return cls.from_state(params, state)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"unreadable {params.method} baseline state: {exc!r}") from exc


def _same_kind(params: BaselineParams, state: dict[str, Any]) -> bool:
    if state.get("v") != STATE_VERSION or state.get("method") != params.method:
        return False
    if params.method != "seasonal":
        return True
    season = params.season_or_day
    kept = seasons_kept(season, params.history)
    return state.get("season") == season.total_seconds() and state.get("seasons") == kept

"""Recent values of pending and firing alerts, sampled from the evaluator's snapshot, for the incident chart.

Kept in memory only (a restart or another replica starts empty; the chart then shows the values the
incident's events carry). Each series keeps its whole firing period at a coarser resolution rather
than only its latest points: past `max_points`, every other point is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

LIVE_STATES = ("pending", "firing")

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ValuePoint:
    at: datetime
    value: float | None
    expected: float | None = None
    lower: float | None = None
    upper: float | None = None


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


class ValueHistory:
    """Points per alert fingerprint, bounded in age, points per series and number of series."""

    def __init__(
        self,
        max_age: timedelta = timedelta(hours=6),
        max_points: int = 1000,
        max_series: int = 2000,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._max_age = max_age
        self._max_points = max_points
        self._max_series = max_series
        self._clock = clock
        self._series: dict[str, list[ValuePoint]] = {}

    def record(self, snapshot: Iterable[Mapping[str, Any]]) -> None:
        """Add one point (now) for every pending or firing alert of an `Evaluator.snapshot()`."""
        now = self._clock()
        for alert in snapshot:
            if alert.get("state") not in LIVE_STATES:
                continue
            fingerprint = str(alert["fingerprint"])
            points = self._series.get(fingerprint)
            if points is None:
                if len(self._series) >= self._max_series:
                    continue
                points = self._series[fingerprint] = []
            band = alert.get("baseline") or {}
            points.append(
                ValuePoint(
                    now,
                    _number(alert.get("value")),
                    _number(band.get("expected")),
                    _number(band.get("lower")),
                    _number(band.get("upper")),
                )
            )
            if len(points) > self._max_points:
                points[:] = points[::2]
        self._forget(now - self._max_age)

    async def run(self, snapshot: Callable[[], Awaitable[Iterable[Mapping[str, Any]]]], every: float) -> None:
        """Record a snapshot every `every` seconds until cancelled; a failed snapshot is logged and skipped."""
        while True:
            await asyncio.sleep(every)
            try:
                self.record(await snapshot())
            except Exception:  # the chart loses a point; sampling goes on
                log.exception("value history: snapshot failed")

    def _forget(self, before: datetime) -> None:
        for fingerprint in [fp for fp, points in self._series.items() if points[-1].at < before]:
            del self._series[fingerprint]

    def series(self, fingerprint: str, start: datetime, end: datetime) -> list[ValuePoint]:
        """The points of one alert within [start, end], oldest first."""
        return [p for p in self._series.get(fingerprint, ()) if start <= p.at <= end]

"""MTTA and MTTR arithmetic over incident timestamps: per-group summaries and per-tier trends. No I/O."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

TIERS = ("P0", "P1", "P2")
GROUPINGS = ("tier", "service", "rule")
EXCLUSIONS = ("silenced", "manual")


@dataclass(frozen=True, slots=True)
class IncidentTimes:
    """What MTTA and MTTR need to know about one incident. Times are timezone-aware UTC."""

    tier: str
    service: str | None
    rule: str
    starts_at: datetime
    fired_at: datetime
    acked_at: datetime | None = None
    ends_at: datetime | None = None
    duration_seconds: float | None = None
    silenced: bool = False
    resolve_reason: str | None = None

    @property
    def manual(self) -> bool:
        return self.resolve_reason == "manual"

    @property
    def ack_seconds(self) -> float | None:
        """Time to acknowledge: fired → acked, whether the ack came before or after the resolve."""
        if self.acked_at is None:
            return None
        return max(0.0, (self.acked_at - self.fired_at).total_seconds())

    @property
    def resolve_seconds(self) -> float | None:
        """Time to resolve: first breach (startsAt) → endsAt, i.e. `durationSeconds`; None while open."""
        if self.ends_at is None:
            return None
        if self.duration_seconds is not None:
            return self.duration_seconds
        return max(0.0, (self.ends_at - self.starts_at).total_seconds())

    def excluded_by(self, exclude: Iterable[str]) -> bool:
        wanted = set(exclude)
        return ("silenced" in wanted and self.silenced) or ("manual" in wanted and self.manual)


@dataclass(frozen=True, slots=True)
class Stats:
    """Mean, median and 90th percentile of some durations in seconds; all None when there are none."""

    mean: float | None
    p50: float | None
    p90: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        if not values:
            return cls(None, None, None)
        return cls(sum(values) / len(values), percentile(values, 0.5), percentile(values, 0.9))

    def to_dict(self) -> dict[str, float | None]:
        return {"mean": self.mean, "p50": self.p50, "p90": self.p90}


@dataclass(frozen=True, slots=True)
class GroupSummary:
    """One group (a tier, a service or a rule) of incidents."""

    key: str | None
    count: int
    open: int
    acked: int
    silenced: int
    manual: int
    excluded: int
    mtta: Stats
    mttr: Stats

    def to_dict(self, by: str) -> dict[str, object]:
        return {
            by: self.key,
            "count": self.count,
            "open": self.open,
            "resolved": self.count - self.open,
            "acked": self.acked,
            "silenced": self.silenced,
            "manual": self.manual,
            "excluded": self.excluded,
            "mttaSeconds": self.mtta.to_dict(),
            "mttrSeconds": self.mttr.to_dict(),
        }


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0 ≤ q ≤ 1) with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q} is not between 0 and 1")
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _key_of(by: str) -> Callable[[IncidentTimes], str | None]:
    if by == "tier":
        return lambda i: i.tier
    if by == "service":
        return lambda i: i.service
    if by == "rule":
        return lambda i: i.rule
    raise ValueError(f"cannot group by {by!r} (expected one of {', '.join(GROUPINGS)})")


def summarize(incidents: Iterable[IncidentTimes], by: str = "tier", exclude: Iterable[str] = ()) -> list[GroupSummary]:
    """Per group: counts, MTTA over acknowledged incidents and MTTR over resolved ones.

    Silenced and manually resolved incidents are counted in `silenced` / `manual`; those named in
    `exclude` are left out of every other figure and counted in `excluded` instead. Grouped by tier,
    every tier is listed (with zeros); otherwise groups are sorted by key, None (no service) last.
    """
    key_of = _key_of(by)
    skip = tuple(exclude)
    unknown = set(skip) - set(EXCLUSIONS)
    if unknown:
        raise ValueError(f"cannot exclude {', '.join(sorted(unknown))} (expected {', '.join(EXCLUSIONS)})")
    groups: dict[str | None, list[IncidentTimes]] = {t: [] for t in TIERS} if by == "tier" else {}
    excluded: dict[str | None, int] = {}
    for incident in incidents:
        key = key_of(incident)
        groups.setdefault(key, [])
        if incident.excluded_by(skip):
            excluded[key] = excluded.get(key, 0) + 1
        else:
            groups[key].append(incident)
    out = []
    for key in sorted(groups, key=lambda k: (k is None, k or "")):
        members = groups[key]
        acks = [s for i in members if (s := i.ack_seconds) is not None]
        resolves = [s for i in members if (s := i.resolve_seconds) is not None]
        out.append(
            GroupSummary(
                key=key,
                count=len(members),
                open=sum(1 for i in members if i.ends_at is None),
                acked=len(acks),
                silenced=sum(1 for i in members if i.silenced),
                manual=sum(1 for i in members if i.manual),
                excluded=excluded.get(key, 0),
                mtta=Stats.of(acks),
                mttr=Stats.of(resolves),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """Means over the incidents of one tier that fired within [start, start + step)."""

    start: datetime
    count: int
    mtta: float | None
    mttr: float | None


def trend(
    incidents: Iterable[IncidentTimes],
    start: datetime,
    end: datetime,
    step: timedelta,
    exclude: Iterable[str] = (),
) -> dict[str, list[TrendPoint]]:
    """Per tier, one point per time bucket (by fired time): count, mean MTTA and mean MTTR (None without data)."""
    if step <= timedelta(0):
        raise ValueError("the step must be positive")
    slots = max(1, math.ceil((end - start) / step))
    acks: dict[str, list[list[float]]] = {t: [[] for _ in range(slots)] for t in TIERS}
    resolves: dict[str, list[list[float]]] = {t: [[] for _ in range(slots)] for t in TIERS}
    counts: dict[str, list[int]] = {t: [0] * slots for t in TIERS}
    skip = tuple(exclude)
    for incident in incidents:
        if incident.tier not in counts or incident.excluded_by(skip):
            continue
        if not start <= incident.fired_at < end:
            continue
        slot = int((incident.fired_at - start) / step)
        counts[incident.tier][slot] += 1
        if (ack := incident.ack_seconds) is not None:
            acks[incident.tier][slot].append(ack)
        if (resolve := incident.resolve_seconds) is not None:
            resolves[incident.tier][slot].append(resolve)
    return {
        tier: [
            TrendPoint(
                start + step * n, counts[tier][n], Stats.of(acks[tier][n]).mean, Stats.of(resolves[tier][n]).mean
            )
            for n in range(slots)
        ]
        for tier in TIERS
    }

"""Series tables: per-selector rings of time buckets, with cardinality caps and compaction of old buckets.

A table holds every series of one selector at one bucket width. Each series is a
ring of slots; slot ``idx % len(ring)`` holds bucket `idx` either as a mutable
bucket object (the one being filled and the one before it, which still takes
late data cheaply) or, once older, *sealed* into a compact ``bytes`` record whose
first four bytes are the bucket index. Late data for a sealed bucket unseals it;
the next maintenance pass seals it again. Buckets older than the table's
retention are dropped, and a series with no bucket left is removed.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from collector.model import SeriesSelector

OVERFLOW = "__overflow__"
# Timestamps up to this far ahead of the receive time are kept as they are.
FUTURE_SLACK_S = 60
IDX = struct.Struct("<I")
# How soon a bucket reopened by late data is sealed again.
SWEEP_NS = 5_000_000_000


class Bucket(Protocol):
    idx: int


B = TypeVar("B", bound=Bucket)


class BucketKind(Protocol[B]):
    """How one signal's buckets are created, sealed into bytes and brought back."""

    def new(self, idx: int) -> B: ...

    def seal(self, bucket: B) -> bytes: ...

    def unseal(self, blob: bytes) -> B: ...


class SeriesBudget:
    """The global cap on series, shared by every table of a store."""

    def __init__(self, max_series: int, on_change: Callable[[int], None] | None = None) -> None:
        self.max_series = max_series
        self.count = 0
        self._on_change = on_change

    def take(self) -> bool:
        if self.count >= self.max_series:
            return False
        self.count += 1
        if self._on_change is not None:
            self._on_change(self.count)
        return True

    def take_anyway(self) -> None:
        """Count a series that the caps allow regardless: a table's one overflow series."""
        self.count += 1
        if self._on_change is not None:
            self._on_change(self.count)

    def give_back(self, n: int = 1) -> None:
        self.count -= n
        if self._on_change is not None:
            self._on_change(self.count)


class Series(Generic[B]):
    """One series: its ring of buckets and the newest record time seen."""

    __slots__ = ("last_ns", "overflow", "ring")

    def __init__(self, slots: int, overflow: bool) -> None:
        self.ring: list[B | bytes | None] = [None] * slots
        self.overflow = overflow
        self.last_ns = 0


def slot_idx(entry: Bucket | bytes) -> int:
    if type(entry) is bytes:
        return int(IDX.unpack_from(entry)[0])
    assert not isinstance(entry, bytes)
    return entry.idx


class Table(Generic[B]):
    """Every series of one selector, bucketed at one width."""

    def __init__(
        self,
        selector: SeriesSelector,
        width_s: int,
        retention_s: float,
        kind: BucketKind[B],
        budget: SeriesBudget,
        max_series: int,
    ) -> None:
        self.selector = selector
        self.width_s = width_s
        self.width_ns = width_s * 1_000_000_000
        self.kind = kind
        self.budget = budget
        self.max_series = max_series
        self.series: dict[tuple[str, ...], Series[B]] = {}
        self.rules: set[str] = set()
        self.overflow_key = (OVERFLOW,) * len(selector.by)
        self.overflow_points = 0
        self.now_idx = 0
        # Set when a bucket older than the newest was written: the next sweep seals it again.
        self.dirty = False
        self.swept_ns = 0
        # Ingest time steps per bucket (set by the store when it plans a signal's reads).
        self.steps = 1
        self.keep = 0
        self.slots = 0
        self.set_retention(retention_s)

    def set_retention(self, retention_s: float) -> None:
        """Keep `retention_s` of buckets behind the newest one (re-slotting rings if the size changes)."""
        keep = math.ceil(retention_s / self.width_s) + 1
        slots = keep + 1 + math.ceil(FUTURE_SLACK_S / self.width_s)
        if slots == self.slots:
            self.keep = keep
            return
        self.keep, self.slots = keep, slots
        for s in self.series.values():
            old = [e for e in s.ring if e is not None]
            s.ring = [None] * slots
            for e in sorted(old, key=slot_idx):
                s.ring[slot_idx(e) % slots] = e

    def get_series(self, byvals: tuple[str, ...]) -> Series[B]:
        """The series for `byvals`, created if allowed, else the table's overflow series."""
        s = self.series.get(byvals)
        if s is not None:
            return s
        overflow = byvals == self.overflow_key and bool(byvals)
        if not overflow and (len(self.series) >= self.max_series or not self.budget.take()):
            byvals, overflow = self.overflow_key, True
            s = self.series.get(byvals)
            if s is not None:
                return s
            # The overflow series is always allowed, so the caps can be exceeded by one per table.
            self.budget.take_anyway()
        s = self.series[byvals] = Series(self.slots, overflow)
        return s

    def bucket(self, s: Series[B], idx: int) -> B | None:
        """The mutable bucket `idx` of series `s`; None when it is older than the table keeps."""
        if idx <= self.now_idx - self.keep:
            return None
        ring = s.ring
        slot = idx % self.slots
        cur = ring[slot]
        if idx < self.now_idx:
            self.dirty = True
        if cur is None:
            b = ring[slot] = self.kind.new(idx)
            return b
        if type(cur) is bytes:
            cur_idx = int(IDX.unpack_from(cur)[0])
            if cur_idx == idx:
                b = ring[slot] = self.kind.unseal(cur)
                return b
        else:
            assert not isinstance(cur, bytes)
            cur_idx = cur.idx
            if cur_idx == idx:
                return cur
        if cur_idx < idx:
            b = ring[slot] = self.kind.new(idx)
            return b
        return None

    def advance(self, now_ns: int) -> None:
        """Move the table's clock to `now_ns`.

        When a new bucket starts, or a few seconds after late data reopened an older
        one: seal every bucket but the newest, drop expired ones and empty series.
        """
        now_idx = now_ns // self.width_ns
        if now_idx <= self.now_idx and not (self.dirty and now_ns - self.swept_ns >= SWEEP_NS):
            return
        self.now_idx = max(now_idx, self.now_idx)
        self.dirty = False
        self.swept_ns = now_ns
        seal_below = self.now_idx
        expired = self.now_idx - self.keep
        seal = self.kind.seal
        gone: list[tuple[str, ...]] = []
        for byvals, s in self.series.items():
            ring = s.ring
            alive = False
            for i, cur in enumerate(ring):
                if cur is None:
                    continue
                if type(cur) is bytes:
                    if int(IDX.unpack_from(cur)[0]) <= expired:
                        ring[i] = None
                    else:
                        alive = True
                    continue
                assert not isinstance(cur, bytes)
                if cur.idx <= expired:
                    ring[i] = None
                    continue
                alive = True
                if cur.idx < seal_below:
                    ring[i] = seal(cur)
            if not alive:
                gone.append(byvals)
        for byvals in gone:
            del self.series[byvals]
        if gone:
            self.budget.give_back(len(gone))

    def collect(self, first: int, stop: int) -> dict[tuple[str, ...], list[B | bytes]]:
        """Every bucket with ``first <= idx < stop``, by series."""
        out: dict[tuple[str, ...], list[B | bytes]] = {}
        for byvals, s in self.series.items():
            got = [e for e in s.ring if e is not None and first <= slot_idx(e) < stop]
            if got:
                out[byvals] = got
        return out

    def drop(self) -> None:
        """Forget every series (the table is no longer used)."""
        self.budget.give_back(len(self.series))
        self.series.clear()

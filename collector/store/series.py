"""Series tables: per-selector series of time buckets, with cardinality caps, sealing of closed buckets and memos.

A table holds every series of one selector at one bucket width. A series keeps

- `heads`: one row of whole-number counters per bucket, ``(idx, *counters)``, ascending
  by bucket index in one ``array("I")``: what a query needs for `samples` and the
  cheap measures (a window's totals are slice sums, no per-bucket objects);
- `open`: the buckets still taking data, as mutable objects (the filling one, and any
  that late data reopened);
- `sealed`: the detail of every other bucket (latency sketch, metric state) packed
  into one ``bytes``, records ``<idx u32><length u16><payload>`` ascending by index:
  one object per series instead of one per bucket, read only for the measures that
  need it;
- `ex`: the best `MAX_EXEMPLARS` exemplar rows of its sealed buckets, packed.

When a new bucket starts, or a few seconds after late data reopened an older one,
every open bucket but the newest is sealed, and buckets older than the table's
retention are dropped; a series with no bucket left is removed.

Queries are memoised: a table remembers its answer for a window ``[first, stop)`` and
each series its last stats, until a write lands inside that window (late data) or the
window reaches back past the retention. Windows of whole, closed buckets rarely change,
so an evaluation pass mostly hands back what the last one computed.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from collector.model import SeriesSelector
from collector.store.packed import drop_records, find_record, head_rows, insert_record, keep_best
from collector.store.windows import ExemplarRow, SeriesStats, View, WindowStats

OVERFLOW = "__overflow__"
# How soon a bucket reopened by late data is sealed again.
SWEEP_NS = 5_000_000_000
# Answers a table remembers at once (rules sharing a table may ask for different windows).
_MEMOS = 4


class Bucket(Protocol):
    idx: int


B = TypeVar("B", bound=Bucket)


class BucketKind(Protocol[B]):
    """How one signal's buckets are created, sealed into bytes, brought back and measured."""

    counters: int  # head counters per bucket, after its index

    def new(self, idx: int) -> B: ...

    def seal(self, bucket: B) -> tuple[bytes, list[ExemplarRow]]:
        """The bucket's packed detail (b"" when there is none) and its exemplar rows."""
        ...

    def unseal(self, idx: int, blob: bytes, start: int, end: int) -> B: ...

    def window(self, s: Series[B], view: View, a: int, b: int) -> SeriesStats:
        """Stats of series `s` over `view`, whose head rows are ``heads[a:b]`` (not empty)."""
        ...


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
    """One series: head rows, open buckets, sealed detail, exemplars, newest record time, last stats."""

    __slots__ = ("ex", "heads", "last_ns", "memo", "open", "overflow", "sealed")

    def __init__(self, overflow: bool) -> None:
        self.heads = array("I")
        # A tuple: one or no open bucket is the rule, and a tuple of one is half the size of a list.
        self.open: tuple[B, ...] = ()
        self.sealed = b""
        self.ex = b""
        self.overflow = overflow
        self.last_ns = 0
        self.memo: SeriesStats | None = None


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
        self.w = kind.counters + 1
        self._blank = array("I", [0] * self.w)
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
        # Remembered answers by window, and the newest `stop` among them (writes below it invalidate).
        self.memos: dict[tuple[int, int], dict[tuple[str, ...], WindowStats]] = {}
        self.memo_stop = 0
        self.set_retention(retention_s)

    def set_retention(self, retention_s: float) -> None:
        """Keep `retention_s` of buckets behind the newest one."""
        self.keep = math.ceil(retention_s / self.width_s) + 1

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
        s = self.series[byvals] = Series(overflow)
        return s

    def bucket(self, s: Series[B], idx: int) -> tuple[B, int] | None:
        """The open bucket `idx` of `s` and the offset of its head row; None when older than the table keeps."""
        if idx <= self.now_idx - self.keep:
            return None
        if idx < self.memo_stop:
            self.memos.clear()
            self.memo_stop = 0
        memo = s.memo
        if memo is not None and idx < memo.view.stop:
            s.memo = None
        if idx < self.now_idx:
            self.dirty = True
        h, w = s.heads, self.w
        k = len(h) - w
        while k >= 0 and h[k] > idx:
            k -= w
        if k < 0 or h[k] != idx:
            k += w
            row = self._blank[:]
            row[0] = idx
            h[k:k] = row
        for b in s.open:
            if b.idx == idx:
                return b, k
        b = self._reopen(s, idx)
        s.open = (*s.open, b)
        return b, k

    def _reopen(self, s: Series[B], idx: int) -> B:
        found = find_record(s.sealed, idx) if s.sealed else None
        if found is None:
            return self.kind.new(idx)
        rec, start, end = found
        blob = s.sealed
        s.sealed = blob[:rec] + blob[end:]
        return self.kind.unseal(idx, blob, start, end)

    def advance(self, now_ns: int) -> None:
        """Move the table's clock to `now_ns`.

        When a new bucket starts, or a few seconds after late data reopened an older
        one: seal every open bucket but the newest, drop expired ones and empty series.
        """
        now_idx = now_ns // self.width_ns
        if now_idx <= self.now_idx and not (self.dirty and now_ns - self.swept_ns >= SWEEP_NS):
            return
        self.now_idx = max(now_idx, self.now_idx)
        self.dirty = False
        self.swept_ns = now_ns
        seal_below = self.now_idx
        expired = self.now_idx - self.keep
        w = self.w
        gone: list[tuple[str, ...]] = []
        for byvals, s in self.series.items():
            if s.open and (len(s.open) > 1 or s.open[0].idx < seal_below):
                self._seal(s, seal_below, expired)
            h = s.heads
            if h and h[0] <= expired:
                n = 0
                while n < len(h) and h[n] <= expired:
                    n += w
                del h[:n]
                if s.sealed:
                    s.sealed = drop_records(s.sealed, expired)
                if s.ex:
                    s.ex = keep_best(s.ex, [], expired)
                if not h:
                    gone.append(byvals)
        for byvals in gone:
            del self.series[byvals]
        if gone:
            self.budget.give_back(len(gone))

    def _seal(self, s: Series[B], seal_below: int, expired: int) -> None:
        still: tuple[B, ...] = ()
        rows: list[tuple[int, ExemplarRow]] = []
        for b in s.open:
            if b.idx >= seal_below:
                still += (b,)
            elif b.idx > expired:
                payload, ex = self.kind.seal(b)
                if payload:
                    s.sealed = insert_record(s.sealed, b.idx, payload)
                rows += [(b.idx, row) for row in ex]
        s.open = still
        if rows:
            s.ex = keep_best(s.ex, rows, expired)

    def query(self, first: int, stop: int, seconds: float) -> dict[tuple[str, ...], WindowStats]:
        """Stats of every series with data in buckets ``[first, stop)``."""
        key = (first, stop)
        # A window reaching back to buckets that expire is answered afresh: what it covers shrinks.
        fresh = first > self.now_idx - self.keep
        if fresh:
            found = self.memos.get(key)
            if found is not None:
                return dict(found)
        view = View(first, stop, seconds)
        window, w = self.kind.window, self.w
        out: dict[tuple[str, ...], WindowStats] = {}
        for byvals, s in self.series.items():
            memo = s.memo
            if memo is not None and fresh and memo.view.first == first and memo.view.stop == stop:
                out[byvals] = memo
                continue
            h = s.heads
            n = len(h)
            # Mostly every row of a series lies inside the window: no search.
            if n and h[0] >= first and h[n - w] < stop:
                out[byvals] = s.memo = window(s, view, 0, n)
                continue
            a, b = head_rows(h, w, first, stop)
            if a < b:
                out[byvals] = s.memo = window(s, view, a, b)
        if fresh:
            if len(self.memos) >= _MEMOS:
                self.memos.clear()
            self.memos[key] = out
            self.memo_stop = max(self.memo_stop, stop)
            return dict(out)
        return out

    def drop(self) -> None:
        """Forget every series (the table is no longer used)."""
        self.budget.give_back(len(self.series))
        self.series.clear()
        self.memos.clear()

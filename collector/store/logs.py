"""Log windows: the log ingest loop, log buckets (exemplars; counts are head rows) and their measures.

A record's time is its `time_unix_nano`, or `observed_time_unix_nano` when that is
unset. `severity` is the record's SeverityNumber (0, unspecified, reads as
missing); `body` is a filter-only key matched against the body's text.
Exemplars are records that carry a trace ID, those at ERROR or above first,
then the newest. A record that no rule can select, given its resource's service
and its severity, is only looked at to count it if late: its attributes are not read.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from collector.model import SEVERITY_NUMBERS, Scanned
from collector.store.packed import exemplar_rows
from collector.store.plan import Plan, body_text, by_resource, record_attributes, resource_base
from collector.store.series import Series, Table
from collector.store.windows import (
    MAX_EXEMPLARS,
    Exemplar,
    ExemplarRow,
    SeriesStats,
    View,
    WindowStats,
    best_exemplars,
)

_ERROR = SEVERITY_NUMBERS["ERROR"]
# Records of a group looked at for exemplars: enough to find errors, bounded so big groups stay cheap.
_EXEMPLAR_SCAN = 32
_NO_DURATION = -1.0

# (error, time, trace id, span id)
Row = tuple[bool, int, bytes, bytes]
# time step -> key tuple -> records
Groups = dict[int, dict[tuple[Any, ...], list[Any]]]


class LogBucket:
    """Exemplars of one series' log records in one time bucket, while it takes data (counts are head rows)."""

    __slots__ = ("ex", "idx")

    def __init__(self, idx: int) -> None:
        self.idx = idx
        self.ex: list[Row] = []


class LogKind:
    """Creates and seals log buckets, and measures log series: a head row per bucket is ``(idx, records)``."""

    counters = 1

    def new(self, idx: int) -> LogBucket:
        return LogBucket(idx)

    def seal(self, b: LogBucket) -> tuple[bytes, list[ExemplarRow]]:
        # Nothing but the count (a head row) and exemplars (kept by the series) outlives the open bucket.
        return b"", [(err, _NO_DURATION, t, trace, span) for err, t, trace, span in b.ex]

    def unseal(self, idx: int, blob: bytes, start: int, end: int) -> LogBucket:
        return LogBucket(idx)

    def window(self, s: Series[LogBucket], view: View, a: int, b: int) -> LogWindow:
        return LogWindow(s, view, sum(s.heads[a + 1 : b : 2]))


class LogWindow(SeriesStats):
    """One log series over a window: the count at once, exemplars read from the series when asked."""

    __slots__ = ()

    def measure(self, name: str) -> float | None:
        if name == "count":
            return float(self.samples)
        if name == "rate":
            seconds = self.view.seconds
            return self.samples / seconds if seconds > 0 else None
        return WindowStats.measure(self, name)

    def _gather(self) -> tuple[Exemplar, ...]:
        s, first, stop = self.series, self.view.first, self.view.stop
        rows = exemplar_rows(s.ex, first, stop)
        for b in s.open:
            if first <= b.idx < stop:
                rows += [(err, _NO_DURATION, t, trace, span) for err, t, trace, span in b.ex]
        return best_exemplars(rows)


def read_logs(
    request: ExportLogsServiceRequest,
    plan: Plan,
    received_ns: int,
    oldest_ns: int,
    step_ns: int,
    scanned: Scanned | None = None,
) -> tuple[Groups, int]:
    """Group the records of a request by (time step, key tuple). Returns the groups and the count too old to keep.

    `scanned` is what ingest read while validating (the records, wrapped once).
    """
    layout = plan.layout
    attrs = layout.attrs
    n_attrs = len(attrs)
    every = layout.all_attrs
    get_slot = attrs.get
    sev_i = layout.fields.get("severity", 0)
    body_i = layout.fields.get("body", 0)
    body_matchers = layout.body_matchers
    newest_ns = received_ns + 60_000_000_000
    resources, records = by_resource(request.resource_logs, "scope_logs", "log_records", scanned)
    groups: Groups = {}
    late = 0
    lo = hi = 0
    current: dict[tuple[Any, ...], list[Any]] = {}
    first = 0
    may_feed = plan.may_feed
    for resource, n in resources:
        base = resource_base(resource.attributes, layout)
        if body_i:
            base[body_i] = ()
        # Records of a service that no rule reading attributes selects are not read for them.
        read_attrs = n_attrs and plan.reads_attributes(base[0])
        const = tuple(base) if not (read_attrs or sev_i or body_matchers) else None
        service = (0, base[0])
        # By severity: whether a record of this resource can feed any rule. Most records of a busy
        # service feed none (rules select errors): those are counted if late, and read no further.
        feeds: dict[int, bool] = {}
        stop = first + n
        for lr in records[first:stop]:
            t = lr.time_unix_nano or lr.observed_time_unix_nano
            if t < oldest_ns or t > newest_ns:
                if t and t <= newest_ns:
                    late += 1
                    continue
                t = received_ns
            sev = lr.severity_number if sev_i else 0
            feeding = feeds.get(sev)
            if feeding is None:
                feeding = feeds[sev] = may_feed((service, (sev_i, sev)) if sev_i else (service,))
            if not feeding:
                continue
            if not lo <= t < hi:
                step = t // step_ns
                lo, hi = step * step_ns, (step + 1) * step_ns
                current = groups.setdefault(step, {})
            if const is not None:
                tup = const
            else:
                vals = base.copy()
                if read_attrs:
                    record_attributes(vals, lr.attributes, get_slot, every)
                if sev_i:
                    vals[sev_i] = sev
                if body_matchers:
                    text = body_text(lr.body)
                    vals[body_i] = tuple([m.matches(text) for m in body_matchers])
                tup = tuple(vals)
            g = current.get(tup)
            if g is None:
                current[tup] = [lr]
            else:
                g.append(lr)
        first = stop
    return groups, late


def _row(lr: Any, error: bool) -> Row:
    return (error, lr.time_unix_nano or lr.observed_time_unix_nano, bytes(lr.trace_id), bytes(lr.span_id))


def _exemplars(records: list[Any], plain: bool) -> list[Row]:
    """Up to MAX_EXEMPLARS error records with a trace ID (and, if `plain`, the newest others too)."""
    rows = [_row(lr, True) for lr in records[:_EXEMPLAR_SCAN] if lr.severity_number >= _ERROR and lr.trace_id]
    if plain and len(rows) < MAX_EXEMPLARS:
        for lr in reversed(records[-_EXEMPLAR_SCAN:]):
            if lr.trace_id and lr.severity_number < _ERROR:
                rows.append(_row(lr, False))
                if len(rows) == MAX_EXEMPLARS:
                    break
    return rows[:MAX_EXEMPLARS]


def fold_logs(groups: Groups, plan: Plan, step_ns: int, received_ns: int) -> None:
    """Add each group to every series its key tuple feeds, one update per (table, series, bucket)."""
    targets_of = plan.targets
    entries: dict[tuple[Table[LogBucket], tuple[str, ...], int], list[list[Any]]] = {}
    for step, step_groups in groups.items():
        for tup, records in step_groups.items():
            targets: list[tuple[Table[LogBucket], tuple[str, ...]]] = targets_of(tup)
            for table, byvals in targets:
                entries.setdefault((table, byvals, step // table.steps), []).append(records)
    for (table, byvals, idx), parts in entries.items():
        s = table.get_series(byvals)
        seen = min(received_ns, (idx + 1) * table.width_ns)
        if seen > s.last_ns:
            s.last_ns = seen
        got = table.bucket(s, idx)
        if got is None:
            continue
        b, k = got
        n = sum(len(records) for records in parts)
        s.heads[k + 1] += n
        if s.overflow:
            table.overflow_points += n
        ex = b.ex
        plain = len(ex) < MAX_EXEMPLARS
        if plain or not ex[-1][0]:
            # Only worth looking while the bucket has room, or has room for errors.
            for records in parts:
                ex.extend(_exemplars(records, plain))
            ex.sort(reverse=True)
            del ex[MAX_EXEMPLARS:]

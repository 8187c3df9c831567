"""Log windows: the log ingest loop, log buckets (count and exemplars) and their measures.

A record's time is its `time_unix_nano`, or `observed_time_unix_nano` when that is
unset. `severity` is the record's SeverityNumber (0, unspecified, reads as
missing); `body` is a filter-only key matched against the body's text.
Exemplars are records that carry a trace ID, those at ERROR or above first,
then the newest.
"""

from __future__ import annotations

import struct
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from collector.model import SEVERITY_NUMBERS
from collector.store.plan import SERVICE, Plan, body_text
from collector.store.series import Table
from collector.store.windows import MAX_EXEMPLARS, Exemplar, WindowStats, best_exemplars

_ERROR = SEVERITY_NUMBERS["ERROR"]
_HEAD = struct.Struct("<II")  # idx, count
_EX = struct.Struct("<?Q16s8s")  # error, time, trace id, span id
_SEALED_EXEMPLARS = 1
# Records of a group looked at for exemplars: enough to find errors, bounded so big groups stay cheap.
_EXEMPLAR_SCAN = 32

ExemplarRow = tuple[bool, int, bytes, bytes]
# time step -> key tuple -> records
Groups = dict[int, dict[tuple[Any, ...], list[Any]]]


class LogBucket:
    """Log records of one series in one time bucket."""

    __slots__ = ("count", "ex", "idx")

    def __init__(self, idx: int) -> None:
        self.idx = idx
        self.count = 0
        self.ex: list[ExemplarRow] = []


class LogKind:
    """Creates, seals and unseals log buckets."""

    def new(self, idx: int) -> LogBucket:
        return LogBucket(idx)

    def seal(self, b: LogBucket) -> bytes:
        ex = b.ex[:_SEALED_EXEMPLARS]
        return b"".join([_HEAD.pack(b.idx, b.count), bytes((len(ex),)), *(_EX.pack(*row) for row in ex)])

    def unseal(self, blob: bytes) -> LogBucket:
        idx, count = _HEAD.unpack_from(blob)
        b = LogBucket(idx)
        b.count = count
        b.ex = _unpack_exemplars(blob)
        return b


def _unpack_exemplars(blob: bytes) -> list[ExemplarRow]:
    offset = _HEAD.size
    rows: list[ExemplarRow] = []
    for _ in range(blob[offset]):
        err, t, trace, span = _EX.unpack_from(blob, offset + 1 + len(rows) * _EX.size)
        rows.append((err, t, trace, span))
    return rows


def read_logs(
    request: ExportLogsServiceRequest, plan: Plan, received_ns: int, oldest_ns: int, step_ns: int
) -> tuple[Groups, int]:
    """Group the records of a request by (time step, key tuple). Returns the groups and the count too old to keep."""
    layout = plan.layout
    attrs = layout.attrs
    n_attrs = len(attrs)
    get_slot = attrs.get
    sev_i = layout.fields.get("severity", 0)
    body_i = layout.fields.get("body", 0)
    body_matchers = layout.body_matchers
    newest_ns = received_ns + 60_000_000_000
    groups: Groups = {}
    late = 0
    lo = hi = 0
    current: dict[tuple[Any, ...], list[Any]] = {}
    for rl in request.resource_logs:
        base: list[Any] = [None] * len(layout.keys)
        for kv in rl.resource.attributes:
            key = kv.key
            if key == SERVICE:
                base[0] = kv.value.string_value
            else:
                slot = get_slot(key)
                if slot is not None:
                    base[slot] = kv.SerializeToString()
        if body_i:
            base[body_i] = ()
        const = tuple(base) if not (n_attrs or sev_i or body_matchers) else None
        for sl in rl.scope_logs:
            for lr in sl.log_records:
                t = lr.time_unix_nano or lr.observed_time_unix_nano
                if t < oldest_ns or t > newest_ns:
                    if t and t <= newest_ns:
                        late += 1
                        continue
                    t = received_ns
                if not lo <= t < hi:
                    step = t // step_ns
                    lo, hi = step * step_ns, (step + 1) * step_ns
                    current = groups.setdefault(step, {})
                if const is not None:
                    tup = const
                else:
                    vals = base.copy()
                    if n_attrs:
                        found = 0
                        for kv in lr.attributes:
                            slot = get_slot(kv.key)
                            if slot is not None:
                                vals[slot] = kv.SerializeToString()
                                found += 1
                                if found == n_attrs:
                                    break
                    if sev_i:
                        vals[sev_i] = lr.severity_number
                    if body_matchers:
                        text = body_text(lr.body)
                        vals[body_i] = tuple([m.matches(text) for m in body_matchers])
                    tup = tuple(vals)
                g = current.get(tup)
                if g is None:
                    current[tup] = [lr]
                else:
                    g.append(lr)
    return groups, late


def _row(lr: Any, error: bool) -> ExemplarRow:
    return (error, lr.time_unix_nano or lr.observed_time_unix_nano, bytes(lr.trace_id), bytes(lr.span_id))


def _exemplars(records: list[Any], plain: bool) -> list[ExemplarRow]:
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
        b = table.bucket(s, idx)
        if b is None:
            continue
        n = sum(len(records) for records in parts)
        b.count += n
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


def log_stats(entries: list[LogBucket | bytes], seconds: float) -> WindowStats:
    """Measures of one series over the buckets of a window."""
    count = 0
    rows: list[ExemplarRow] = []
    for e in entries:
        if type(e) is bytes:
            count += _HEAD.unpack_from(e)[1]
            rows.extend(_unpack_exemplars(e))
        else:
            assert isinstance(e, LogBucket)
            count += e.count
            rows.extend(e.ex)
    values = {"count": float(count), "rate": count / seconds if seconds > 0 else None}
    exemplars = [Exemplar(trace, span, err, None, t) for err, t, trace, span in rows]
    return WindowStats(count, values, best_exemplars(exemplars))

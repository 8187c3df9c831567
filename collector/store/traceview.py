"""One trace as read back from the trace index: spans in tree order, its logs, and the API document."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeAlias

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"

_EPOCH = datetime(1970, 1, 1)
_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
_STATUS = ("unset", "ok", "error")
# OTLP SeverityNumber 1…24 → TRACE, TRACE2, TRACE3, TRACE4, DEBUG, … FATAL4.
_SEVERITIES = ("UNSPECIFIED", *(
    f"{name}{step if step > 1 else ''}" for name in ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
    for step in range(1, 5)
))


def iso_time(unix_ns: int) -> str:
    """Unix nanoseconds → `2026-11-22T10:00:00.123Z` (UTC, milliseconds)."""
    return (_EPOCH + timedelta(milliseconds=unix_ns // 1_000_000)).isoformat(timespec="milliseconds") + "Z"


def any_value(value: Any) -> JsonValue:
    """An OTLP AnyValue as the JSON value it stands for; bytes become hex, non-finite doubles their OTLP/JSON names."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return str(value.bytes_value.hex())
    if kind == "double_value":
        number = float(value.double_value)
        if not math.isfinite(number):
            return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")
        return number
    scalar: JsonValue = getattr(value, kind)
    return scalar


def attributes(pairs: Iterable[Any]) -> dict[str, JsonValue]:
    """OTLP KeyValue list → `{key: value}`; a repeated key keeps its last value."""
    return {str(kv.key): any_value(kv.value) for kv in pairs}


def service_of(resource: Any) -> str:
    """The resource's `service.name`, or "unknown"."""
    for kv in resource.attributes:
        if kv.key == "service.name" and kv.value.string_value:
            return str(kv.value.string_value)
    return "unknown"


def _hex_or_none(raw: bytes) -> str | None:
    return raw.hex() if raw else None


@dataclass(frozen=True, slots=True)
class SpanEntry:
    """One span with the resource and instrumentation scope it was sent with (OTLP messages)."""

    span: Any
    resource: Any
    scope: Any
    received_ns: int
    depth: int = 0


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One log record with the resource and instrumentation scope it was sent with (OTLP messages)."""

    record: Any
    resource: Any
    scope: Any
    received_ns: int

    @property
    def time_ns(self) -> int:
        # The spec's fallback: a record without an event time is placed at its observed time.
        return int(self.record.time_unix_nano or self.record.observed_time_unix_nano)


@dataclass(frozen=True, slots=True)
class TraceView:
    """A trace's spans in tree order (parent before child, `depth` set) and its log records by time."""

    trace_id: bytes
    spans: tuple[SpanEntry, ...]
    logs: tuple[LogEntry, ...]

    def to_dict(self) -> dict[str, JsonValue]:
        """The `GET /api/traces/{traceId}` document (DESIGN §7)."""
        if self.spans:
            start = min(int(s.span.start_time_unix_nano) for s in self.spans)
            end = max(int(s.span.end_time_unix_nano) for s in self.spans)
        else:
            start = min(entry.time_ns for entry in self.logs)
            end = max(entry.time_ns for entry in self.logs)
        resources = _ResourceCache()
        spans: list[JsonValue] = [_span_dict(s, start, resources) for s in self.spans]
        logs: list[JsonValue] = [_log_dict(entry, resources) for entry in self.logs]
        names = {resources.service(s.resource) for s in self.spans} | {resources.service(e.resource) for e in self.logs}
        services: list[JsonValue] = [*sorted(names)]
        return {
            "traceId": self.trace_id.hex(),
            "spanCount": len(spans),
            "logCount": len(logs),
            "services": services,
            "startTime": iso_time(start),
            "durationMs": max(0, end - start) / 1e6,
            "spans": spans,
            "logs": logs,
        }


class _ResourceCache:
    """Service name and attributes of each resource, worked out once per document."""

    def __init__(self) -> None:
        self._seen: dict[int, tuple[str, dict[str, JsonValue]]] = {}

    def _get(self, resource: Any) -> tuple[str, dict[str, JsonValue]]:
        known = self._seen.get(id(resource))
        if known is None:
            known = self._seen[id(resource)] = (service_of(resource), attributes(resource.attributes))
        return known

    def service(self, resource: Any) -> str:
        return self._get(resource)[0]

    def attributes(self, resource: Any) -> dict[str, JsonValue]:
        return self._get(resource)[1]


def _span_dict(entry: SpanEntry, trace_start: int, resources: _ResourceCache) -> dict[str, JsonValue]:
    span = entry.span
    start, end = int(span.start_time_unix_nano), int(span.end_time_unix_nano)
    kind, code = int(span.kind), int(span.status.code)
    return {
        "spanId": span.span_id.hex(),
        "parentSpanId": _hex_or_none(span.parent_span_id),
        "depth": entry.depth,
        "service": resources.service(entry.resource),
        "name": span.name,
        "kind": _KINDS[kind] if 0 <= kind < len(_KINDS) else "unspecified",
        "status": {"code": _STATUS[code] if 0 <= code < len(_STATUS) else "unset", "message": span.status.message},
        "startTime": iso_time(start),
        "startUnixNano": start,
        "durationMs": max(0, end - start) / 1e6,
        "offsetMs": (start - trace_start) / 1e6,
        "attributes": attributes(span.attributes),
        "resource": resources.attributes(entry.resource),
        "events": [
            {"name": e.name, "time": iso_time(e.time_unix_nano), "attributes": attributes(e.attributes)}
            for e in span.events
        ],
        "links": [
            {"traceId": link.trace_id.hex(), "spanId": link.span_id.hex(), "attributes": attributes(link.attributes)}
            for link in span.links
        ],
    }


def _log_dict(entry: LogEntry, resources: _ResourceCache) -> dict[str, JsonValue]:
    record = entry.record
    number = int(record.severity_number)
    severity = record.severity_text or (_SEVERITIES[number] if 0 <= number < len(_SEVERITIES) else str(number))
    return {
        "time": iso_time(entry.time_ns),
        "timeUnixNano": entry.time_ns,
        "severity": severity,
        "severityNumber": number,
        "body": any_value(record.body) if record.HasField("body") else None,
        "service": resources.service(entry.resource),
        "spanId": _hex_or_none(record.span_id),
        "attributes": attributes(record.attributes),
    }


def build_view(trace_id: bytes, spans: list[SpanEntry], logs: list[LogEntry]) -> TraceView:
    """Order spans into a tree and logs by time; a span or log received twice (a retried export) appears once."""
    return TraceView(trace_id, tuple(_tree_order(spans)), tuple(_unique_logs(logs)))


def _start(entry: SpanEntry) -> int:
    return int(entry.span.start_time_unix_nano)


def _tree_order(spans: list[SpanEntry]) -> list[SpanEntry]:
    by_id: dict[bytes, SpanEntry] = {}
    unique: list[SpanEntry] = []
    for entry in spans:
        span_id = bytes(entry.span.span_id)
        if span_id and span_id in by_id:
            continue
        if span_id:
            by_id[span_id] = entry
        unique.append(entry)
    children: dict[bytes, list[SpanEntry]] = {}
    roots: list[SpanEntry] = []
    for entry in unique:
        parent = bytes(entry.span.parent_span_id)
        # A parent that was never received (or a span naming itself) makes an orphan, shown as a root.
        if parent and parent in by_id and parent != entry.span.span_id:
            children.setdefault(parent, []).append(entry)
        else:
            roots.append(entry)
    for kids in children.values():
        kids.sort(key=_start)
    placed: set[int] = set()

    def walk(root: SpanEntry) -> list[SpanEntry]:
        out: list[SpanEntry] = []
        stack = [(root, 0)]
        while stack:
            entry, depth = stack.pop()
            if id(entry) in placed:
                continue
            placed.add(id(entry))
            out.append(replace(entry, depth=depth))
            kids = children.get(bytes(entry.span.span_id))
            if kids:
                stack.extend((kid, depth + 1) for kid in reversed(kids))
        return out

    trees = [walk(root) for root in sorted(roots, key=_start)]
    # Spans whose parents form a cycle are reached from no root: each cycle hangs from its earliest span.
    if sum(map(len, trees)) < len(unique):
        trees += [walk(entry) for entry in sorted(unique, key=_start) if id(entry) not in placed]
        trees.sort(key=lambda tree: _start(tree[0]))
    return [entry for tree in trees for entry in tree]


def _unique_logs(logs: list[LogEntry]) -> list[LogEntry]:
    seen: set[tuple[bytes, int]] = set()
    out: list[LogEntry] = []
    for entry in logs:
        # Records carry no ID: the same bytes from the same resource again can only be a resend.
        key = (entry.record.SerializeToString(), id(entry.resource))
        if key not in seen:
            seen.add(key)
            out.append(entry)
    out.sort(key=lambda e: e.time_ns)
    return out

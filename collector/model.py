"""Frozen values shared by the stages. No I/O here."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ExportRequest = ExportTraceServiceRequest | ExportMetricsServiceRequest | ExportLogsServiceRequest


class Signal(enum.StrEnum):
    """The three OTLP signals."""

    SPANS = "spans"
    METRICS = "metrics"
    LOGS = "logs"


@dataclass(frozen=True, slots=True)
class Batch:
    """One accepted OTLP export request, invalid items already removed.

    `items` counts spans, metric data points or log records. Once a Batch exists
    the client has been (or is about to be) told it was accepted: every stage
    after ingest must keep it.
    """

    signal: Signal
    request: ExportRequest
    items: int
    received_ns: int
    # What ingest read from the records while checking them, when it rejected none (see Scanned).
    scanned: Scanned | None = None


@dataclass(frozen=True, slots=True)
class Scanned:
    """What ingest read from every record of a request while validating it, so no later stage reads it again.

    A protobuf field read or a record wrapped costs about what a dict lookup and an allocation do,
    and a busy daemon makes millions a second. `records` are the spans or log records, wrapped once,
    and `trace_ids` their trace IDs, in request order (across resources and scopes, as they come).
    `body` is the protobuf the request was parsed from, while the request is still exactly what it
    encodes (None when it came as JSON, or a check rewrote a record): the trace index keeps those
    bytes rather than serialising the request again.
    """

    body: bytes | None
    records: list[Any]
    trace_ids: list[bytes]


class BatchSink(Protocol):
    """Where ingest hands accepted batches (the store implements it)."""

    def consume(self, batch: Batch) -> None:
        """Take one batch. Runs on the event loop; must not block on I/O."""


# --- What rules ask the store for ---------------------------------------------------------

# Record fields that `where` and `by` may name besides attributes.
SPAN_FIELDS = frozenset({"span.name", "span.kind", "status.code"})
LOG_FIELDS = frozenset({"severity", "body"})

# OTLP SeverityNumber of each severity name's lowest level (TRACE=1 … FATAL=21).
SEVERITY_NUMBERS = {"TRACE": 1, "DEBUG": 5, "INFO": 9, "WARN": 13, "WARNING": 13, "ERROR": 17, "FATAL": 21}

AttrValue = str | bool | int | float | None


class Op(enum.StrEnum):
    """How a `where` matcher compares an attribute."""

    EQ = "eq"
    REGEX = "regex"
    IN = "in"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"


def attr_text(value: AttrValue) -> str | None:
    """An attribute value as rules see it in equality, `in` and regex: `true`, `200`, `GET`."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True, slots=True)
class Matcher:
    """One `where` condition on one key. A missing key matches only negated matchers."""

    key: str
    op: Op
    value: str | float | frozenset[str] | re.Pattern[str]
    negate: bool = False

    def matches(self, actual: AttrValue) -> bool:
        return self._positive(actual) != self.negate

    def _positive(self, actual: AttrValue) -> bool:
        if actual is None:
            return False
        op, value = self.op, self.value
        if op is Op.EQ:
            return attr_text(actual) == value
        if op is Op.IN:
            assert isinstance(value, frozenset)
            return attr_text(actual) in value
        if op is Op.REGEX:
            assert isinstance(value, re.Pattern)
            text = attr_text(actual)
            return text is not None and value.fullmatch(text) is not None
        if isinstance(actual, bool) or not isinstance(value, float):
            return False
        try:
            number = float(actual)
        except ValueError:
            return False
        if op is Op.GT:
            return number > value
        if op is Op.GTE:
            return number >= value
        if op is Op.LT:
            return number < value
        return number <= value


@dataclass(frozen=True, slots=True)
class SeriesSelector:
    """Which records a rule measures and how it splits them into series."""

    signal: Signal
    where: tuple[Matcher, ...] = ()
    by: tuple[str, ...] = ()
    metric: str | None = None

    def keys(self) -> frozenset[str]:
        """Every key this selector reads (plus `service.name`, which is always kept)."""
        return frozenset(m.key for m in self.where) | frozenset(self.by) | {"service.name"}


# --- What evaluate hands to notify (through the `events` table) ----------------------------


class EventKind(enum.StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class ResolveReason(enum.StrEnum):
    CONDITION_CLEARED = "condition_cleared"
    NO_DATA = "no_data"
    SERIES_GONE = "series_gone"
    RULE_REMOVED = "rule_removed"
    MANUAL = "manual"


@dataclass(frozen=True, slots=True)
class ExemplarRef:
    """A trace worth looking at, cited by an event."""

    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits, or "" when unknown


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """A firing or resolved event of one incident (DESIGN §5). Times are UTC."""

    id: str
    kind: EventKind
    incident_id: str
    fingerprint: str
    rule: str
    group: str
    tier: str
    labels: dict[str, str]
    annotations: dict[str, str]
    value: float | None
    threshold: str | None
    baseline: dict[str, object] | None
    starts_at: datetime
    fired_at: datetime
    at: datetime
    ends_at: datetime | None = None
    duration_seconds: float | None = None
    resolve_reason: ResolveReason | None = None
    exemplars: tuple[ExemplarRef, ...] = ()

    def to_payload(self) -> dict[str, object]:
        """The JSON document stored in `events.payload` and handed to templates."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "incidentId": self.incident_id,
            "fingerprint": self.fingerprint,
            "rule": self.rule,
            "group": self.group,
            "tier": self.tier,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "value": self.value,
            "threshold": self.threshold,
            "baseline": self.baseline,
            "startsAt": iso(self.starts_at),
            "firedAt": iso(self.fired_at),
            "at": iso(self.at),
            "endsAt": iso(self.ends_at) if self.ends_at else None,
            "durationSeconds": self.duration_seconds,
            "resolveReason": self.resolve_reason.value if self.resolve_reason else None,
            "exemplars": [{"traceId": e.trace_id, "spanId": e.span_id} for e in self.exemplars],
        }


def iso(value: datetime) -> str:
    """RFC 3339 UTC with milliseconds and a Z, as in the webhook payload."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

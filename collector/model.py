"""Frozen values shared by the stages. No I/O here."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Protocol, Union

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ExportRequest = Union[ExportTraceServiceRequest, ExportMetricsServiceRequest, ExportLogsServiceRequest]


class Signal(str, enum.Enum):
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

AttrValue = Union[str, bool, int, float, None]


class Op(str, enum.Enum):
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

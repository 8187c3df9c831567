"""Per-item validation of decoded OTLP requests: invalid spans, data points and log records are removed in place.

A request is mostly valid, so the checks read only the fields they judge, in
one pass with no per-item copies; an item that fails is examined a second time,
slowly, to say why. Removal is in place and only happens when something failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collector.ingest.ids import SPAN_ID_BYTES, TRACE_ID_BYTES, ZERO_SPAN_ID, ZERO_TRACE_ID, id_problem
from collector.ingest.metricchecks import check_metrics
from collector.ingest.rejections import Rejections, remove
from collector.model import Batch, ExportRequest, Signal


@dataclass(frozen=True, slots=True)
class Decoded:
    """A request with its invalid items removed, and what was kept and rejected."""

    request: ExportRequest
    accepted: int
    rejected: int
    message: str

    def batch(self, signal: Signal, received_ns: int) -> Batch:
        """The accepted items as the Batch handed to the store."""
        return Batch(signal=signal, request=self.request, items=self.accepted, received_ns=received_ns)


_NOUNS = {Signal.SPANS: "span", Signal.METRICS: "data point", Signal.LOGS: "log record"}


def validate(signal: Signal, request: ExportRequest) -> Decoded:
    """Remove the invalid items of `request` (in place) and count what is left and what went."""
    rejections = Rejections()
    if signal is Signal.SPANS:
        accepted = _check_spans(request, rejections)
    elif signal is Signal.LOGS:
        accepted = _check_logs(request, rejections)
    else:
        accepted = check_metrics(request, rejections)
    return Decoded(request, accepted, rejections.count, rejections.message(_NOUNS[signal]))


# --- spans ---------------------------------------------------------------------------------

def _check_spans(request: Any, rejections: Rejections) -> int:
    accepted = 0
    for r, resource_spans in enumerate(request.resource_spans):
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            spans = scope_spans.spans
            bad: list[int] = []
            i = 0
            for span in spans:
                trace_id = span.trace_id
                span_id = span.span_id
                parent = span.parent_span_id
                start = span.start_time_unix_nano
                if (
                    len(trace_id) != TRACE_ID_BYTES or trace_id == ZERO_TRACE_ID
                    or len(span_id) != SPAN_ID_BYTES or span_id == ZERO_SPAN_ID
                    or (parent and (len(parent) != SPAN_ID_BYTES or parent == ZERO_SPAN_ID))
                    or not start or span.end_time_unix_nano < start
                    or (span.links and not _links_valid(span.links))
                ):
                    problem = _span_problem(span)
                    if problem is None:
                        span.parent_span_id = b""  # an all-zero parent means "no parent": a root span
                    else:
                        bad.append(i)
                        rejections.add(f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]", problem)
                i += 1
            accepted += i - len(bad)
            if bad:
                remove(spans, bad)
    return accepted


def _links_valid(links: Any) -> bool:
    for link in links:
        trace_id = link.trace_id
        span_id = link.span_id
        if (
            len(trace_id) != TRACE_ID_BYTES or trace_id == ZERO_TRACE_ID
            or len(span_id) != SPAN_ID_BYTES or span_id == ZERO_SPAN_ID
        ):
            return False
    return True


def _span_problem(span: Any) -> str | None:
    problem = (
        id_problem("traceId", span.trace_id, TRACE_ID_BYTES, optional=False)
        or id_problem("spanId", span.span_id, SPAN_ID_BYTES, optional=False)
        or id_problem("parentSpanId", span.parent_span_id, SPAN_ID_BYTES, optional=True)
    )
    if problem:
        return problem
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    if not start:
        return "startTimeUnixNano is 0"
    if end < start:
        return f"endTimeUnixNano ({end}) is before startTimeUnixNano ({start})"
    for j, link in enumerate(span.links):
        problem = (
            id_problem("traceId", link.trace_id, TRACE_ID_BYTES, optional=False)
            or id_problem("spanId", link.span_id, SPAN_ID_BYTES, optional=False)
        )
        if problem:
            return f"links[{j}].{problem}"
    return None


# --- logs ----------------------------------------------------------------------------------

def _check_logs(request: Any, rejections: Rejections) -> int:
    accepted = 0
    for r, resource_logs in enumerate(request.resource_logs):
        for s, scope_logs in enumerate(resource_logs.scope_logs):
            records = scope_logs.log_records
            bad: list[int] = []
            i = 0
            for record in records:
                trace_id = record.trace_id
                span_id = record.span_id
                if (
                    (trace_id and (len(trace_id) != TRACE_ID_BYTES or trace_id == ZERO_TRACE_ID))
                    or (span_id and (len(span_id) != SPAN_ID_BYTES or span_id == ZERO_SPAN_ID))
                ):
                    problem = _log_problem(record)
                    if problem is None:
                        _clear_zero_ids(record)
                    else:
                        bad.append(i)
                        rejections.add(f"resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}]", problem)
                i += 1
            accepted += i - len(bad)
            if bad:
                remove(records, bad)
    return accepted


def _log_problem(record: Any) -> str | None:
    # IDs are optional in a log record: empty or all zeros both mean "not in a trace".
    return (
        id_problem("traceId", record.trace_id, TRACE_ID_BYTES, optional=True)
        or id_problem("spanId", record.span_id, SPAN_ID_BYTES, optional=True)
    )


def _clear_zero_ids(record: Any) -> None:
    if record.trace_id == ZERO_TRACE_ID:
        record.trace_id = b""
    if record.span_id == ZERO_SPAN_ID:
        record.span_id = b""

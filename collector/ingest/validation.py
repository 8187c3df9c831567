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
from collector.model import Batch, ExportRequest, Scanned, Signal


@dataclass(frozen=True, slots=True)
class Decoded:
    """A request with its invalid items removed, what was kept and rejected, and what the checks read."""

    request: ExportRequest
    accepted: int
    rejected: int
    message: str
    # Set when nothing was rejected (spans and log records): later stages reuse these reads.
    scanned: Scanned | None = None

    def batch(self, signal: Signal, received_ns: int) -> Batch:
        """The accepted items as the Batch handed to the store."""
        return Batch(
            signal=signal, request=self.request, items=self.accepted, received_ns=received_ns, scanned=self.scanned
        )


_NOUNS = {Signal.SPANS: "span", Signal.METRICS: "data point", Signal.LOGS: "log record"}


def validate(signal: Signal, request: ExportRequest, body: bytes | None = None) -> Decoded:
    """Remove the invalid items of `request` (in place) and count what is left and what went.

    `body` is the protobuf `request` was parsed from, if any: it goes with what the checks read
    (`Decoded.scanned`) while the request still is exactly what it encodes.
    """
    rejections = Rejections()
    scanned: Scanned | None = None
    if signal is Signal.SPANS:
        scanned = Scanned(body, [], [])
        accepted, rewritten = _check_spans(request, rejections, scanned)
    elif signal is Signal.LOGS:
        scanned = Scanned(body, [], [])
        accepted, rewritten = _check_logs(request, rejections, scanned)
    else:
        accepted, rewritten = check_metrics(request, rejections), False
    if rejections.count:
        scanned = None
    elif rewritten and scanned is not None:
        scanned = Scanned(None, scanned.records, scanned.trace_ids)
    return Decoded(request, accepted, rejections.count, rejections.message(_NOUNS[signal]), scanned)


# --- spans ---------------------------------------------------------------------------------

def _check_spans(request: Any, rejections: Rejections, scanned: Scanned) -> tuple[int, bool]:
    """The spans kept, and whether a kept one was rewritten. What is read goes to `scanned`, rejected spans too."""
    accepted = 0
    rewritten = False
    records = scanned.records
    see_id = scanned.trace_ids.append
    for r, resource_spans in enumerate(request.resource_spans):
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            spans = scope_spans.spans
            # Wrapped once, here, for every reader after this one.
            wrapped = list(spans)
            records += wrapped
            bad: list[int] = []
            i = 0
            for span in wrapped:
                trace_id = span.trace_id
                span_id = span.span_id
                parent = span.parent_span_id
                start = span.start_time_unix_nano
                end = span.end_time_unix_nano
                see_id(trace_id)
                if (
                    len(trace_id) != TRACE_ID_BYTES or trace_id == ZERO_TRACE_ID
                    or len(span_id) != SPAN_ID_BYTES or span_id == ZERO_SPAN_ID
                    or (parent and (len(parent) != SPAN_ID_BYTES or parent == ZERO_SPAN_ID))
                    or not start or end < start
                    or (span.links and not _links_valid(span.links))
                ):
                    problem = _span_problem(span)
                    if problem is None:
                        span.parent_span_id = b""  # an all-zero parent means "no parent": a root span
                        rewritten = True
                    else:
                        bad.append(i)
                        rejections.add(f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]", problem)
                i += 1
            accepted += i - len(bad)
            if bad:
                remove(spans, bad)
    return accepted, rewritten


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

def _check_logs(request: Any, rejections: Rejections, scanned: Scanned) -> tuple[int, bool]:
    """The log records kept, and whether a kept one was rewritten. What is read goes to `scanned`.

    Both IDs are optional, so a scope's IDs are judged together first (lengths and all-zero values,
    in C); only a scope where that finds something is checked record by record.
    """
    accepted = 0
    rewritten = False
    records = scanned.records
    trace_ids = scanned.trace_ids
    for r, resource_logs in enumerate(request.resource_logs):
        for s, scope_logs in enumerate(resource_logs.scope_logs):
            log_records = scope_logs.log_records
            wrapped = list(log_records)
            records += wrapped
            scope_ids = [record.trace_id for record in wrapped]
            trace_ids += scope_ids
            if _optional_ids_valid(scope_ids, TRACE_ID_BYTES, ZERO_TRACE_ID) and _optional_ids_valid(
                [record.span_id for record in wrapped], SPAN_ID_BYTES, ZERO_SPAN_ID
            ):
                accepted += len(wrapped)
                continue
            bad: list[int] = []
            i = 0
            for record in wrapped:
                trace_id = record.trace_id
                span_id = record.span_id
                if (
                    (trace_id and (len(trace_id) != TRACE_ID_BYTES or trace_id == ZERO_TRACE_ID))
                    or (span_id and (len(span_id) != SPAN_ID_BYTES or span_id == ZERO_SPAN_ID))
                ):
                    problem = _log_problem(record)
                    if problem is None:
                        _clear_zero_ids(record)
                        rewritten = True
                    else:
                        bad.append(i)
                        rejections.add(f"resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}]", problem)
                i += 1
            accepted += i - len(bad)
            if bad:
                remove(log_records, bad)
    return accepted, rewritten


def _optional_ids_valid(ids: list[bytes], size: int, zero: bytes) -> bool:
    """Whether each ID is empty, or `size` bytes and not all zeros."""
    return set(map(len, ids)) <= {0, size} and zero not in ids


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

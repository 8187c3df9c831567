"""Invalid spans are rejected one by one with a reason; the valid rest of the request is kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from collector.ingest.decode import WireFormat, decode_request, validate
from collector.ingest.rejections import MAX_REASONS
from collector.model import Batch, Signal

DATA = Path(__file__).parents[2] / "data" / "otlp"
TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
T0 = 1_760_000_000_000_000_000


def span(n: int, **fields: Any) -> Span:
    """A valid span (unique span ID from `n`), changed by `fields`."""
    values: dict[str, Any] = {
        "trace_id": TRACE, "span_id": (n + 1).to_bytes(8, "big"), "name": f"span {n}",
        "start_time_unix_nano": T0 + n, "end_time_unix_nano": T0 + n + 1000,
    }
    values.update(fields)
    return Span(**values)


def request_of(*spans: Span) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])])


def names(request: ExportTraceServiceRequest) -> list[str]:
    return [s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]


def test_a_valid_request_is_kept_whole_and_unchanged() -> None:
    request = request_of(*(span(i, parent_span_id=(100 + i).to_bytes(8, "big")) for i in range(50)))
    before = request.SerializeToString()
    decoded = validate(Signal.SPANS, request)
    assert (decoded.accepted, decoded.rejected, decoded.message) == (50, 0, "")
    assert decoded.request is request
    assert request.SerializeToString() == before


def test_the_json_document_keeps_its_valid_spans_and_names_each_rejected_one() -> None:
    raw = (DATA / "traces_invalid.json").read_bytes()
    sent = json.loads(raw)["resourceSpans"][0]["scopeSpans"][0]["spans"]
    decoded = validate(Signal.SPANS, decode_request(Signal.SPANS, raw, WireFormat.JSON))
    expected_bad = [(i, s) for i, s in enumerate(sent) if "expectRejected" in s]
    assert decoded.rejected == len(expected_bad)
    assert decoded.accepted == len(sent) - len(expected_bad)
    assert names(decoded.request) == [s["name"] for s in sent if "expectRejected" not in s]
    assert decoded.message.startswith(f"{len(expected_bad)} spans rejected: ")
    for i, bad in expected_bad[:MAX_REASONS]:
        assert f"resourceSpans[0].scopeSpans[0].spans[{i}]: {bad['expectRejected']}" in decoded.message
    assert decoded.message.endswith(f"; and {len(expected_bad) - MAX_REASONS} more")


def test_each_rule_rejects_its_span_with_its_reason() -> None:
    cases: dict[str, dict[str, Any]] = {
        "traceId is 15 bytes long, must be 16": {"trace_id": TRACE[:15]},
        "traceId is all zeros": {"trace_id": bytes(16)},
        "traceId is missing": {"trace_id": b""},
        "spanId is 9 bytes long, must be 8": {"span_id": bytes(range(1, 10))},
        "spanId is all zeros": {"span_id": bytes(8)},
        "parentSpanId is 4 bytes long, must be 8": {"parent_span_id": b"\x01\x02\x03\x04"},
        "startTimeUnixNano is 0": {"start_time_unix_nano": 0},
        f"endTimeUnixNano ({T0}) is before startTimeUnixNano ({T0 + 1})": {
            "start_time_unix_nano": T0 + 1, "end_time_unix_nano": T0},
        "links[1].spanId is all zeros": {"links": [
            Span.Link(trace_id=TRACE, span_id=b"\x01" * 8), Span.Link(trace_id=TRACE, span_id=bytes(8))]},
        "links[0].traceId is 3 bytes long, must be 16": {"links": [Span.Link(trace_id=b"abc", span_id=b"\x01" * 8)]},
    }
    for reason, fields in cases.items():
        decoded = validate(Signal.SPANS, request_of(span(0), span(1, **fields), span(2)))
        assert (decoded.accepted, decoded.rejected) == (2, 1), reason
        assert decoded.message == f"1 span rejected: resourceSpans[0].scopeSpans[0].spans[1]: {reason}"
        assert names(decoded.request) == ["span 0", "span 2"]


def test_a_zero_duration_span_and_a_span_with_valid_links_are_kept() -> None:
    decoded = validate(Signal.SPANS, request_of(
        span(0, end_time_unix_nano=T0),
        span(1, links=[Span.Link(trace_id=TRACE, span_id=b"\x09" * 8)]),
    ))
    assert (decoded.accepted, decoded.rejected) == (2, 0)


def test_an_all_zero_parent_span_id_makes_a_root_span() -> None:
    decoded = validate(Signal.SPANS, request_of(span(0, parent_span_id=bytes(8))))
    assert (decoded.accepted, decoded.rejected) == (1, 0)
    assert decoded.request.resource_spans[0].scope_spans[0].spans[0].parent_span_id == b""


def test_rejections_across_resources_and_scopes_name_their_paths() -> None:
    request = ExportTraceServiceRequest(resource_spans=[
        ResourceSpans(scope_spans=[ScopeSpans(spans=[span(0)]), ScopeSpans(spans=[span(1), span(2, span_id=b"")])]),
        ResourceSpans(scope_spans=[ScopeSpans(spans=[span(3, trace_id=bytes(16))])]),
    ])
    decoded = validate(Signal.SPANS, request)
    assert (decoded.accepted, decoded.rejected) == (2, 2)
    assert decoded.message == (
        "2 spans rejected: resourceSpans[0].scopeSpans[1].spans[1]: spanId is missing; "
        "resourceSpans[1].scopeSpans[0].spans[0]: traceId is all zeros"
    )
    # Emptied scopes and resources may stay; what is left holds only valid spans.
    assert names(decoded.request) == ["span 0", "span 1"]


def test_the_message_names_only_the_first_few_of_many_rejected_spans() -> None:
    spans = [span(i, trace_id=bytes(16)) if i % 2 else span(i) for i in range(2000)]
    decoded = validate(Signal.SPANS, request_of(*spans))
    assert (decoded.accepted, decoded.rejected) == (1000, 1000)
    assert decoded.message.count("traceId is all zeros") == MAX_REASONS
    assert decoded.message.endswith(f"; and {1000 - MAX_REASONS} more")
    assert names(decoded.request) == [f"span {i}" for i in range(0, 2000, 2)]


def test_the_batch_carries_what_was_accepted() -> None:
    decoded = validate(Signal.SPANS, request_of(span(0), span(1, span_id=bytes(8)), span(2)))
    batch = decoded.batch(Signal.SPANS, received_ns=T0)
    assert batch == Batch(signal=Signal.SPANS, request=decoded.request, items=2, received_ns=T0)


def test_what_the_checks_read_goes_on_with_the_body_of_an_unchanged_request() -> None:
    other = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
    request = ExportTraceServiceRequest(resource_spans=[
        ResourceSpans(scope_spans=[ScopeSpans(spans=[span(0), span(1)]), ScopeSpans(spans=[span(2)])]),
        ResourceSpans(scope_spans=[ScopeSpans(spans=[span(3, trace_id=other, end_time_unix_nano=T0 + 3)])]),
    ])
    body = request.SerializeToString()
    decoded = validate(Signal.SPANS, request, body)
    scanned = decoded.scanned
    assert scanned is not None and scanned.body is body
    assert [s.name for s in scanned.records] == ["span 0", "span 1", "span 2", "span 3"]
    assert scanned.trace_ids == [TRACE, TRACE, TRACE, other]
    assert decoded.batch(Signal.SPANS, received_ns=T0).scanned is scanned


def test_a_request_the_checks_changed_goes_on_without_its_body() -> None:
    # A span rejected: nothing read goes on (the lists would still hold it).
    decoded = validate(Signal.SPANS, request_of(span(0), span(1, span_id=b"")), b"body")
    assert decoded.rejected == 1 and decoded.scanned is None
    # An all-zero parent is cleared: the body no longer says what the request holds; what was read stands.
    decoded = validate(Signal.SPANS, request_of(span(0, parent_span_id=bytes(8)), span(1)), b"body")
    assert decoded.rejected == 0
    assert decoded.scanned is not None and decoded.scanned.body is None
    assert [s.name for s in decoded.scanned.records] == ["span 0", "span 1"]
    # Decoded from JSON: there is no protobuf body to keep.
    decoded = validate(Signal.SPANS, request_of(span(0)))
    assert decoded.scanned is not None and decoded.scanned.body is None

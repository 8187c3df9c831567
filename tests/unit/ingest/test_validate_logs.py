"""Log records: IDs are optional, all-zero IDs mean "no trace", malformed IDs reject their record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

from collector.ingest.decode import WireFormat, decode_request, validate
from collector.model import Signal

DATA = Path(__file__).parents[2] / "data" / "otlp"
TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN = bytes.fromhex("eee19b7ec3c1b174")


def request_of(*records: LogRecord) -> ExportLogsServiceRequest:
    return ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=records)])])


def record(text: str, **fields: Any) -> LogRecord:
    return LogRecord(body=AnyValue(string_value=text), **fields)


def bodies(request: ExportLogsServiceRequest) -> list[str]:
    return [r.body.string_value for rl in request.resource_logs for sl in rl.scope_logs for r in sl.log_records]


def test_the_json_document_keeps_valid_records_and_names_each_rejected_one() -> None:
    raw = (DATA / "logs.json").read_bytes()
    sent = json.loads(raw)["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    decoded = validate(Signal.LOGS, decode_request(Signal.LOGS, raw, WireFormat.JSON))
    bad = [(i, r) for i, r in enumerate(sent) if "expectRejected" in r]
    assert (decoded.accepted, decoded.rejected) == (len(sent) - len(bad), len(bad))
    for i, given in bad:
        assert f"resourceLogs[0].scopeLogs[0].logRecords[{i}]: {given['expectRejected']}" in decoded.message
    kept = [r for r in sent if "expectRejected" not in r]
    records = list(decoded.request.resource_logs[0].scope_logs[0].log_records)
    assert len(records) == len(kept)
    for got, given in zip(records, kept, strict=True):
        trace_hex = given.get("traceId", given.get("trace_id", ""))
        span_hex = given.get("spanId", given.get("span_id", ""))
        if given.get("expectCleared"):
            trace_hex = span_hex = ""
        assert got.trace_id == bytes.fromhex(trace_hex)
        assert got.span_id == bytes.fromhex(span_hex)
        given_time = given.get("timeUnixNano", given.get("time_unix_nano", 0))
        assert got.time_unix_nano == int(given_time)
        assert got.observed_time_unix_nano == int(given.get("observedTimeUnixNano", 0))
        assert got.severity_number == given.get("severityNumber", given.get("severity_number", 0))


def test_records_with_no_ids_and_no_times_are_accepted() -> None:
    decoded = validate(Signal.LOGS, request_of(record("a"), record("b", trace_id=TRACE), record("c", span_id=SPAN)))
    assert (decoded.accepted, decoded.rejected, decoded.message) == (3, 0, "")


def test_all_zero_ids_are_cleared_not_rejected() -> None:
    decoded = validate(Signal.LOGS, request_of(record("a", trace_id=bytes(16), span_id=bytes(8))))
    assert (decoded.accepted, decoded.rejected) == (1, 0)
    kept = decoded.request.resource_logs[0].scope_logs[0].log_records[0]
    assert (kept.trace_id, kept.span_id) == (b"", b"")


def test_ids_of_the_wrong_length_reject_their_record() -> None:
    cases: dict[str, dict[str, Any]] = {
        "traceId is 8 bytes long, must be 16": {"trace_id": TRACE[:8]},
        "spanId is 16 bytes long, must be 8": {"trace_id": TRACE, "span_id": TRACE},
    }
    for reason, fields in cases.items():
        decoded = validate(Signal.LOGS, request_of(record("ok"), record("bad", **fields)))
        assert (decoded.accepted, decoded.rejected) == (1, 1)
        assert decoded.message == f"1 log record rejected: resourceLogs[0].scopeLogs[0].logRecords[1]: {reason}"
        assert bodies(decoded.request) == ["ok"]


def test_the_trace_ids_read_go_on_and_the_body_only_while_the_request_is_unchanged() -> None:
    request = request_of(record("a", trace_id=TRACE, span_id=SPAN), record("b"))
    body = request.SerializeToString()
    decoded = validate(Signal.LOGS, request, body)
    assert decoded.scanned is not None and decoded.scanned.body is body
    assert decoded.scanned.trace_ids == [TRACE, b""]
    assert [r.body.string_value for r in decoded.scanned.records] == ["a", "b"]
    cleared = validate(Signal.LOGS, request_of(record("a", trace_id=bytes(16))), b"body")
    assert cleared.scanned is not None and cleared.scanned.body is None
    rejected = validate(Signal.LOGS, request_of(record("a", trace_id=b"\x01")), b"body")
    assert rejected.rejected == 1 and rejected.scanned is None


def test_each_scope_is_judged_on_its_own_ids() -> None:
    # Scopes whose IDs are all fine sit beside one with a zero span ID and one with a short trace ID.
    fine = ScopeLogs(log_records=[record("a", trace_id=TRACE, span_id=SPAN), record("b")])
    zero = ScopeLogs(log_records=[record("c", trace_id=TRACE), record("d", trace_id=TRACE, span_id=bytes(8))])
    short = ScopeLogs(log_records=[record("e"), record("f", span_id=SPAN), record("g", trace_id=TRACE[:15])])
    request = ExportLogsServiceRequest(resource_logs=[
        ResourceLogs(scope_logs=[fine, zero]), ResourceLogs(scope_logs=[fine, short, fine]),
    ])
    decoded = validate(Signal.LOGS, request, request.SerializeToString())
    assert (decoded.accepted, decoded.rejected) == (10, 1)
    assert decoded.message == "1 log record rejected: resourceLogs[1].scopeLogs[1].logRecords[2]: " \
        "traceId is 15 bytes long, must be 16"
    assert bodies(decoded.request) == ["a", "b", "c", "d", "a", "b", "e", "f", "a", "b"]
    cleared = decoded.request.resource_logs[0].scope_logs[1].log_records[1]
    assert (cleared.trace_id, cleared.span_id) == (TRACE, b"")

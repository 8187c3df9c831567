"""OTLP/JSON bodies decode as the OTLP specification says: hex IDs, int64 as strings or numbers, enums as integers."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.errors import DecodeError
from collector.ingest.decode import WireFormat, decode_request, validate
from collector.model import Signal

DATA = Path(__file__).parents[2] / "data" / "otlp"


def load(name: str) -> tuple[bytes, Any]:
    raw = (DATA / name).read_bytes()
    return raw, json.loads(raw)  # the json module keeps big integers exact, so expectations are exact too


def decode_spans(payload: bytes) -> Any:
    return decode_request(Signal.SPANS, payload, WireFormat.JSON)


def spans_of(request: Any) -> list[Any]:
    return [span for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]


def test_hex_ids_in_any_letter_case_decode_to_their_bytes() -> None:
    raw, doc = load("traces.json")
    spans = spans_of(decode_spans(raw))
    sent = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert len(spans) == len(sent)
    for span, given in zip(spans, sent, strict=True):
        assert span.trace_id == bytes.fromhex(given["traceId"])
        assert span.span_id == bytes.fromhex(given["spanId"])
        assert span.parent_span_id == bytes.fromhex(given.get("parentSpanId", ""))
        for link, given_link in zip(span.links, given.get("links", []), strict=True):
            assert link.trace_id == bytes.fromhex(given_link["traceId"])
            assert link.span_id == bytes.fromhex(given_link["spanId"])


def test_empty_or_missing_parent_span_id_is_a_root_span() -> None:
    raw, doc = load("traces.json")
    sent = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    roots = [span.name for span in spans_of(decode_spans(raw)) if span.parent_span_id == b""]
    assert roots == [s["name"] for s in sent if not s.get("parentSpanId")]


def test_int64_as_strings_and_as_numbers_are_exact_even_above_2_to_the_53() -> None:
    raw, doc = load("traces.json")
    spans = spans_of(decode_spans(raw))
    sent = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    big = [int(s["startTimeUnixNano"]) for s in sent if int(s["startTimeUnixNano"]) != float(s["startTimeUnixNano"])]
    assert big, "the document must hold times that a float would round"
    for span, given in zip(spans, sent, strict=True):
        assert span.start_time_unix_nano == int(given["startTimeUnixNano"])
        assert span.end_time_unix_nano == int(given["endTimeUnixNano"])
    attributes = {kv.key: kv.value for kv in spans[2].attributes}
    given_attributes = {a["key"]: a.get("value", {}) for a in sent[2]["attributes"]}
    for key in ("big.as.string", "big.as.number", "negative"):
        assert attributes[key].int_value == int(given_attributes[key]["intValue"])
    assert spans[2].events[0].time_unix_nano == int(sent[2]["events"][0]["timeUnixNano"])


def test_enums_as_integers_names_and_missing() -> None:
    raw, doc = load("traces.json")
    spans = spans_of(decode_spans(raw))
    sent = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    for span, given in zip(spans, sent, strict=True):
        kind = given.get("kind", 0)
        assert span.kind == (Span.SpanKind.Value(kind) if isinstance(kind, str) else kind)
    assert "kind" not in sent[2] and spans[2].kind == Span.SpanKind.SPAN_KIND_UNSPECIFIED
    assert spans[0].status.code == sent[0]["status"]["code"]
    assert spans[0].status.message == sent[0]["status"]["message"]


def test_attribute_values_of_every_type() -> None:
    raw, _ = load("traces.json")
    span = spans_of(decode_spans(raw))[2]
    values = {kv.key: kv.value for kv in span.attributes}
    assert values["ratio"].double_value == 0.25
    assert values["ratio.whole"].double_value == 3.0
    assert math.isnan(values["not.a.number"].double_value)
    assert values["flag"].bool_value is True
    assert [v.WhichOneof("value") for v in values["list"].array_value.values] == ["string_value", "int_value"]
    assert values["map"].kvlist_value.values[0].value.string_value == "v"
    assert values["raw"].bytes_value == b"hello"
    assert values["empty"].WhichOneof("value") is None


def test_unknown_fields_are_ignored_at_every_level() -> None:
    raw, doc = load("traces.json")
    request = decode_spans(raw)
    span = spans_of(request)[2]
    assert "someFieldFromTheFuture" in doc["resourceSpans"][0]["scopeSpans"][0]["spans"][2]
    assert {kv.key: kv.value.string_value for kv in span.attributes}["unknown.value.field"] == "kept"
    assert request.resource_spans[0].resource.attributes[0].value.string_value == "checkout"


def test_snake_case_field_names_decode_like_camel_case() -> None:
    camel, _ = load("traces.json")
    snake, doc = load("traces_snake_case.json")
    assert "resource_spans" in doc
    assert decode_spans(snake) == decode_spans(camel)


@pytest.mark.parametrize("payload", [b"", b"  \n", b"{}", (DATA / "traces_empty.json").read_bytes()])
def test_empty_requests_decode_to_nothing(payload: bytes) -> None:
    request = decode_spans(payload)
    decoded = validate(Signal.SPANS, request)
    assert (decoded.accepted, decoded.rejected, decoded.message) == (0, 0, "")


@pytest.mark.parametrize("signal", list(Signal))
def test_every_signal_accepts_an_empty_object(signal: Signal) -> None:
    assert decode_request(signal, b"{}", WireFormat.JSON).ByteSize() == 0


@pytest.mark.parametrize(
    "payload",
    [b"{", b"not json", b'{"resourceSpans": [}', b"\xff\xfe", b'{"a": 1} trailing'],
)
def test_text_that_is_not_json_cannot_be_decoded(payload: bytes) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_spans(payload)
    assert "not valid JSON" in caught.value.message


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ([], "must be a JSON object"),
        ("spans", "must be a JSON object"),
        ({"resourceSpans": {}}, "resourceSpans: expected an array"),
        ({"resourceSpans": [5]}, "resourceSpans[0]: expected an object"),
        ({"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5}]}]}]}, "spans[0].name: expected a string"),
        ({"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": "NO_SUCH_KIND"}]}]}]}, "spans[0].kind"),
        ({"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}, "startTimeUnixNano"),
        ({"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": 1.5}]}]}]}, "startTimeUnixNano"),
        ({"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": -1}]}]}]}, "startTimeUnixNano"),
        ({"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": 2**64}]}]}]}, "startTimeUnixNano"),
        ({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 12}]}]}]}, "spans[0].traceId: expected a string"),
        ({"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": {"k": "v"}}]}]}]},
         "attributes: expected an array"),
        ({"resourceSpans": [{"resource": {"attributes": [{"key": 1, "value": {"stringValue": "v"}}]}}]},
         "attributes[0].key: expected a string"),
        ({"resourceSpans": [{"resource": {"attributes": [{"key": "k", "value": {"boolValue": "yes"}}]}}]},
         "value.boolValue: expected true or false"),
        ({"resourceSpans": [{"resource": {"attributes": [{"key": "k", "value": {"bytesValue": "***"}}]}}]},
         "value.bytesValue: invalid value"),
        ({"resourceSpans": [{"resource": {"droppedAttributesCount": -1}}]}, "resource.droppedAttributesCount"),
    ],
)
def test_wrong_json_types_cannot_be_decoded_and_the_message_says_where(document: Any, where: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_spans(json.dumps(document).encode())
    assert caught.value.http_status == 400
    assert where in caught.value.message


def _nested_value(depth: int) -> bytes:
    value: Any = {"stringValue": "leaf"}
    for _ in range(depth):
        value = {"arrayValue": {"values": [value]}}
    document = {"resourceSpans": [{"resource": {"attributes": [{"key": "deep", "value": value}]}}]}
    return json.dumps(document).encode()


def test_attribute_values_nested_a_little_are_decoded() -> None:
    request = decode_spans(_nested_value(10))
    value = request.resource_spans[0].resource.attributes[0].value
    for _ in range(10):
        value = value.array_value.values[0]
    assert value.string_value == "leaf"


def test_attribute_values_nested_too_deep_to_store_cannot_be_decoded() -> None:
    with pytest.raises(DecodeError) as caught:
        decode_spans(_nested_value(200))
    assert "deep" in caught.value.message
    # What is accepted must survive a protobuf round trip later (the store keeps serialised spans).
    accepted = decode_spans(_nested_value(30))
    assert type(accepted).FromString(accepted.SerializeToString()) == accepted

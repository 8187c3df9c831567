"""The column-wise OTLP/JSON builder (jsonbuild) accepts, refuses and builds exactly what the generic
converters (jsonmap) do, on the sample documents and on thousands of altered copies of them."""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.ingest import jsonbuild
from collector.ingest.jsonbuild import clear_fragments, request_builder
from collector.ingest.jsonmap import message_converter

DATA = Path(__file__).parents[2] / "data" / "otlp"
REQUESTS = {
    "traces.json": ExportTraceServiceRequest,
    "traces_invalid.json": ExportTraceServiceRequest,
    "traces_snake_case.json": ExportTraceServiceRequest,
    "logs.json": ExportLogsServiceRequest,
    "metrics.json": ExportMetricsServiceRequest,
}
REFUSED = "refused"
# Values the alterations put anywhere: every JSON type, the edge cases of each converter, and attribute shapes.
ODD_VALUES: list[Any] = [
    None, 0, 1, -1, 2, 1.0, 1.5, -0.0, 2**63, 2**64, True, False, "", "7", "-3", "1e3", "NaN", "soon",
    "SPAN_KIND_SERVER", "0" * 16, "0" * 32, "ab" * 8, "AB" * 16, "abcdef0123 45 67", "ab" * 14 + " 123", "zz" * 8,
    "q83v", {}, [], [1, "2"], {"code": 2}, {"stringValue": "},{"}, {"key": "k", "value": {"stringValue": "a},{b"}},
    {"key": "k", "value": {"intValue": True}}, {"key": "k", "value": {"doubleValue": 1}},
    {"key": "k", "value": {"boolValue": 1}}, {"key": "k", "value": {"arrayValue": {"values": [{"intValue": "1"}]}}},
    {"key": "k", "value": {"kvlistValue": {"values": [{"key": "a", "value": {}}, {"key": "b"}]}}},
    {"key": "k", "value": {"stringValue": "v", "intValue": 3}}, {"key": "k", "value": {"bytesValue": "aGk="}},
    {"key": "k"}, {"value": {"stringValue": "v"}}, {"key": "k", "value": None, "extra": 1},
]


@pytest.fixture(params=["fragments", "keywords"])
def attributes_as(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each way attributes can be built: from fragments (even when all are new), or by the constructor
    (whenever one is new: attributes that are all cached still come from fragments)."""
    monkeypatch.setattr(jsonbuild, "NEW_SHARE", 1.0 if request.param == "fragments" else 0.0)
    clear_fragments()
    return str(request.param)


def reference(cls: type[Message]) -> Callable[[Any], Message]:
    convert = message_converter(cls.DESCRIPTOR)
    return lambda document: cls(**convert(document))


BUILDERS = {cls: (request_builder(cls.DESCRIPTOR), reference(cls)) for cls in set(REQUESTS.values())}


def outcome(build: Callable[[Any], Message], document: Any) -> bytes | str:
    # Each way gets its own parse: the generic converters rename attribute values in place.
    try:
        return build(orjson.loads(orjson.dumps(document))).SerializeToString()
    except (TypeError, ValueError, OverflowError, RecursionError):
        return REFUSED


def assert_same(cls: type[Message], document: Any) -> bytes | str:
    columns, generic = BUILDERS[cls]
    expected = outcome(generic, document)
    assert outcome(columns, document) == expected, orjson.dumps(document)[:2000]
    assert outcome(columns, document) == expected  # again, now with every attribute cached
    return expected


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_sample_documents_build_the_same_messages(name: str, attributes_as: str) -> None:
    result = assert_same(REQUESTS[name], orjson.loads((DATA / name).read_bytes()))
    assert result != REFUSED


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_every_field_given_odd_values_builds_the_same_or_is_refused_alike(name: str, attributes_as: str) -> None:
    document = orjson.loads((DATA / name).read_bytes())
    rng = random.Random(name)
    for path in field_paths(document):
        for value in rng.sample(ODD_VALUES, 8):
            altered = copy.deepcopy(document)
            node = altered
            for step in path[:-1]:
                node = node[step]
            node[path[-1]] = copy.deepcopy(value)
            assert_same(REQUESTS[name], altered)


def test_a_refused_list_leaves_nothing_in_the_cache_for_others(attributes_as: str) -> None:
    # Attribute texts are cut out of one dumps of the list, only when every attribute is an object (see _keys).
    poison = [{"key": "x},{y"}, "not an attribute"]
    for attributes in (poison, [{"key": "x"}]):
        assert_same(ExportLogsServiceRequest, {"resourceLogs": [{"scopeLogs": [{"logRecords": [
            {"attributes": attributes}]}]}]})


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_altered_documents_build_the_same_messages_or_are_refused_alike(name: str, attributes_as: str) -> None:
    document = orjson.loads((DATA / name).read_bytes())
    rng = random.Random(name)
    outcomes = set()
    for altered in alterations(document, rng, count=250):
        if rng.random() < 0.2:
            clear_fragments()
        outcomes.add(assert_same(REQUESTS[name], altered) == REFUSED)
    assert outcomes == {True, False}, "the alterations must give both accepted and refused documents"


def test_many_items_with_repeating_and_fresh_attributes(attributes_as: str) -> None:
    rng = random.Random(3)
    spans = []
    for i in range(300):
        attributes = [{"key": f"k{rng.randrange(5)}", "value": rng.choice(
            [{"stringValue": rng.choice(["a", "b", f"s{i}"])}, {"intValue": rng.choice([1, "2", 2**62])},
             {"doubleValue": rng.choice([0.5, 1, "Infinity"])}, {"boolValue": rng.random() < 0.5}])}
            for _ in range(rng.randrange(12))]
        spans.append({
            "traceId": rng.randbytes(16).hex(), "spanId": rng.randbytes(8).hex(),
            "parentSpanId": rng.choice(["", rng.randbytes(8).hex(), None]), "name": f"op {i % 7}",
            "kind": rng.choice([1, 2, "SPAN_KIND_CLIENT"]), "startTimeUnixNano": str(10**18 + i),
            "endTimeUnixNano": 10**18 + 2 * i, "attributes": attributes, "status": rng.choice([{}, {"code": 1}]),
            "events": [{"timeUnixNano": str(10**18 + j), "name": "e", "attributes": attributes[:j]}
                       for j in range(rng.randrange(3))],
            "links": [{"traceId": "ab" * 16, "spanId": "cd" * 8, "attributes": attributes[-1:]}]
            if i % 5 == 0 else [],
        })
    document = {"resourceSpans": [{"scopeSpans": [{"spans": spans[:150]}, {"spans": spans[150:]}]}]}
    assert assert_same(ExportTraceServiceRequest, document) != REFUSED


def test_an_attribute_text_holding_the_object_separator_is_still_its_own(attributes_as: str) -> None:
    attributes = [{"key": "a", "value": {"stringValue": "x},{y"}}, {"key": "b", "value": {"stringValue": "z"}}]
    document = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"attributes": attributes}] * 3}]}]}
    request = BUILDERS[ExportLogsServiceRequest][0](document)
    record = request.resource_logs[0].scope_logs[0].log_records[2]  # type: ignore[attr-defined]
    assert [(kv.key, kv.value.string_value) for kv in record.attributes] == [("a", "x},{y"), ("b", "z")]


def test_a_oneof_given_twice_keeps_the_last_as_the_generic_converters_do(attributes_as: str) -> None:
    point = {"timeUnixNano": "5", "asInt": "3", "asDouble": 2.5, "attributes": [{"key": "k", "value": {}}]}
    metric = {"name": "m", "sum": {"dataPoints": [point]}, "gauge": {"dataPoints": [point]}}
    document = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [metric, {"name": "n", "gauge": {}}]}]}]}
    assert assert_same(ExportMetricsServiceRequest, document) != REFUSED


# --- alterations -----------------------------------------------------------------------------


def alterations(document: Any, rng: random.Random, count: int) -> Iterator[Any]:
    for _ in range(count):
        altered = copy.deepcopy(document)
        for _ in range(rng.randint(1, 3)):
            alter(altered, rng)
        yield altered


def alter(document: Any, rng: random.Random) -> None:
    node = rng.choice(containers(document))
    if isinstance(node, list):
        if node and rng.random() < 0.5:
            i = rng.randrange(len(node))
            node[i] = copy.deepcopy(rng.choice(node)) if rng.random() < 0.5 else odd(rng)
        else:
            node.append(copy.deepcopy(rng.choice(node)) if node and rng.random() < 0.7 else odd(rng))
        return
    if not node or rng.random() < 0.15:
        node[rng.choice(["someFieldFromTheFuture", "attributes", "name", "value", "key"])] = odd(rng)
        return
    key = rng.choice(list(node))
    action = rng.randrange(5)
    if action == 0:
        node[key] = odd(rng)
    elif action == 1:
        del node[key]
    elif action == 2:  # the original (snake_case) name instead
        node[snake(key)] = node.pop(key)
    elif action == 3:  # both names, in either order
        node[snake(key)] = copy.deepcopy(node[key]) if rng.random() < 0.5 else odd(rng)
    else:
        node[key] = None


def field_paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every value of every object in `node`."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, child in items:
        if isinstance(node, dict):
            yield (*path, key)
        if isinstance(child, dict | list):
            yield from field_paths(child, (*path, key))


def containers(node: Any) -> list[Any]:
    found = [node]
    children = node.values() if isinstance(node, dict) else node
    for child in children:
        if isinstance(child, dict | list):
            found.extend(containers(child))
    return found


def odd(rng: random.Random) -> Any:
    return copy.deepcopy(rng.choice(ODD_VALUES))


def snake(name: str) -> str:
    return re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), name)

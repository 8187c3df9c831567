"""`where` clauses become model.Matcher values that match records the way the rule text says."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from collector.model import AttrValue, Matcher, Op, Signal
from collector.rules.matchers import parse_where


def one(spec: object, signal: Signal = Signal.SPANS, key: str = "k") -> Matcher:
    [matcher] = parse_where({key: spec}, signal)
    return matcher


def error_locs(raw: object, signal: Signal = Signal.SPANS) -> list[tuple[object, ...]]:
    with pytest.raises(ValidationError) as info:
        parse_where(raw, signal)
    return [e["loc"] for e in info.value.errors()]


@pytest.mark.parametrize(
    ("spec", "matching", "not_matching"),
    [
        ("GET", "GET", "POST"),
        (200, 200, 201),
        (200, "200", "200.5"),
        (True, True, False),
        (True, "true", "True"),
        (2.5, 2.5, 2.50001),
    ],
)
def test_equality_compares_the_text_form(spec: object, matching: AttrValue, not_matching: AttrValue) -> None:
    m = one(spec)
    assert m.op is Op.EQ
    assert m.matches(matching)
    assert not m.matches(not_matching)
    assert not m.matches(None)


def test_regex_is_anchored_on_both_ends() -> None:
    m = one({"regex": "GET|POST"})
    assert m.matches("GET") and m.matches("POST")
    assert not m.matches("GETTER") and not m.matches("XPOST")


def test_numeric_comparisons_accept_units() -> None:
    assert one({"gt": "250ms"}).value == 250.0
    assert one({"lte": "3%"}).value == pytest.approx(0.03)
    m = one({"gte": 500})
    assert m.matches(503) and m.matches("500") and not m.matches(499) and not m.matches("abc")


def test_in_matches_any_listed_value_in_text_form() -> None:
    m = one({"in": ["GET", 200, True]})
    assert m.matches("GET") and m.matches(200) and m.matches(True)
    assert not m.matches("PUT")


def test_not_negates_and_a_missing_key_matches_only_negations() -> None:
    m = one({"not": {"regex": "/health.*"}})
    assert not m.matches("/healthz")
    assert m.matches("/cart")
    assert m.matches(None)
    assert one({"not": "GET"}).matches("POST")
    assert one({"not": {"not": "GET"}}).matches("GET")


def test_span_kind_and_status_code_are_names_in_any_case() -> None:
    assert one("SERVER", key="span.kind").value == "server"
    assert one({"in": ["Error", "unset"]}, key="status.code").value == frozenset({"error", "unset"})


@pytest.mark.parametrize(
    ("spec", "levels"),
    [
        ("ERROR", range(17, 21)),
        ({"gte": "ERROR"}, range(17, 25)),
        ({"gt": "error"}, range(21, 25)),
        ({"lt": "ERROR"}, range(1, 17)),
        ({"lte": "WARN"}, range(1, 17)),
        ({"in": ["WARN", "FATAL"]}, [*range(13, 17), *range(21, 25)]),
        ({"gte": 17}, range(17, 25)),
        (9, [9]),
        ({"not": "INFO"}, [*range(1, 9), *range(13, 25)]),
    ],
)
def test_severity_names_stand_for_their_range(spec: object, levels: range | list[int]) -> None:
    m = one(spec, Signal.LOGS, key="severity")
    assert [n for n in range(1, 25) if m.matches(n)] == list(levels)


def test_field_names_are_plain_attributes_on_other_signals() -> None:
    assert one({"gte": 3}, Signal.SPANS, key="severity").value == 3.0
    assert one("anything", Signal.METRICS, key="span.kind").value == "anything"


def test_every_bad_matcher_is_reported_at_its_own_key() -> None:
    raw = {
        "a": {"regex": "(("},
        "b": {"gt": "lots"},
        "c": {"in": []},
        "d": {"regex": "x", "gt": 1},
        "e": {"like": "x"},
        "f": {"not": {"in": ["ok", [1]]}},
        "g": None,
        "span.kind": "sideways",
        "span.name": {"lt": 3},
    }
    assert error_locs(raw) == [
        ("a", "regex"), ("b", "gt"), ("c", "in"), ("d",), ("e", "like"), ("f", "not", "in", 1), ("g",),
        ("span.kind",), ("span.name", "lt"),
    ]


def test_severity_refuses_regex_and_unknown_levels() -> None:
    assert error_locs({"severity": {"regex": "ERR.*"}}, Signal.LOGS) == [("severity", "regex")]
    assert error_locs({"severity": {"gte": 25}}, Signal.LOGS) == [("severity", "gte")]
    assert error_locs({"severity": "CRITICAL"}, Signal.LOGS) == [("severity",)]

"""Routing: with many rules, each record reaches exactly the rules whose matchers it passes."""

from __future__ import annotations

import re
from itertools import product

from collector.model import AttrValue, Matcher, Op, SeriesSelector, Signal
from tests.unit.store.store_otlp import NOW, Harness, S, span

SERVICES = ["cart", "checkout", "pay"]
ROUTES = ["/a", "/b", "/health"]
KINDS = {2: "server", 3: "client"}


def rules() -> dict[str, list[Matcher]]:
    """Rules in every shape: equality (indexed), `in` (indexed), negated, regex, numeric, none, several."""
    out: dict[str, list[Matcher]] = {}
    for svc in SERVICES:
        out[f"eq_{svc}"] = [Matcher("service.name", Op.EQ, svc)]
        out[f"not_{svc}"] = [Matcher("service.name", Op.EQ, svc, negate=True)]
        out[f"eq_{svc}_server"] = [Matcher("service.name", Op.EQ, svc), Matcher("span.kind", Op.EQ, "server")]
    out["in_cart_pay"] = [Matcher("service.name", Op.IN, frozenset({"cart", "pay"}))]
    out["api_routes"] = [Matcher("http.route", Op.REGEX, re.compile("/a|/b"))]
    out["route_a_client"] = [Matcher("http.route", Op.EQ, "/a"), Matcher("span.kind", Op.EQ, "client")]
    out["slow_codes"] = [Matcher("code", Op.GTE, 500.0)]
    out["code_eq_number"] = [Matcher("code", Op.EQ, "503")]
    out["everything"] = []
    return out


def test_each_record_reaches_exactly_the_rules_it_matches() -> None:
    selected = rules()
    h = Harness({name: SeriesSelector(Signal.SPANS, where=tuple(where), by=("http.route",))
                 for name, where in selected.items()})
    sent = list(product(SERVICES, ROUTES, KINDS, (200, 503)))
    for svc, route, kind, code in sent:
        h.spans([span(kind=kind, attrs={"http.route": route, "code": code})], resource={"service.name": svc})
    for name, where in selected.items():
        expected: dict[tuple[str, ...], int] = {}
        for svc, route, kind, code in sent:
            values: dict[str, AttrValue] = {
                "service.name": svc, "http.route": route, "span.kind": KINDS[kind], "code": code,
            }
            if all(m.matches(values[m.key]) for m in where):
                expected[(route,)] = expected.get((route,), 0) + 1
        got = {k: v.samples for k, v in h.store.query(name, NOW - 60 * S, NOW).items()}
        assert got == expected, name

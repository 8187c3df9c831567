"""Span series windows: what rules measure over spans, as the evaluator sees it through Store.query."""

from __future__ import annotations

import math
import random
import re
from datetime import timedelta

import pytest
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from collector.model import Matcher, Op, Scanned, SeriesSelector, Signal
from collector.store.sketch import RELATIVE_ACCURACY
from tests.unit.store.store_otlp import MS, NOW, Harness, S, span

pytestmark = pytest.mark.usefixtures("handed_over")

ALL = SeriesSelector(Signal.SPANS)
BY_ROUTE = SeriesSelector(Signal.SPANS, by=("http.route",))
MINUTE = (NOW - 60 * S, NOW)


def one(h: Harness, rule: str = "r", window: tuple[int, int] = MINUTE) -> dict[tuple[str, ...], object]:
    return dict(h.store.query(rule, *window))


def test_counts_errors_rate_and_latency_over_the_window() -> None:
    rng = random.Random(5)
    durations = [rng.lognormvariate(3, 1) for _ in range(300)]
    h = Harness({"r": ALL})
    h.spans([span(NOW - rng.randrange(1, 59) * S, d, error=i % 10 == 0) for i, d in enumerate(durations)])
    stats = h.store.query("r", *MINUTE)[()]
    assert stats.samples == 300
    assert stats.measure("count") == 300
    assert stats.measure("rate") == pytest.approx(300 / 60)
    assert stats.measure("error_count") == 30
    assert stats.measure("error_ratio") == pytest.approx(0.1)
    assert stats.measure("latency_avg") == pytest.approx(sum(durations) / 300, rel=1e-6)
    assert stats.measure("latency_max") == pytest.approx(max(durations), rel=1e-6)
    ordered = sorted(durations)
    for name, q in (("latency_p50", 0.5), ("latency_p90", 0.9), ("latency_p95", 0.95), ("latency_p99", 0.99)):
        want = ordered[math.floor(q * 299)]
        assert stats.measure(name) == pytest.approx(want, rel=RELATIVE_ACCURACY)


def test_empty_window_has_no_series_and_unknown_rule_has_none() -> None:
    h = Harness({"r": ALL})
    assert h.store.query("r", *MINUTE) == {}
    assert h.store.query("nope", *MINUTE) == {}


def test_measures_that_cannot_be_computed_are_none() -> None:
    h = Harness({"r": ALL})
    h.spans([span(NOW - S)])
    stats = h.store.query("r", *MINUTE)[()]
    assert stats.measure("p99") is None  # a metric measure on spans
    with pytest.raises(ValueError, match="unknown measure"):
        stats.measure("latency_p42")


def test_record_attributes_win_over_resource_attributes_and_missing_keys_read_empty() -> None:
    h = Harness({"r": SeriesSelector(Signal.SPANS, by=("http.route", "deployment"))})
    h.spans(
        [span(attrs={"http.route": "/from-span"}), span(), span(attrs={"deployment": "blue"})],
        resource={"service.name": "checkout", "http.route": "/from-resource"},
    )
    series = {k: v.samples for k, v in h.store.query("r", *MINUTE).items()}
    assert series == {("/from-span", ""): 1, ("/from-resource", ""): 1, ("/from-resource", "blue"): 1}


def test_each_service_is_read_for_the_attributes_of_the_rules_that_may_select_it() -> None:
    not_cart = Matcher("service.name", Op.EQ, "cart", negate=True)
    h = Harness({
        "routes": SeriesSelector(Signal.SPANS, where=(not_cart,), by=("http.route",)),
        "env": SeriesSelector(Signal.SPANS, where=(Matcher("env", Op.EQ, "prod"),), by=("service.name",)),
        "all": SeriesSelector(Signal.SPANS, by=("service.name",)),
    })
    for service in ("checkout", "cart", "search"):
        h.spans([span(attrs={"http.route": f"/{service}/{i % 2}", "env": "prod" if i % 3 else "dev"})
                 for i in range(6)], resource={"service.name": service, "http.route": "/resource"})
    def samples(rule: str) -> dict[tuple[str, ...], int]:
        return {k: v.samples for k, v in h.store.query(rule, *MINUTE).items()}

    assert samples("routes") == {(f"/{s}/{i}",): 3 for s in ("checkout", "search") for i in (0, 1)}
    assert samples("env") == {(s,): 4 for s in ("checkout", "cart", "search")}
    assert samples("all") == {(s,): 6 for s in ("checkout", "cart", "search")}


def test_by_reads_span_fields_and_attribute_values_as_text() -> None:
    h = Harness({"r": SeriesSelector(Signal.SPANS, by=("span.name", "span.kind", "status.code", "code", "ok"))})
    h.spans([span(name="GET /a", kind=3, error=True, attrs={"code": 500, "ok": False}), span(name="x", kind=1)])
    assert set(h.store.query("r", *MINUTE)) == {
        ("GET /a", "client", "error", "500", "false"), ("x", "internal", "unset", "", ""),
    }


@pytest.mark.parametrize(
    ("matcher", "expected"),
    [
        (Matcher("http.route", Op.REGEX, re.compile("/api/.*")), {"/api/a", "/api/b"}),
        (Matcher("http.route", Op.REGEX, re.compile("/api/.*"), negate=True), {"/health", ""}),
        (Matcher("http.route", Op.IN, frozenset({"/health", "/api/a"})), {"/health", "/api/a"}),
        (Matcher("code", Op.GTE, 500.0), {"/api/b"}),
        (Matcher("span.kind", Op.EQ, "client"), {"/health"}),
        (Matcher("status.code", Op.EQ, "error"), {"/api/b"}),
        (Matcher("service.name", Op.EQ, "checkout"), {"/api/a", "/api/b", "/health", ""}),
    ],
)
def test_where_matchers_pick_the_records(matcher: Matcher, expected: set[str]) -> None:
    h = Harness({"r": SeriesSelector(Signal.SPANS, where=(matcher,), by=("http.route",))})
    h.spans([
        span(attrs={"http.route": "/api/a", "code": 200}),
        span(attrs={"http.route": "/api/b", "code": 503}, error=True),
        span(attrs={"http.route": "/health", "code": 200}, kind=3),
        span(),
    ])
    assert {k[0] for k in h.store.query("r", *MINUTE)} == expected


def test_late_data_inside_the_window_still_counts() -> None:
    h = Harness({"r": ALL})
    h.spans([span(NOW - 2 * S)], received_ns=NOW)
    # Ten seconds later (older buckets are sealed by then), a batch from 40 s ago arrives.
    h.spans([span(NOW + 8 * S)], received_ns=NOW + 10 * S)
    h.spans([span(NOW - 40 * S, 500.0, error=True)], received_ns=NOW + 20 * S)
    stats = h.store.query("r", NOW - 60 * S, NOW)[()]
    assert stats.samples == 2
    assert stats.measure("error_count") == 1
    assert stats.measure("latency_max") == pytest.approx(500.0)
    assert h.metric("vigil_store_late_items_total", {"signal": "spans"}) == 0


def test_data_older_than_the_longest_window_is_not_counted_but_counted_as_late() -> None:
    h = Harness({"r": ALL})
    h.spans([span(NOW - 3600 * S), span(NOW - S)])
    assert h.store.query("r", NOW - 7200 * S, NOW)[()].samples == 1
    assert h.metric("vigil_store_late_items_total", {"signal": "spans"}) == 1


def test_missing_or_far_future_times_use_the_receive_time() -> None:
    h = Harness({"r": ALL})
    h.spans([span(NOW + 3600 * S), span(0, 0)], received_ns=NOW - 10 * S)
    assert h.store.query("r", NOW - 15 * S, NOW - 9 * S)[()].samples == 2


def test_query_covers_whole_buckets_rounding_both_ends_down() -> None:
    h = Harness({"r": ALL})  # a 1 m window: 3 s buckets
    h.spans([span(NOW - 4 * S), span(NOW + S)], received_ns=NOW + 2 * S)
    # [NOW-5s, NOW+2s) covers the buckets [NOW-6s, NOW): the span at NOW+1s is in the filling bucket.
    stats = h.store.query("r", NOW - 5 * S, NOW + 2 * S)[()]
    assert stats.samples == 1
    assert stats.measure("rate") == pytest.approx(1 / 6)
    assert h.store.query("r", NOW - 5 * S, NOW + 3 * S)[()].samples == 2


def test_sealed_buckets_answer_like_fresh_ones() -> None:
    rng = random.Random(9)
    durations = [rng.lognormvariate(2, 1) for _ in range(200)]
    h = Harness({"r": ALL}, timedelta(minutes=10))
    h.spans([span(NOW - 100 * S + i * S // 4, d, error=i % 7 == 0) for i, d in enumerate(durations)])
    fresh = h.store.query("r", NOW - 300 * S, NOW)[()]
    values = {m: fresh.measure(m) for m in ("count", "error_count", "latency_avg", "latency_max", "latency_p99")}
    h.spans([span(NOW + 299 * S)], received_ns=NOW + 300 * S)  # much later: the old buckets are sealed now
    sealed = h.store.query("r", NOW - 300 * S, NOW)[()]
    assert {m: sealed.measure(m) for m in values} == pytest.approx(values)
    assert [e.trace_id for e in sealed.exemplars] != []


def test_series_past_the_per_rule_cap_go_to_one_overflow_series() -> None:
    h = Harness({"r": BY_ROUTE, "other": ALL}, max_series_per_rule=3)
    h.spans([span(attrs={"http.route": f"/r{i}"}) for i in range(5) for _ in range(2)])
    series = {k: v.samples for k, v in h.store.query("r", *MINUTE).items()}
    assert len(series) == 4
    assert series[("__overflow__",)] == 4
    assert sum(series.values()) == 10
    assert h.metric("vigil_store_overflow_points_total", {"rule": "r"}) == 4
    assert h.store.query("other", *MINUTE)[()].samples == 10


def test_the_global_cap_also_sends_new_series_to_overflow() -> None:
    h = Harness({"r": BY_ROUTE}, max_series=4)  # the service overview holds one of them
    h.spans([span(attrs={"http.route": f"/r{i}"}) for i in range(6)])
    series = h.store.query("r", *MINUTE)
    assert sum(s.samples for s in series.values()) == 6
    assert series[("__overflow__",)].samples == 3
    assert h.store.series_count() <= 5  # the caps, plus the one overflow series per table
    assert h.metric("vigil_store_series") == h.store.series_count()


def test_changed_selector_starts_empty_and_unchanged_keeps_its_data() -> None:
    h = Harness({"keep": ALL, "change": BY_ROUTE})
    h.spans([span(attrs={"http.route": "/a"})])
    new = SeriesSelector(Signal.SPANS, by=("http.route",), where=(Matcher("http.route", Op.EQ, "/b"),))
    h.store.set_selectors({"keep": ALL, "change": new}, {"keep": timedelta(minutes=1), "change": timedelta(minutes=1)})
    assert h.store.query("keep", *MINUTE)[()].samples == 1
    assert h.store.query("change", *MINUTE) == {}
    h.spans([span(attrs={"http.route": "/b"})])
    assert set(h.store.query("change", *MINUTE)) == {("/b",)}


def test_removed_rules_free_their_series() -> None:
    h = Harness({"r": BY_ROUTE})
    h.spans([span(attrs={"http.route": f"/r{i}"}) for i in range(5)])
    before = h.store.series_count()
    h.store.set_selectors({}, {})
    assert h.store.series_count() == before - 5


def test_series_are_forgotten_once_their_data_is_older_than_the_window() -> None:
    h = Harness({"r": BY_ROUTE})
    h.spans([span(attrs={"http.route": "/a"})])
    assert h.store.series_count() == 2  # the route and the service overview's "checkout"
    h.spans([span(NOW + 3600 * S - S, attrs={"http.route": "/b"})], received_ns=NOW + 3600 * S)
    assert set(h.store.query("r", NOW, NOW + 3600 * S)) == {("/b",)}
    assert h.store.series_count() == 2


def test_exemplars_are_errors_first_then_the_slowest_at_most_five() -> None:
    h = Harness({"r": ALL})
    slow = [span(NOW - 10 * S, 1000.0 + i) for i in range(4)]
    errors = [span(NOW - 20 * S, 1.0, error=True) for _ in range(3)]
    h.spans([*slow, *errors, *(span(NOW - 5 * S, 5.0) for _ in range(50))])
    ex = h.store.query("r", *MINUTE)[()].exemplars
    assert len(ex) == 5
    assert [e.error for e in ex] == [True, True, True, False, False]
    assert {e.trace_id for e in ex[:3]} == {bytes(s.trace_id) for s in errors}
    assert [e.duration_ms for e in ex[3:]] == pytest.approx([1003.0, 1002.0])
    assert ex[3].span_id == bytes(slow[3].span_id)
    assert ex[3].time_ns == NOW - 10 * S


def test_service_overview_needs_no_rules() -> None:
    h = Harness({})
    h.spans([*(span(NOW - S, 100.0, error=True) for _ in range(2)), *(span(NOW - S, 10.0) for _ in range(98))])
    h.spans([span(NOW - S)], resource={"service.name": "cart"})
    services = {s.service: s for s in h.store.services(NOW + 3 * S)}
    assert set(services) == {"checkout", "cart"}
    checkout = services["checkout"]
    assert checkout.spans == 100
    assert checkout.rate == pytest.approx(100 / 60)
    assert checkout.error_ratio == pytest.approx(0.02)
    assert checkout.p99_ms == pytest.approx(100.0, rel=RELATIVE_ACCURACY)
    assert checkout.last_seen_ns == NOW
    later = {s.service: s for s in h.store.services(NOW + 10 * 60 * S)}
    assert later["checkout"].spans == 0 and later["checkout"].error_ratio is None


class Recorder:
    """A trace index that remembers what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object, int]] = []

    def add_spans(self, request: ExportTraceServiceRequest, received_ns: int, scanned: Scanned | None = None) -> None:
        self.calls.append(("spans", request, received_ns))

    def add_logs(self, request: ExportLogsServiceRequest, received_ns: int, scanned: Scanned | None = None) -> None:
        self.calls.append(("logs", request, received_ns))


def test_every_batch_reaches_the_trace_index() -> None:
    index = Recorder()
    h = Harness({}, traces=index)
    h.spans([span()], received_ns=NOW + 5)
    assert [(kind, received) for kind, _, received in index.calls] == [("spans", NOW + 5)]


def test_spans_encoded_by_the_real_sdk() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "shop", "deployment.environment": "prod"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for i in range(20):
        with tracer.start_as_current_span("GET /cart", kind=SpanKind.SERVER, attributes={"http.route": "/cart"}) as sp:
            if i % 4 == 0:
                sp.set_status(Status(StatusCode.ERROR))
            with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT, attributes={"db.system": "sqlite"}):
                pass
    provider.shutdown()
    request = encode_spans(exporter.get_finished_spans())
    h = Harness({
        "server": SeriesSelector(
            Signal.SPANS, where=(Matcher("span.kind", Op.EQ, "server"),), by=("service.name", "http.route")
        ),
        "db": SeriesSelector(
            Signal.SPANS, where=(Matcher("db.system", Op.EQ, "sqlite"),), by=("deployment.environment",)
        ),
    })
    h.send(Signal.SPANS, request, received_ns=max(s.end_time or 0 for s in exporter.get_finished_spans()) + MS)
    now = h.store.services(NOW)[0].last_seen_ns
    server = h.store.query("server", now - 60 * S, now + 60 * S)[("shop", "/cart")]
    assert server.samples == 20
    assert server.measure("error_ratio") == pytest.approx(0.25)
    assert server.exemplars[0].error
    assert h.store.query("db", now - 60 * S, now + 60 * S)[("prod",)].samples == 20

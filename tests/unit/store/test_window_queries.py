"""Window queries: lazy stats give the numbers a full recount gives, and remembered answers follow late data."""

from __future__ import annotations

import math
import random
from datetime import timedelta

import pytest

from collector.model import SeriesSelector, Signal
from collector.store import WindowStats
from collector.store.sketch import RELATIVE_ACCURACY, Dense
from tests.unit.store.store_otlp import (
    NOW,
    Harness,
    S,
    gauge,
    kvs,
    log,
    logs_request,
    metrics_request,
    span,
    spans_request,
)

pytestmark = pytest.mark.usefixtures("handed_over")

BY_ROUTE = SeriesSelector(Signal.SPANS, by=("http.route",))
ROUTES = ["/a", "/b", "/c"]


def recount(sent: list[tuple[int, float, bool, str]], route: str, start: int, end: int, width: int) -> dict[str, float]:
    """The measures of one route over [start, end), counted from what was sent (whole buckets, like the store)."""
    lo, hi = start // (width * S) * width * S, end // (width * S) * width * S
    inside = [(ms, err) for t, ms, err, r in sent if r == route and lo <= t < hi]
    durations = sorted(ms for ms, _ in inside)
    errors = sum(err for _, err in inside)
    n = len(inside)
    out = {"count": float(n), "rate": n / ((hi - lo) / S), "error_count": float(errors), "error_ratio": errors / n,
           "latency_avg": sum(durations) / n, "latency_max": durations[-1]}
    for name, q in (("latency_p50", 0.5), ("latency_p90", 0.9), ("latency_p99", 0.99)):
        out[name] = durations[math.floor(q * (n - 1))]
    return out


def test_lazy_stats_match_a_recount_over_sealed_open_and_partly_covered_buckets() -> None:
    rng = random.Random(11)
    h = Harness({"r": BY_ROUTE}, timedelta(minutes=5))  # 15 s buckets
    sent: list[tuple[int, float, bool, str]] = []
    for batch in range(40):  # 200 s of traffic, 5 s apart: most buckets get sealed on the way
        received = NOW - 200 * S + batch * 5 * S
        spans = []
        for _ in range(20):
            t, ms, err, route = received - rng.randrange(1, 4000) * S // 1000, rng.lognormvariate(3, 1), \
                rng.random() < 0.1, rng.choice(ROUTES)
            sent.append((t, ms, err, route))
            spans.append(span(t, ms, error=err, attrs={"http.route": route}))
        h.spans(spans, received_ns=received)
    for start, end in ((NOW - 300 * S, NOW), (NOW - 97 * S, NOW - 31 * S), (NOW - 150 * S, NOW + 15 * S)):
        found = h.store.query("r", start, end)
        for route in ROUTES:
            want = recount(sent, route, start, end, 15)
            got = found[(route,)]
            assert got.samples == want["count"]
            for name, value in want.items():
                rel = RELATIVE_ACCURACY if name.startswith("latency_p") else 1e-6
                assert got.measure(name) == pytest.approx(value, rel=rel), (start, end, route, name)


def test_a_remembered_answer_follows_late_data_into_a_sealed_bucket() -> None:
    h = Harness({"r": BY_ROUTE})  # 3 s buckets
    h.spans([span(NOW - 30 * S, 10.0, attrs={"http.route": r}) for r in ROUTES], received_ns=NOW)
    h.spans([span(NOW + 9 * S, attrs={"http.route": "/a"})], received_ns=NOW + 10 * S)  # seals the old buckets
    first = h.store.query("r", NOW - 60 * S, NOW)
    assert {k: v.samples for k, v in first.items()} == {("/a",): 1, ("/b",): 1, ("/c",): 1}
    again = h.store.query("r", NOW - 60 * S, NOW)
    assert again[("/b",)] is first[("/b",)]  # nothing changed: the answer is reused

    h.spans([span(NOW - 30 * S, 900.0, error=True, attrs={"http.route": "/b"})], received_ns=NOW + 11 * S)
    late = h.store.query("r", NOW - 60 * S, NOW)
    assert late[("/b",)].samples == 2
    assert late[("/b",)].measure("error_ratio") == 0.5
    assert late[("/b",)].measure("latency_max") == pytest.approx(900.0)
    assert late[("/b",)].exemplars[0].error
    assert late[("/a",)] is first[("/a",)]  # untouched series keep their stats
    # Once sealed again, the reopened bucket answers the same.
    h.spans([span(NOW + 19 * S, attrs={"http.route": "/c"})], received_ns=NOW + 20 * S)
    resealed = h.store.query("r", NOW - 60 * S, NOW)[("/b",)]
    assert resealed.samples == 2
    assert resealed.measure("latency_max") == pytest.approx(900.0)


def test_a_new_series_late_into_a_remembered_window_appears() -> None:
    h = Harness({"r": BY_ROUTE})
    h.spans([span(NOW - 20 * S, attrs={"http.route": "/a"})])
    assert set(h.store.query("r", NOW - 60 * S, NOW)) == {("/a",)}
    h.spans([span(NOW - 20 * S, attrs={"http.route": "/new"})], received_ns=NOW + S)
    assert set(h.store.query("r", NOW - 60 * S, NOW)) == {("/a",), ("/new",)}


def test_data_after_the_window_leaves_a_remembered_answer_alone() -> None:
    h = Harness({"r": BY_ROUTE})
    h.spans([span(NOW - 20 * S, attrs={"http.route": "/a"})])
    before = h.store.query("r", NOW - 60 * S, NOW)[("/a",)]
    h.spans([span(NOW + S, attrs={"http.route": "/a"})], received_ns=NOW + 2 * S)
    assert h.store.query("r", NOW - 60 * S, NOW)[("/a",)] is before
    assert h.store.query("r", NOW - 57 * S, NOW + 3 * S)[("/a",)].samples == 2


def test_a_window_reaching_past_the_retention_shrinks_as_buckets_expire() -> None:
    h = Harness({"r": BY_ROUTE})  # keeps 1 m + 30 s
    h.spans([span(NOW - 50 * S, attrs={"http.route": "/a"}), span(NOW - 5 * S, attrs={"http.route": "/a"})])
    window = (NOW - 3600 * S, NOW + 3600 * S)
    assert h.store.query("r", *window)[("/a",)].samples == 2
    h.spans([span(NOW + 59 * S, attrs={"http.route": "/b"})], received_ns=NOW + 60 * S)
    assert {k: v.samples for k, v in h.store.query("r", *window).items()} == {("/a",): 1, ("/b",): 1}


def test_exemplars_come_from_the_window_only() -> None:
    h = Harness({"r": BY_ROUTE}, timedelta(minutes=5))
    old = span(NOW - 200 * S, 5000.0, error=True, attrs={"http.route": "/a"})
    recent = span(NOW - 20 * S, 10.0, attrs={"http.route": "/a"})
    h.spans([old, recent])
    assert [e.trace_id for e in h.store.query("r", NOW - 60 * S, NOW)[("/a",)].exemplars] == [bytes(recent.trace_id)]
    both = h.store.query("r", NOW - 300 * S, NOW)[("/a",)].exemplars
    assert [e.trace_id for e in both] == [bytes(old.trace_id), bytes(recent.trace_id)]


def test_log_counts_follow_late_records_into_a_sealed_bucket() -> None:
    h = Harness({"r": SeriesSelector(Signal.LOGS)})
    h.send(Signal.LOGS, logs_request([log(NOW - 30 * S, trace_id=b"\x01" * 16)]))
    h.send(Signal.LOGS, logs_request([log(NOW + 9 * S)]), received_ns=NOW + 10 * S)
    assert h.store.query("r", NOW - 60 * S, NOW)[()].samples == 1
    h.send(Signal.LOGS, logs_request([log(NOW - 30 * S, severity=17, trace_id=b"\x02" * 16)]), received_ns=NOW + 11 * S)
    stats = h.store.query("r", NOW - 60 * S, NOW)[()]
    assert stats.measure("count") == 2
    assert [e.trace_id for e in stats.exemplars] == [b"\x02" * 16, b"\x01" * 16]


def test_stats_built_directly_answer_from_their_values() -> None:
    stats = WindowStats(3, {"count": 3.0}, (), lambda name: 7.0 if name == "latency_p99" else None)
    assert (stats.samples, stats.measure("count"), stats.measure("latency_p99"), stats.exemplars) == (3, 3.0, 7.0, ())
    assert stats.measure("rate") is None
    with pytest.raises(ValueError, match="unknown measure"):
        stats.measure("nope")


def test_dense_counts_widen_past_one_byte_and_round_trip() -> None:
    dense = Dense()
    dense.add({10: 200.0, 12: 1.0})
    dense.add({10: 100.0, 5: 3.0})
    back = Dense.unpack(dense.pack())
    bins: dict[int, float] = {}
    back.add_to(bins)
    assert bins == {5: 3, 10: 300, 12: 1}
    packed: dict[int, float] = {}
    Dense.add_packed(packed, dense.pack())
    assert packed == bins


def test_a_key_repeated_in_one_attribute_list_counts_with_its_first_value() -> None:
    # OTLP forbids repeated keys, but a client may send them: the key after them must still be read.
    by = ("http.route", "http.request.method")
    h = Harness({"spans": SeriesSelector(Signal.SPANS, by=by), "logs": SeriesSelector(Signal.LOGS, by=by),
                 "points": SeriesSelector(Signal.METRICS, metric="m", by=by)})
    repeated = [*kvs({"http.route": "/a"}), *kvs({"http.route": "/b"}), *kvs({"http.request.method": "GET"})]
    sp = span()
    sp.attributes.extend(repeated)
    h.spans([sp], resource={"service.name": "checkout", "http.route": "/r1"})
    record = log()
    record.attributes.extend(repeated)
    h.send(Signal.LOGS, logs_request([record]))
    m = gauge("m", [(NOW - S, 1.0)])
    m.gauge.data_points[0].attributes.extend(repeated)
    h.send(Signal.METRICS, metrics_request([m]))
    for rule in ("spans", "logs", "points"):
        assert set(h.store.query(rule, NOW - 60 * S, NOW)) == {("/a", "GET")}, rule
    res = [*kvs({"service.name": "checkout"}), *kvs({"http.route": "/first"}), *kvs({"http.route": "/second"})]
    req = spans_request([span()], {})
    req.resource_spans[0].resource.attributes.extend(res)
    h.send(Signal.SPANS, req)
    assert ("/first", "") in h.store.query("spans", NOW - 60 * S, NOW)

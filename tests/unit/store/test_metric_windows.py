"""Metric series windows: gauges, counters (resets, temporalities, retries), histograms, summaries, exemplars."""

from __future__ import annotations

import math
import random

import pytest
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource

from collector.model import Matcher, Op, SeriesSelector, Signal
from collector.store.sketch import RELATIVE_ACCURACY
from tests.unit.store.store_otlp import (
    CUMULATIVE,
    DELTA,
    NOW,
    Harness,
    S,
    counter,
    gauge,
    kvs,
    metrics_request,
)

MINUTE = (NOW - 60 * S, NOW)


def metric_rule(name: str, *by: str) -> SeriesSelector:
    return SeriesSelector(Signal.METRICS, metric=name, by=by)


def send(h: Harness, *metrics: Metric, resource: dict[str, str] | None = None, received_ns: int = NOW) -> None:
    h.send(Signal.METRICS, metrics_request(metrics, resource), received_ns)


def test_gauge_measures_and_last_is_the_newest_point_of_the_group() -> None:
    h = Harness({"r": metric_rule("queue.depth", "service.name")})
    send(h, gauge("queue.depth", [(NOW - 30 * S, 4.0), (NOW - 10 * S, 8.0)], {"queue": "a"}),
         gauge("queue.depth", [(NOW - 20 * S, 1.0), (NOW - 5 * S, 3.0)], {"queue": "b"}),
         gauge("other", [(NOW - 5 * S, 100.0)]))
    stats = h.store.query("r", *MINUTE)[("checkout",)]
    assert stats.samples == 4
    assert stats.measure("last") == 3.0
    assert stats.measure("avg") == pytest.approx(4.0)
    assert stats.measure("min") == 1.0
    assert stats.measure("max") == 8.0
    assert stats.measure("sum") == 16.0
    assert stats.measure("p99") is None


def test_where_and_by_see_point_and_resource_attributes() -> None:
    h = Harness({"r": SeriesSelector(Signal.METRICS, metric="m", where=(Matcher("region", Op.EQ, "eu"),),
                                     by=("queue", "host"))})
    send(h, gauge("m", [(NOW - S, 1.0)], {"queue": "a", "region": "eu"}),
         gauge("m", [(NOW - S, 2.0)], {"queue": "b", "region": "us"}),
         gauge("m", [(NOW - S, 3.0)], {"queue": "c", "host": "h2"}),
         resource={"service.name": "checkout", "host": "h1", "region": "eu"})
    assert {k: v.measure("last") for k, v in h.store.query("r", *MINUTE).items()} == {
        ("a", "h1"): 1.0, ("c", "h2"): 3.0,
    }


def test_cumulative_counter_increase_survives_a_reset() -> None:
    h = Harness({"r": metric_rule("requests")})
    values = [10.0, 20.0, 30.0, 5.0, 15.0]  # the process restarted after 30
    send(h, counter("requests", [(NOW - (50 - 10 * i) * S, v) for i, v in enumerate(values)]))
    stats = h.store.query("r", *MINUTE)[()]
    assert stats.measure("increase") == 35.0  # the first point is the baseline: 10 + 10 + 5 + 10
    assert stats.measure("rate") == pytest.approx(35 / 60)
    assert stats.measure("last") == 15.0


def test_a_new_start_time_is_a_reset_even_when_the_value_grows() -> None:
    h = Harness({"r": metric_rule("requests")})
    send(h, counter("requests", [(NOW - 40 * S, 100.0), (NOW - 30 * S, 110.0)], start_ns=NOW - 3600 * S))
    send(h, counter("requests", [(NOW - 20 * S, 120.0)], start_ns=NOW - 25 * S))
    assert h.store.query("r", *MINUTE)[()].measure("increase") == 130.0


def test_a_stream_that_began_inside_the_window_counts_its_first_value() -> None:
    h = Harness({"r": metric_rule("requests")})
    send(h, counter("requests", [(NOW - 20 * S, 7.0), (NOW - 10 * S, 9.0)], start_ns=NOW - 30 * S))
    assert h.store.query("r", *MINUTE)[()].measure("increase") == 9.0


def test_delta_and_cumulative_streams_add_up_in_one_group() -> None:
    h = Harness({"r": metric_rule("requests", "service.name")})
    send(h, counter("requests", [(NOW - 30 * S, 5.0), (NOW - 20 * S, 5.0), (NOW - 10 * S, 5.0)], delta=True,
                    attrs={"pod": "a"}),
         counter("requests", [(NOW - 30 * S, 100.0), (NOW - 20 * S, 110.0), (NOW - 10 * S, 125.0)], attrs={"pod": "b"}))
    stats = h.store.query("r", *MINUTE)[("checkout",)]
    assert stats.measure("increase") == 15.0 + 25.0
    assert stats.measure("last") == 15.0 + 125.0  # each stream's newest value: running total, reported value


def test_retried_batches_do_not_count_twice() -> None:
    h = Harness({"r": metric_rule("requests")})
    batch = [counter("requests", [(NOW - 30 * S, 10.0), (NOW - 20 * S, 25.0)]),
             counter("requests", [(NOW - 30 * S, 4.0), (NOW - 20 * S, 6.0)], delta=True, attrs={"kind": "delta"}),
             gauge("requests", [(NOW - 25 * S, 1.0)], {"kind": "gauge"})]
    send(h, *batch)
    first = h.store.query("r", *MINUTE)[()]
    send(h, *batch)
    again = h.store.query("r", *MINUTE)[()]
    assert again.measure("increase") == first.measure("increase") == 15.0 + 10.0
    assert again.samples == first.samples
    # The resent cumulative point older than the newest one counts as out of order: it cannot be told apart.
    dropped = [h.metric("vigil_store_dropped_points_total", {"reason": r}) for r in ("duplicate", "out_of_order")]
    assert dropped == [4, 1]


def test_out_of_order_cumulative_points_do_not_count_but_older_delta_points_do() -> None:
    h = Harness({"r": metric_rule("c", "kind")})
    send(h, counter("c", [(NOW - 30 * S, 10.0), (NOW - 10 * S, 30.0)], attrs={"kind": "cumulative"}),
         counter("c", [(NOW - 10 * S, 3.0)], delta=True, attrs={"kind": "delta"}))
    send(h, counter("c", [(NOW - 20 * S, 20.0)], attrs={"kind": "cumulative"}),
         counter("c", [(NOW - 20 * S, 2.0)], delta=True, attrs={"kind": "delta"}))
    stats = h.store.query("r", *MINUTE)
    assert stats[("cumulative",)].measure("increase") == 20.0
    assert stats[("delta",)].measure("increase") == 5.0
    assert h.metric("vigil_store_dropped_points_total", {"reason": "out_of_order"}) == 1


def histogram(points: list[tuple[int, list[int], float]], bounds: list[float], delta: bool = False) -> Metric:
    m = Metric(name="latency")
    m.histogram.aggregation_temporality = DELTA if delta else CUMULATIVE
    for t, counts, total in points:
        p = m.histogram.data_points.add(time_unix_nano=t, start_time_unix_nano=NOW - 3600 * S)
        p.explicit_bounds.extend(bounds)
        p.bucket_counts.extend(counts)
        p.count, p.sum = sum(counts), total
    return m


def test_cumulative_histogram_percentiles_come_from_the_window_deltas() -> None:
    h = Harness({"r": metric_rule("latency")})
    bounds = [10.0, 100.0, 1000.0]
    send(h, histogram([(NOW - 50 * S, [1000, 0, 0, 0], 5000.0),    # old history, all fast: the baseline
                       (NOW - 10 * S, [1000, 50, 50, 0], 35000.0)], bounds))
    stats = h.store.query("r", *MINUTE)[()]
    assert stats.measure("increase") == 100
    assert stats.measure("avg") == pytest.approx(300.0)
    p50 = stats.measure("p50")
    assert p50 is not None and 90 <= p50 <= 110 * (1 + RELATIVE_ACCURACY)  # the edge of (10, 100] and (100, 1000]
    p99 = stats.measure("p99")
    assert p99 is not None and 900 <= p99 <= 1000 * (1 + RELATIVE_ACCURACY)


def test_delta_histograms_merge_across_points_and_streams() -> None:
    h = Harness({"r": metric_rule("latency")})
    send(h, histogram([(NOW - 30 * S, [0, 100, 0], 500.0), (NOW - 20 * S, [0, 0, 100], 5000.0)], [1.0, 10.0],
                      delta=True))
    stats = h.store.query("r", *MINUTE)[()]
    assert stats.measure("increase") == 200
    assert stats.measure("sum") == 5500.0
    # No max on the points: the open bucket (10, +inf) reads as its lower bound.
    assert stats.measure("p90") == pytest.approx(10.0, rel=RELATIVE_ACCURACY)
    p50 = stats.measure("p50")
    assert p50 is not None and 1.0 <= p50 <= 10.0 * (1 + RELATIVE_ACCURACY)


def test_exponential_histogram_percentiles() -> None:
    rng = random.Random(1)
    values = [rng.lognormvariate(3, 1) for _ in range(5000)]
    scale = 3
    base = 2 ** (2**-scale)
    counts: dict[int, int] = {}
    for v in values:
        i = math.ceil(math.log(v, base)) - 1
        counts[i] = counts.get(i, 0) + 1
    lo = min(counts)
    m = Metric(name="latency")
    m.exponential_histogram.aggregation_temporality = DELTA
    p = m.exponential_histogram.data_points.add(time_unix_nano=NOW - 5 * S, scale=scale, count=len(values),
                                                sum=sum(values), zero_count=0)
    p.positive.offset = lo
    p.positive.bucket_counts.extend(counts.get(i, 0) for i in range(lo, max(counts) + 1))
    h = Harness({"r": metric_rule("latency")})
    send(h, m)
    stats = h.store.query("r", *MINUTE)[()]
    ordered = sorted(values)
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        want = ordered[math.floor(q * (len(values) - 1))]
        assert stats.measure(name) == pytest.approx(want, rel=base - 1 + RELATIVE_ACCURACY)
    assert stats.measure("avg") == pytest.approx(sum(values) / len(values))


def test_summary_reports_its_newest_quantiles_and_window_average() -> None:
    m = Metric(name="rpc")
    for t, count, total, p99 in ((NOW - 40 * S, 100, 1000.0, 50.0), (NOW - 10 * S, 150, 2000.0, 80.0)):
        p = m.summary.data_points.add(time_unix_nano=t, start_time_unix_nano=NOW - 3600 * S, count=count, sum=total)
        p.quantile_values.add(quantile=0.5, value=p99 / 5)
        p.quantile_values.add(quantile=0.99, value=p99)
    h = Harness({"r": metric_rule("rpc")})
    send(h, m)
    stats = h.store.query("r", *MINUTE)[()]
    assert stats.measure("p99") == 80.0
    assert stats.measure("p50") == 16.0
    assert stats.measure("p90") is None
    assert stats.measure("avg") == pytest.approx(1000.0 / 50)
    assert stats.measure("increase") == 50


def test_metric_exemplars_carry_trace_ids() -> None:
    m = gauge("m", [(NOW - 5 * S, 1.0)])
    ex = m.gauge.data_points[0].exemplars.add(time_unix_nano=NOW - 5 * S, as_double=1.0)
    ex.trace_id, ex.span_id = b"\x07" * 16, b"\x08" * 8
    ex.filtered_attributes.extend(kvs({"user": "x"}))
    h = Harness({"r": metric_rule("m")})
    send(h, m)
    (exemplar,) = h.store.query("r", *MINUTE)[()].exemplars
    assert (exemplar.trace_id, exemplar.span_id, exemplar.error) == (b"\x07" * 16, b"\x08" * 8, False)


def test_metrics_encoded_by_the_real_sdk() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=Resource.create({"service.name": "shop"}), metric_readers=[reader])
    meter = provider.get_meter("test")
    requests = meter.create_counter("http.requests")
    latency = meter.create_histogram("http.latency", unit="ms")
    for i in range(100):
        requests.add(1, {"http.route": "/cart"})
        latency.record(float(i + 1), {"http.route": "/cart"})
    first = reader.get_metrics_data()
    for _ in range(40):
        requests.add(1, {"http.route": "/cart"})
        latency.record(500.0, {"http.route": "/cart"})
    second = reader.get_metrics_data()
    provider.shutdown()
    assert first is not None and second is not None
    h = Harness({"requests": metric_rule("http.requests", "http.route"), "latency": metric_rule("http.latency")})
    now = second.resource_metrics[0].scope_metrics[0].metrics[0].data.data_points[0].time_unix_nano + S
    h.send(Signal.METRICS, encode_metrics(first), now)
    h.send(Signal.METRICS, encode_metrics(second), now)
    window = (now - 60 * S, now + 60 * S)
    # The stream started moments ago, so even its first cumulative value is new.
    assert h.store.query("requests", *window)[("/cart",)].measure("increase") == 140
    stats = h.store.query("latency", *window)[()]
    assert stats.measure("increase") == 140
    p99 = stats.measure("p99")
    assert p99 is not None and 250 <= p99 <= 500 * (1 + RELATIVE_ACCURACY)

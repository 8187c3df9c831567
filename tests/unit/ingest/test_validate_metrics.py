"""Metric data points of every kind are counted; points without a time, inconsistent histograms and
nameless metrics are rejected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric, ResourceMetrics, ScopeMetrics

from collector.ingest.decode import WireFormat, decode_request, validate
from collector.model import Signal

DATA = Path(__file__).parents[2] / "data" / "otlp"
T0 = 1_760_000_000_000_000_000
KINDS = ("gauge", "sum", "histogram", "exponentialHistogram", "summary")


def request_of(*metrics: Metric) -> ExportMetricsServiceRequest:
    scope = ScopeMetrics(metrics=metrics)
    return ExportMetricsServiceRequest(resource_metrics=[ResourceMetrics(scope_metrics=[scope])])


def metric(name: str, kind: str, points: list[dict[str, Any]]) -> Metric:
    fields: dict[str, Any] = {kind: {"data_points": points}}
    return Metric(name=name, **fields)


def point_counts(request: ExportMetricsServiceRequest) -> dict[str, int]:
    counts: dict[str, int] = {}
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                counts[m.name] = len(getattr(m, kind).data_points)
    return counts


def test_the_json_document_counts_every_kind_and_names_each_rejected_point() -> None:
    raw = (DATA / "metrics.json").read_bytes()
    sent = json.loads(raw)["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
    decoded = validate(Signal.METRICS, decode_request(Signal.METRICS, raw, WireFormat.JSON))

    expected_kept: dict[str, int] = {}
    rejected = 0
    for m, given in enumerate(sent):
        kind = next(k for k in KINDS if k in given)
        points = given[kind]["dataPoints"]
        if "expectRejected" in given:  # the whole metric goes
            rejected += len(points)
            assert f"metrics[{m}]: {given['expectRejected']}" in decoded.message
            continue
        expected_kept[given["name"]] = sum("expectRejected" not in p for p in points)
        for i, p in enumerate(points):
            if "expectRejected" in p:
                rejected += 1
                path = f"resourceMetrics[0].scopeMetrics[0].metrics[{m}].{kind}.dataPoints[{i}] ({given['name']})"
                assert f"{path}: {p['expectRejected']}" in decoded.message
    assert {k for k in KINDS if any(k in g for g in sent)} == set(KINDS)
    assert (decoded.accepted, decoded.rejected) == (sum(expected_kept.values()), rejected)
    assert point_counts(decoded.request) == expected_kept


def test_json_numbers_of_every_kind_are_exact() -> None:
    raw = (DATA / "metrics.json").read_bytes()
    sent = json.loads(raw)["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
    request = decode_request(Signal.METRICS, raw, WireFormat.JSON)
    metrics = {m.name: m for m in request.resource_metrics[0].scope_metrics[0].metrics}
    by_name = {m["name"]: m for m in sent}
    gauge = metrics["queue.depth"].gauge.data_points[0]
    assert gauge.as_int == int(by_name["queue.depth"]["gauge"]["dataPoints"][0]["asInt"])
    exemplar = metrics["queue.depth"].gauge.data_points[1].exemplars[0]
    given_exemplar = by_name["queue.depth"]["gauge"]["dataPoints"][1]["exemplars"][0]
    assert exemplar.trace_id == bytes.fromhex(given_exemplar["traceId"])
    assert exemplar.span_id == bytes.fromhex(given_exemplar["spanId"])
    histogram = metrics["http.server.duration"].histogram
    given_histogram = by_name["http.server.duration"]["histogram"]
    assert histogram.aggregation_temporality == given_histogram["aggregationTemporality"]
    given_counts = given_histogram["dataPoints"][0]["bucketCounts"]
    assert list(histogram.data_points[0].bucket_counts) == [int(c) for c in given_counts]
    assert list(histogram.data_points[0].explicit_bounds) == given_histogram["dataPoints"][0]["explicitBounds"]
    exponential = metrics["http.server.duration.exponential"].exponential_histogram.data_points[0]
    given_exponential = by_name["http.server.duration.exponential"]["exponentialHistogram"]["dataPoints"][0]
    assert exponential.scale == given_exponential["scale"]
    assert exponential.positive.offset == given_exponential["positive"]["offset"]
    assert list(exponential.positive.bucket_counts) == [int(c) for c in given_exponential["positive"]["bucketCounts"]]
    summary = metrics["rpc.latency.summary"].summary.data_points[0]
    assert [q.quantile for q in summary.quantile_values] == [0.5, 0.99]
    assert summary.quantile_values[1].value == float("inf")
    assert metrics["http.server.requests"].sum.is_monotonic is True


def test_points_of_every_kind_are_counted() -> None:
    point = {"time_unix_nano": T0}
    decoded = validate(Signal.METRICS, request_of(
        metric("g", "gauge", [point, point]),
        metric("s", "sum", [point]),
        metric("h", "histogram", [point, point, point]),
        metric("e", "exponential_histogram", [point]),
        metric("q", "summary", [point, point]),
    ))
    assert (decoded.accepted, decoded.rejected, decoded.message) == (9, 0, "")


def test_a_point_without_a_time_is_rejected_whatever_its_kind() -> None:
    for kind in ("gauge", "sum", "histogram", "exponential_histogram", "summary"):
        decoded = validate(Signal.METRICS, request_of(metric("m", kind, [{"time_unix_nano": T0}, {}])))
        assert (decoded.accepted, decoded.rejected) == (1, 1), kind
        assert decoded.message.endswith("dataPoints[1] (m): timeUnixNano is 0")
        assert point_counts(decoded.request) == {"m": 1}


def test_histogram_buckets_must_be_one_more_than_the_bounds() -> None:
    decoded = validate(Signal.METRICS, request_of(metric("latency", "histogram", [
        {"time_unix_nano": T0, "bucket_counts": [1, 2, 3], "explicit_bounds": [1.0, 2.0]},
        {"time_unix_nano": T0},  # no buckets at all is fine
        {"time_unix_nano": T0, "bucket_counts": [1, 2], "explicit_bounds": [1.0, 2.0]},
    ])))
    assert (decoded.accepted, decoded.rejected) == (2, 1)
    assert decoded.message == (
        "1 data point rejected: resourceMetrics[0].scopeMetrics[0].metrics[0].histogram.dataPoints[2] (latency): "
        "bucketCounts has 2 entries, must be one more than the 2 explicitBounds"
    )


def test_a_metric_without_a_name_is_rejected_with_all_its_points() -> None:
    decoded = validate(Signal.METRICS, request_of(
        metric("kept", "gauge", [{"time_unix_nano": T0}]),
        metric("", "sum", [{"time_unix_nano": T0}] * 3),
    ))
    assert (decoded.accepted, decoded.rejected) == (1, 3)
    assert "metrics[1]: metric has no name (its 3 data points are rejected)" in decoded.message
    assert point_counts(decoded.request) == {"kept": 1}


def test_a_metric_without_data_counts_nothing() -> None:
    decoded = validate(Signal.METRICS, request_of(Metric(name="declared only")))
    assert (decoded.accepted, decoded.rejected) == (0, 0)

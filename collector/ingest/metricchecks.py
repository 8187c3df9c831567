"""Validation of metric data points: time set, histogram buckets consistent, metric named."""

from __future__ import annotations

from typing import Any

from collector.ingest.ids import SPAN_ID_BYTES, TRACE_ID_BYTES, id_problem, is_marker
from collector.ingest.rejections import Rejections, remove

# Metric.data oneof member → its OTLP/JSON name, for paths in messages.
_KINDS = {
    "gauge": "gauge",
    "sum": "sum",
    "histogram": "histogram",
    "exponential_histogram": "exponentialHistogram",
    "summary": "summary",
}


def check_metrics(request: Any, rejections: Rejections) -> int:
    """Remove invalid data points (and nameless metrics) from `request`; return the data points kept.

    Exemplars are not read here: that costs as much as the rest of the checks together.
    An OTLP/JSON exemplar ID that is not hex makes the JSON mapping zero its data point's
    time instead, so the point fails the time check and `_point_problem` names the ID.
    """
    accepted = 0
    for r, resource_metrics in enumerate(request.resource_metrics):
        for s, scope_metrics in enumerate(resource_metrics.scope_metrics):
            metrics = scope_metrics.metrics
            nameless: list[int] = []
            for m, metric in enumerate(metrics):
                kind = metric.WhichOneof("data")
                if kind is None:
                    continue
                points = getattr(metric, kind).data_points
                if metric.name:
                    accepted += _check_points(points, kind, (r, s, m), metric.name, rejections)
                    continue
                nameless.append(m)
                if points:
                    rejections.add(
                        f"resourceMetrics[{r}].scopeMetrics[{s}].metrics[{m}]",
                        f"metric has no name (its {len(points)} data points are rejected)",
                        len(points),
                    )
            if nameless:
                remove(metrics, nameless)
    return accepted


def _check_points(points: Any, kind: str, where: tuple[int, int, int], name: str, rejections: Rejections) -> int:
    buckets = kind == "histogram"
    bad: list[int] = []
    i = 0
    for point in points:
        if not point.time_unix_nano or (
            buckets and point.bucket_counts and len(point.bucket_counts) != len(point.explicit_bounds) + 1
        ):
            bad.append(i)
            r, s, m = where
            rejections.add(
                f"resourceMetrics[{r}].scopeMetrics[{s}].metrics[{m}].{_KINDS[kind]}.dataPoints[{i}] ({name})",
                _point_problem(point, kind),
            )
        i += 1
    if bad:
        remove(points, bad)
    return i - len(bad)


def _point_problem(point: Any, kind: str) -> str:
    if kind != "summary":
        for j, exemplar in enumerate(point.exemplars):
            for field, value, size in (
                ("traceId", exemplar.trace_id, TRACE_ID_BYTES),
                ("spanId", exemplar.span_id, SPAN_ID_BYTES),
            ):
                if is_marker(value):
                    return f"exemplars[{j}].{id_problem(field, value, size, optional=True)}"
    if not point.time_unix_nano:
        return "timeUnixNano is 0"
    return (
        f"bucketCounts has {len(point.bucket_counts)} entries, must be one more than the "
        f"{len(point.explicit_bounds)} explicitBounds"
    )

"""The hot store: takes accepted batches, keeps the series windows rules measure, feeds the trace index.

Rules with the same selector and the same bucket width share one table, so a
rule whose selector changes starts from what the store holds for its new
selector (empty, unless another rule already measures exactly that selector),
and a rule whose selector is unchanged keeps its data. Each table keeps its
longest rule window plus `RETENTION_SLACK` (room for the evaluation delay).
Records older than the longest retention of their signal are not counted
anywhere, and `vigil_store_late_items_total` says how many.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client import CollectorRegistry, Counter, Gauge

from collector.model import Batch, Scanned, SeriesSelector, Signal
from collector.store.logs import LogKind, fold_logs, read_logs
from collector.store.metrics import MetricKind
from collector.store.plan import SERVICE, Layout, Plan, Route
from collector.store.series import SeriesBudget, Table
from collector.store.spans import fold_spans, read_spans
from collector.store.spanwindow import SpanKind
from collector.store.streams import MetricReader, fold_metrics
from collector.store.windows import ServiceStats, WindowStats, bucket_width, covered, ratio

RETENTION_SLACK = timedelta(seconds=30)
# The always-on service overview: by service.name, 3 s buckets, 15 minutes kept.
SERVICES_RETENTION = timedelta(minutes=15)
_SERVICES_SELECTOR = SeriesSelector(Signal.SPANS, by=(SERVICE,))
_SERVICES_RULE = "(services)"
_NS = 1_000_000_000


class TraceSink(Protocol):
    """The trace index, as the store feeds it."""

    def add_spans(
        self, request: ExportTraceServiceRequest, received_ns: int, scanned: Scanned | None = None
    ) -> None: ...

    def add_logs(self, request: ExportLogsServiceRequest, received_ns: int, scanned: Scanned | None = None) -> None: ...


class Store:
    """Series windows for every rule, a service overview, and the hand-off to the trace index."""

    def __init__(
        self,
        *,
        traces: TraceSink | None,
        max_series_per_rule: int,
        max_series: int,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._traces = traces
        self._max_per_rule = max_series_per_rule
        registry = registry if registry is not None else CollectorRegistry()
        self._series_gauge = Gauge("vigil_store_series", "Series held in the hot windows.", registry=registry)
        self._overflow = Counter(
            "vigil_store_overflow_points", "Points sent to a rule's overflow series by the series caps.",
            ["rule"], registry=registry,
        )
        self._late = Counter(
            "vigil_store_late_items", "Items older than the longest window, not counted.", ["signal"],
            registry=registry,
        )
        self._dropped = Counter(
            "vigil_store_dropped_points", "Metric points dropped as retried duplicates or out of order.",
            ["reason"], registry=registry,
        )
        self._budget = SeriesBudget(max_series, on_change=self._series_gauge.set)
        self._span_kind, self._log_kind, self._metric_kind = SpanKind(), LogKind(), MetricKind()
        self._services: Table[Any] = Table(
            _SERVICES_SELECTOR, bucket_width(timedelta(minutes=1)), SERVICES_RETENTION.total_seconds(),
            self._span_kind, self._budget, max_series_per_rule,
        )
        self._services.rules.add(_SERVICES_RULE)
        self._tables: dict[tuple[SeriesSelector, int], Table[Any]] = {}
        self._rules: dict[str, Table[Any]] = {}
        self._reader = MetricReader()
        self._reported = (0, 0)
        self._forget_at = 0
        self.set_selectors({}, {})

    # --- configuration ---------------------------------------------------------------------

    def set_selectors(self, selectors: Mapping[str, SeriesSelector], windows: Mapping[str, timedelta]) -> None:
        """Install the rules' selectors and windows (at start and on every reload)."""
        tables: dict[tuple[SeriesSelector, int], Table[Any]] = {}
        retention: dict[tuple[SeriesSelector, int], float] = {}
        rules: dict[str, Table[Any]] = {}
        for rule, selector in selectors.items():
            window = windows[rule]
            key = (selector, bucket_width(window))
            seconds = (window + RETENTION_SLACK).total_seconds()
            retention[key] = max(retention.get(key, 0.0), seconds)
            table = tables.get(key) or self._tables.get(key)
            if table is None:
                kind: Any = {Signal.SPANS: self._span_kind, Signal.LOGS: self._log_kind}.get(
                    selector.signal, self._metric_kind
                )
                table = Table(selector, key[1], seconds, kind, self._budget, self._max_per_rule)
            tables[key] = table
            rules[rule] = table
        for key, table in self._tables.items():
            if key not in tables:
                table.drop()
        for key, table in tables.items():
            table.set_retention(retention[key])
            table.rules = {rule for rule, t in rules.items() if t is table}
        self._tables, self._rules = tables, rules
        self._build_plans()

    def _build_plans(self) -> None:
        by_signal: dict[Signal, list[Table[Any]]] = {s: [] for s in Signal}
        by_signal[Signal.SPANS].append(self._services)
        for table in self._tables.values():
            by_signal[table.selector.signal].append(table)
        self._signal_tables = by_signal
        self._span_plan = self._plan(Signal.SPANS, by_signal[Signal.SPANS])
        self._log_plan = self._plan(Signal.LOGS, by_signal[Signal.LOGS])
        metric_tables = by_signal[Signal.METRICS]
        layout = Layout.of(Signal.METRICS, (t.selector.keys() for t in metric_tables))
        names = {t.selector.metric for t in metric_tables}
        wildcard = [t for t in metric_tables if t.selector.metric is None]

        def routes(tables: list[Table[Any]]) -> list[Route]:
            return [Route(layout, t, t.selector.where, t.selector.by) for t in tables]

        self._metric_plans = {
            name: Plan(layout, routes([t for t in metric_tables if t.selector.metric in (name, None)]))
            for name in names if name is not None
        }
        self._metric_fallback = Plan(layout, routes(wildcard)) if wildcard else None
        self._retention_ns = {
            signal: max((t.keep * t.width_ns for t in tables), default=0) for signal, tables in by_signal.items()
        }
        self._step_ns = {
            signal: math.gcd(*(t.width_s for t in tables)) * _NS if tables else _NS
            for signal, tables in by_signal.items()
        }
        for signal, tables in by_signal.items():
            for table in tables:
                table.steps = table.width_ns // self._step_ns[signal]

    @staticmethod
    def _plan(signal: Signal, tables: list[Table[Any]]) -> Plan:
        body = [m for t in tables for m in t.selector.where if m.key == "body"]
        layout = Layout.of(signal, (t.selector.keys() for t in tables), body)
        return Plan(layout, [Route(layout, t, t.selector.where, t.selector.by) for t in tables])

    # --- ingest ----------------------------------------------------------------------------

    def consume(self, batch: Batch) -> None:
        """Take one accepted batch into the windows, then hand it to the trace index."""
        signal, received = batch.signal, batch.received_ns
        tables = self._signal_tables[signal]
        for table in tables:
            table.advance(received)
        oldest, step = received - self._retention_ns[signal], self._step_ns[signal]
        request: Any = batch.request
        if signal is Signal.SPANS:
            span_groups, late = read_spans(request, self._span_plan, received, oldest, step, batch.scanned)
            fold_spans(span_groups, self._span_plan, step, received)
            if self._traces is not None:
                self._traces.add_spans(request, received, batch.scanned)
        elif signal is Signal.LOGS:
            log_groups, late = read_logs(request, self._log_plan, received, oldest, step, batch.scanned)
            fold_logs(log_groups, self._log_plan, step, received)
            if self._traces is not None:
                self._traces.add_logs(request, received, batch.scanned)
        elif self._metric_plans or self._metric_fallback is not None:
            groups, late = self._reader.read(
                request, self._metric_plans, self._metric_fallback, received, oldest, step
            )
            fold_metrics(groups, self._metric_plans, self._metric_fallback, step)
            self._count_dropped()
            if received >= self._forget_at:
                self._reader.forget(received - self._retention_ns[signal])
                self._forget_at = received + 60 * _NS
        else:
            late = 0
        if late:
            self._late.labels(signal.value).inc(late)
        for table in tables:
            if table.overflow_points:
                for rule in table.rules:
                    self._overflow.labels(rule).inc(table.overflow_points)
                table.overflow_points = 0

    def _count_dropped(self) -> None:
        dup, ooo = self._reader.duplicates, self._reader.out_of_order
        if (dup, ooo) != self._reported:
            self._dropped.labels("duplicate").inc(dup - self._reported[0])
            self._dropped.labels("out_of_order").inc(ooo - self._reported[1])
            self._reported = (dup, ooo)

    # --- queries ---------------------------------------------------------------------------

    def query(self, rule: str, start_ns: int, end_ns: int) -> dict[tuple[str, ...], WindowStats]:
        """Every series of `rule` over ``[start_ns, end_ns)`` (rounded down to bucket boundaries)."""
        table = self._rules.get(rule)
        if table is None:
            return {}
        first, stop = covered(start_ns, end_ns, table.width_s)
        return table.query(first, stop, float((stop - first) * table.width_s))

    def services(self, now_ns: int, window: timedelta = timedelta(minutes=1)) -> list[ServiceStats]:
        """Every service seen in the last 15 minutes: span rate (/s), error ratio and p99 (ms) over `window`."""
        table = self._services
        first, stop = covered(now_ns - int(window.total_seconds() * _NS), now_ns, table.width_s)
        found = table.query(first, stop, float((stop - first) * table.width_s))
        out = []
        for (name,), series in sorted(table.series.items()):
            stats = found.get((name,))
            out.append(ServiceStats(
                service=name,
                spans=stats.samples if stats is not None else 0,
                rate=(stats.measure("rate") or 0.0) if stats is not None else 0.0,
                error_ratio=ratio(stats.measure("error_count") or 0.0, stats.samples) if stats is not None else None,
                p99_ms=stats.measure("latency_p99") if stats is not None else None,
                last_seen_ns=series.last_ns,
            ))
        return out

    def series_count(self) -> int:
        """Series held now, over every rule (and the service overview)."""
        return self._budget.count

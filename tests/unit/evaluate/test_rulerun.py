"""A rule evaluated against the real store with explicit timestamps: gaps, late data, flapping, absence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from collector.evaluate.rulerun import RuleRun
from collector.evaluate.state import Change
from collector.model import Batch, ResolveReason, Signal
from collector.rules.loader import load_rules
from collector.rules.schema import Rule
from collector.store.hub import Store

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
SEC = 1_000_000_000


def ns(t: datetime) -> int:
    return int(t.timestamp() * SEC)


def rule(tmp_path: Path, text: str) -> Rule:
    (tmp_path / "r.yaml").write_text("group: g\nrules:\n" + text)
    return load_rules([tmp_path / "r.yaml"], timedelta(seconds=1)).rules()[0]


def spans(service: str, at: datetime, ok: int, errors: int) -> ExportTraceServiceRequest:
    out = []
    for i in range(ok + errors):
        end = ns(at) + i
        out.append(
            Span(
                trace_id=(ns(at) + i + 1).to_bytes(16, "big"),
                span_id=(i + 1).to_bytes(8, "big"),
                name="GET /",
                kind=Span.SPAN_KIND_SERVER,
                start_time_unix_nano=end - 20_000_000,
                end_time_unix_nano=end,
                status=Status(code=Status.STATUS_CODE_ERROR if i < errors else Status.STATUS_CODE_UNSET),
            )
        )
    res = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service))])
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(resource=res, scope_spans=[ScopeSpans(spans=out)])])


class Harness:
    """A store and a rule, stepped second by second; `delay` as evaluation.delay."""

    def __init__(self, r: Rule, delay: timedelta = timedelta(seconds=2)) -> None:
        self.store = Store(traces=None, max_series_per_rule=100, max_series=1000)
        self.store.set_selectors({r.name: r.selector}, {r.name: r.window})
        self.run = RuleRun(r, "g")
        self.rule = r
        self.delay = delay
        self.log: list[tuple[int, str, str | None]] = []

    def send(
        self, at: datetime, ok: int, errors: int, received: datetime | None = None, service: str = "checkout"
    ) -> None:
        req = spans(service, at, ok, errors)
        self.store.consume(Batch(Signal.SPANS, req, ok + errors, ns(received or at)))

    def evaluate(self, now: datetime) -> None:
        end = now - self.delay
        results = self.store.query(self.rule.name, ns(end - self.rule.window), ns(end))
        out = self.run.evaluate(results, now)
        second = int((now - T0).total_seconds())
        self.log += [(second, t.change.value, t.reason.value if t.reason else None) for t in out.transitions]


ERRORS = """  - name: Errors
    tier: P0
    select: {signal: spans, where: {service.name: checkout}}
    measure: error_ratio
    window: 5s
    condition: {threshold: "> 0.1"}
"""


def test_a_gap_while_firing_resolves_with_no_data_or_is_kept(tmp_path: Path) -> None:
    for policy in ("ok", "keep"):
        h = Harness(rule(tmp_path, ERRORS + f"    no_data: {policy}\n"))
        for s in range(40):
            now = T0 + timedelta(seconds=s)
            if s < 5 or s >= 35:
                h.send(now, ok=5, errors=5)  # 30 s without any data in between
            h.evaluate(now)
        assert h.log[:2] == [(3, "pending", None), (3, "firing", None)], policy
        if policy == "ok":
            # Resolved once the window (5 s, judged 2 s late) holds nothing; a new incident when data is back.
            assert h.log[2] == (12, "resolved", "no_data")
            assert [c for _, c, _ in h.log[3:]] == ["pending", "firing"]
            assert h.log[3][0] >= 35
        else:
            assert h.log[2:] == [], "the incident carried on through the gap"
            assert len(h.run.instances) == 1


def test_late_data_within_the_delay_is_counted(tmp_path: Path) -> None:
    h = Harness(rule(tmp_path, ERRORS), delay=timedelta(seconds=3))
    for s in range(12):
        now = T0 + timedelta(seconds=s)
        h.send(now, ok=10, errors=0)
        if s == 6:
            # Errors that happened at second 4 arrive two seconds late, still inside the delay.
            h.send(T0 + timedelta(seconds=4), ok=0, errors=10, received=now)
        h.evaluate(now)
    assert "firing" in [c for _, c, _ in h.log], h.log
    fired_at = next(s for s, c, _ in h.log if c == "firing")
    assert fired_at >= 7, "a window must not be judged before its late data can arrive"


def test_flapping_at_the_threshold_pages_once_with_recover(tmp_path: Path) -> None:
    h = Harness(rule(tmp_path, ERRORS + '    recover: "< 0.05"\n'), delay=timedelta(0))
    for s in range(60):
        now = T0 + timedelta(seconds=s)
        errors = 2 if s % 2 else 0  # the 5 s ratio hovers around 0.1: 0.09 .. 0.11
        h.send(now, ok=9, errors=errors)
        h.evaluate(now)
    assert [c for _, c, _ in h.log].count("firing") == 1, h.log


def test_absent_fires_when_a_service_stops_sending_and_resolves_when_it_is_back(tmp_path: Path) -> None:
    text = """  - name: NoTraffic
    tier: P0
    select: {signal: spans}
    by: [service.name]
    window: 5s
    condition: {absent: true}
"""
    h = Harness(rule(tmp_path, text), delay=timedelta(0))
    for s in range(40):
        now = T0 + timedelta(seconds=s)
        h.send(now, ok=3, errors=0, service="frontend")
        if not 10 <= s < 25:
            h.send(now, ok=3, errors=0, service="checkout")
        h.evaluate(now)
    assert [(c, r) for _, c, r in h.log] == [("pending", None), ("firing", None), ("resolved", "condition_cleared")]
    fired = next(s for s, c, _ in h.log if c == "firing")
    assert 14 <= fired <= 16
    assert 25 <= h.log[-1][0] <= 26  # the window is [end - 5s, end): data at 25 s counts from the next evaluation


def test_series_that_disappears_resolves_as_series_gone(tmp_path: Path) -> None:
    text = ERRORS.replace("where: {service.name: checkout}", "where: {}").replace(
        "    window: 5s", "    by: [service.name]\n    window: 5s"
    )
    h = Harness(rule(tmp_path, text), delay=timedelta(0))
    for s in range(20):
        now = T0 + timedelta(seconds=s)
        h.send(now, ok=10, errors=0, service="frontend")
        if s < 5:
            h.send(now, ok=5, errors=5, service="checkout")
        h.evaluate(now)
    resolved = [(c, r) for _, c, r in h.log if c == "resolved"]
    assert resolved == [("resolved", ResolveReason.SERIES_GONE.value)]
    assert [c for _, c, _ in h.log].count(Change.FIRING.value) == 1

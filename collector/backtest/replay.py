"""Replays inputs through RuleRun, the evaluator's own per-rule logic, and reports events and per-point scores."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any

import orjson
from tqdm import tqdm

from collector.backtest.inputs import Point
from collector.evaluate.rulerun import RuleRun
from collector.evaluate.state import Change, Transition
from collector.model import Batch, iso
from collector.rules.ruleset import RuleSet
from collector.rules.schema import Rule
from collector.store.hub import Store

# Below this many points no progress bar is drawn.
PROGRESS_FROM = 20_000
_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Event:
    kind: str
    rule: str
    at: datetime
    value: float | None
    baseline: dict[str, Any] | None
    labels: dict[str, str]
    reason: str | None = None
    duration_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.kind,
            "rule": self.rule,
            "at": iso(self.at),
            "value": self.value,
            "baseline": self.baseline,
            "labels": self.labels,
            "resolveReason": self.reason,
            "durationSeconds": self.duration_s,
        }


class _Value:
    """A CSV row standing in for the store's window stats: its value is the rule's measure."""

    exemplars: tuple[Any, ...] = ()

    def __init__(self, value: float) -> None:
        self.value = value
        # A measured value is taken as enough data: min_samples speaks of raw events, which a CSV does not have.
        self.samples = sys.maxsize

    def measure(self, name: str) -> float | None:
        return self.value


def _events(rule: Rule, transitions: Iterable[Transition]) -> list[Event]:
    out = []
    for t in transitions:
        i = t.instance
        band = {k: v for k, v in i.band.items() if k != "learning"} if i.band else None
        if t.change is Change.FIRING:
            out.append(Event("firing", rule.name, t.at, i.value, band, dict(i.labels)))
        elif t.change is Change.RESOLVED:
            duration = (t.at - i.active_since).total_seconds()
            reason = t.reason.value if t.reason else None
            out.append(Event("resolved", rule.name, t.at, i.value, band, dict(i.labels), reason, duration))
    return out


def _progress(items: Sequence[Any], what: str) -> Iterable[Any]:
    if len(items) < PROGRESS_FROM:
        return items
    return tqdm(items, desc=what, unit="pt", file=sys.stderr, leave=False)


def replay_csv(rule: Rule, points: Sequence[Point], scores: IO[str] | None) -> list[Event]:
    """Evaluate `rule` at every point's time with the point's value as its measure."""
    run = RuleRun(rule, "backtest")
    key = tuple("" for _ in rule.by)
    writer = csv.writer(scores) if scores is not None else None
    if writer is not None:
        writer.writerow(["timestamp", "value", "expected", "lower", "upper", "score", "state"])
    events: list[Event] = []
    for p in _progress(points, "backtest"):
        outcome = run.evaluate({key: _Value(p.value)}, p.at)
        events += _events(rule, outcome.transitions)
        if writer is not None:
            fp = run.fingerprint_of(key)
            seen = run.last.get(fp)
            band = dict(seen.band) if seen is not None and seen.band is not None else {}
            instance = run.instances.get(fp)
            state = instance.phase.value if instance is not None else "inactive"
            writer.writerow(
                [iso(p.at), p.value, *(_cell(band.get(k)) for k in ("expected", "lower", "upper", "score")), state]
            )
    return events


def _cell(v: object) -> str:
    return "" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v)


def replay_otlp(rules: RuleSet, names: Sequence[str], batches: Sequence[Batch]) -> list[Event]:
    """Feed recorded telemetry through the store and evaluate each rule at its group's interval, in data time."""
    store = Store(traces=None, max_series_per_rule=100_000, max_series=1_000_000)
    chosen = [r for r in rules.rules() if r.name in names]
    store.set_selectors({r.name: r.selector for r in chosen}, {r.name: r.window for r in chosen})
    runs = [(RuleRun(r, g.name), g.interval) for g in rules.groups for r in g.rules if r.name in names]
    ordered = sorted(batches, key=lambda b: b.received_ns)
    if not ordered or not runs:
        return []
    step = min(every for _, every in runs)
    start = datetime.fromtimestamp(ordered[0].received_ns // _NS, tz=UTC)
    end = datetime.fromtimestamp(ordered[-1].received_ns / _NS, tz=UTC) + step
    events: list[Event] = []
    fed = 0
    ticks = int((end - start) / step) + 1
    for k in _progress(range(ticks), "backtest"):
        now = start + k * step
        now_ns = int(now.timestamp() * _NS)
        while fed < len(ordered) and ordered[fed].received_ns <= now_ns:
            store.consume(ordered[fed])
            fed += 1
        for run, every in runs:
            if (now - start) % every == timedelta(0):
                results = store.query(run.rule.name, int((now - run.rule.window).timestamp() * _NS), now_ns)
                events += _events(run.rule, run.evaluate(results, now).transitions)
    return events


def report(events: Sequence[Event], fmt: str, out: IO[str]) -> None:
    if fmt == "jsonl":
        for e in events:
            out.write(orjson.dumps(e.to_json()).decode() + "\n")
        return
    for e in events:
        labels = ", ".join(f'{k}="{v}"' for k, v in sorted(e.labels.items()) if k not in ("alertname", "tier"))
        line = f"{iso(e.at)}  {e.kind:<8}  {e.rule} {{{labels}}}  value={_cell(e.value)}"
        if e.baseline:
            line += (
                f"  expected={_cell(e.baseline.get('expected'))}"
                f" band=[{_cell(e.baseline.get('lower'))}, {_cell(e.baseline.get('upper'))}]"
                f" score={_cell(e.baseline.get('score'))}"
            )
        if e.kind == "resolved":
            line += f"  after {timedelta(seconds=round(e.duration_s or 0))} ({e.reason})"
        out.write(line + "\n")
    fired = sum(e.kind == "firing" for e in events)
    resolved = sum(e.kind == "resolved" for e in events)
    out.write(f"{fired} fired, {resolved} resolved, {fired - resolved} still firing at the end\n")

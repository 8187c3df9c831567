"""The evaluator's SQL side: baseline state and alert state survive a new Evaluator on the same database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry

from collector.evaluate.evaluator import Evaluator
from collector.model import Batch, Signal
from collector.rules.loader import load_rules
from collector.rules.ruleset import RuleSet
from collector.store.db import Database
from collector.store.hub import Store
from tests.unit.evaluate.test_rulerun import ns, spans

RULES = """group: g
interval: 10s
rules:
  - name: Traffic
    tier: P2
    select: {signal: spans, where: {service.name: checkout}}
    measure: count
    by: [service.name]
    window: 1m
    condition:
      baseline: {method: ewma, history: 1d, min_history: 10m, sensitivity: 4}
"""

T0 = datetime(2026, 3, 2, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


async def run_for(ev: Evaluator, store: Store, clock: Clock, rules: RuleSet, seconds: int) -> None:
    group = rules.groups[0]
    for _ in range(seconds // 10):
        store.consume(Batch(Signal.SPANS, spans("checkout", clock.now, ok=20, errors=0), 20, ns(clock.now)))
        clock.now += timedelta(seconds=10)
        await ev.evaluate_group(group)


async def band(ev: Evaluator) -> dict[str, object]:
    [alert] = [a for a in await ev.snapshot() if a["rule"] == "Traffic"]
    assert isinstance(alert["baseline"], dict)
    return alert["baseline"]


async def test_baseline_learning_survives_a_restart(storage_url: str, tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(RULES)
    rules = load_rules([tmp_path / "r.yaml"], timedelta(seconds=10))
    clock = Clock()
    db = Database(storage_url)
    await db.open()
    try:
        store = Store(traces=None, max_series_per_rule=100, max_series=1000)
        store.set_selectors(rules.selectors(), {r.name: r.window for r in rules.rules()})
        ev = Evaluator(
            db=db, windows=store, traces=lambda _: None, registry=CollectorRegistry(), delay=timedelta(0), clock=clock
        )
        await ev.start(rules)
        await run_for(ev, store, clock, rules, 15 * 60)
        before = await band(ev)
        assert before["learning"] is False and int(str(before["samples"])) >= 80
        await ev.stop()

        # A new process: a new evaluator and an empty store, on the same database.
        store = Store(traces=None, max_series_per_rule=100, max_series=1000)
        store.set_selectors(rules.selectors(), {r.name: r.window for r in rules.rules()})
        again = Evaluator(
            db=db, windows=store, traces=lambda _: None, registry=CollectorRegistry(), delay=timedelta(0), clock=clock
        )
        await again.start(rules)
        clock.now += timedelta(seconds=5)
        await run_for(again, store, clock, rules, 70)
        after = await band(again)
        assert after["learning"] is False, "the restart restarted the learning period"
        assert int(str(after["samples"])) > int(str(before["samples"]))
        assert abs(float(str(after["expected"])) - float(str(before["expected"]))) < 0.2 * float(
            str(before["expected"])
        )
    finally:
        await db.close()

"""Two evaluators (replicas) on one database: one incident per fingerprint; a dead replica's alerts are adopted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry
from sqlalchemy import select

from collector.evaluate.evaluator import Evaluator
from collector.model import Batch, Signal
from collector.rules.loader import load_rules
from collector.store.db import Database
from collector.store.hub import Store
from collector.store.tables import alerts, events, incidents
from tests.unit.evaluate.test_rulerun import ns, spans

RULES = """group: g
interval: 10s
rules:
  - name: Errors
    tier: P0
    select: {signal: spans, where: {service.name: checkout}}
    measure: error_ratio
    window: 1m
    condition: {threshold: "> 0.2"}
"""


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def replica(db: Database, store: Store, clock: Clock, name: str) -> Evaluator:
    return Evaluator(
        db=db,
        windows=store,
        traces=lambda _: None,
        registry=CollectorRegistry(),
        delay=timedelta(0),
        clock=clock,
        instance_id=name,
        api_url=f"http://{name}",
    )


async def test_one_incident_per_fingerprint_and_adoption(storage_url: str, tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(RULES)
    rules = load_rules([tmp_path / "r.yaml"], timedelta(seconds=10))
    group = rules.groups[0]
    clock = Clock()
    db = Database(storage_url)
    await db.open()
    try:
        stores = []
        for _ in range(2):
            store = Store(traces=None, max_series_per_rule=100, max_series=1000)
            store.set_selectors(rules.selectors(), {r.name: r.window for r in rules.rules()})
            stores.append(store)
        a, b = replica(db, stores[0], clock, "a"), replica(db, stores[1], clock, "b")
        await a.start(rules)
        await b.start(rules)
        # Both replicas received errors for the same series (e.g. while the collector rebalanced).
        for _ in range(3):
            for store in stores:
                store.consume(Batch(Signal.SPANS, spans("checkout", clock.now, ok=5, errors=5), 10, ns(clock.now)))
            clock.now += timedelta(seconds=10)
            await a.evaluate_group(group)
            await b.evaluate_group(group)
        async with db.engine.connect() as conn:
            opened = (await conn.execute(select(incidents.c.id))).all()
            owners = (await conn.execute(select(alerts.c.owner))).scalars().all()
        assert len(opened) == 1, "two replicas opened two incidents for one fingerprint"
        assert owners == ["a"]
        assert [i["state"] for i in await b.snapshot()] == [], "b leaves the series to its owner"

        # a stops (no more heartbeats); after the lease b adopts the firing alert. b no longer gets errors,
        # so it resolves the incident a opened: the resolved event is not lost with a.
        clock.now += timedelta(seconds=45)
        await b.tick()
        assert [i["incidentId"] for i in await b.snapshot()] == [opened[0].id]
        for _ in range(7):
            stores[1].consume(Batch(Signal.SPANS, spans("checkout", clock.now, ok=10, errors=0), 10, ns(clock.now)))
            clock.now += timedelta(seconds=10)
            await b.evaluate_group(group)
        async with db.engine.connect() as conn:
            kinds = (await conn.execute(select(events.c.kind).order_by(events.c.seq))).scalars().all()
            row = (await conn.execute(select(incidents))).one()
        assert kinds == ["firing", "resolved"]
        assert row.ends_at is not None and row.resolve_reason == "condition_cleared"
    finally:
        await db.close()

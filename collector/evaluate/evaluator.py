"""Evaluates rule groups against the store's windows and records what changed, durably and in one transaction."""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from opentelemetry import trace
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.evaluate import evidence as evidence_mod
from collector.evaluate import ledger
from collector.evaluate.rulerun import RuleRun, Stats
from collector.evaluate.state import Change, Instance, Phase, Transition
from collector.model import AlertEvent, EventKind, Op, ResolveReason, iso
from collector.rules.ruleset import RuleGroup, RuleSet
from collector.rules.schema import Rule
from collector.store import replicas
from collector.store.db import Database

log = logging.getLogger(__name__)

BASELINE_SAVE_EVERY = timedelta(minutes=1)
TIERS = ("P0", "P1", "P2")


class WindowSource(Protocol):
    def query(self, rule: str, start_ns: int, end_ns: int) -> Mapping[tuple[str, ...], Stats]: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ns(t: datetime) -> int:
    return int(t.timestamp() * 1e9)


def _service(rule: Rule, labels: Mapping[str, str]) -> str | None:
    if labels.get("service.name"):
        return labels["service.name"]
    for m in rule.select.where:
        if m.key == "service.name" and m.op is Op.EQ and not m.negate and isinstance(m.value, str):
            return m.value
    return None


def _persisted_key(i: Instance) -> tuple[Any, ...]:
    return (i.phase, i.active_since, i.fired_at, i.clear_since, i.incident_id, i.definition_hash)


class EvaluatorMetrics:
    def __init__(self, registry: CollectorRegistry, runs: Callable[[], Mapping[str, RuleRun]]) -> None:
        self.evaluations = Counter(
            "vigil_rule_group_evaluations_total", "Rule group evaluations.", ["group"], registry=registry
        )
        self.duration = Histogram(
            "vigil_rule_group_duration_seconds",
            "Time to evaluate a rule group.",
            ["group"],
            registry=registry,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.incidents = Counter("vigil_incidents_total", "Incidents opened.", ["tier", "rule"], registry=registry)
        self.incident_duration = Histogram(
            "vigil_incident_duration_seconds",
            "Duration of resolved incidents, from first breach to resolve.",
            ["tier"],
            registry=registry,
            buckets=(30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400),
        )
        firing = Gauge("vigil_alerts_firing", "Alert instances firing now.", ["tier"], registry=registry)
        pending = Gauge("vigil_alerts_pending", "Alert instances pending now.", ["tier"], registry=registry)
        for tier in TIERS:
            firing.labels(tier).set_function(functools.partial(_count, runs, tier, Phase.FIRING))
            pending.labels(tier).set_function(functools.partial(_count, runs, tier, Phase.PENDING))


def _count(runs: Callable[[], Mapping[str, RuleRun]], tier: str, phase: Phase) -> float:
    return float(
        sum(1 for r in runs().values() if r.rule.tier == tier for i in r.instances.values() if i.phase is phase)
    )


class Evaluator:
    """Owns every RuleRun; the scheduler calls `evaluate_group`, reloads call `apply_rules`."""

    def __init__(
        self,
        *,
        db: Database,
        windows: WindowSource,
        traces: evidence_mod.TraceLookup,
        registry: CollectorRegistry,
        delay: timedelta,
        on_events: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utcnow,
        tracer: trace.Tracer | None = None,
        instance_id: str = "local",
        api_url: str = "",
    ) -> None:
        self._db = db
        self._windows = windows
        self._traces = traces
        self._delay = delay
        self._on_events = on_events
        self._clock = clock
        self._tracer = tracer or trace.NoOpTracer()
        self.instance_id = instance_id
        self.api_url = api_url
        self.started_at = clock()
        self.rules = RuleSet()
        self.runs: dict[str, RuleRun] = {}
        self._persisted: dict[str, tuple[Any, ...]] = {}
        self._baselines_saved = self.started_at
        self._lock = asyncio.Lock()
        self.metrics = EvaluatorMetrics(registry, lambda: self.runs)

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self, rules: RuleSet) -> None:
        """Restore persisted alert state; instances of rules that are gone or changed end now."""
        async with self._db.transaction() as conn:
            now = self._clock()
            await replicas.heartbeat(conn, self.instance_id, self.api_url, now, self.started_at)
            live = await replicas.live(conn, now)
            instances = await ledger.load_instances(conn, self.instance_id, {*live, self.instance_id})
            self.rules = rules
            for group in rules.groups:
                for rule in group.rules:
                    self.runs[rule.name] = await self._new_run(conn, rule, group.name, [])
            ending = await self._absorb(conn, instances, now)
        self._notify_if(ending)

    async def tick(self) -> None:
        """Heartbeat, and adopt the alert instances of replicas that stopped heartbeating."""
        async with self._lock, self._db.transaction() as conn:
            now = self._clock()
            await replicas.heartbeat(conn, self.instance_id, self.api_url, now, self.started_at)
            live = await replicas.live(conn, now)
            orphans = [
                i
                for i in await ledger.load_instances(conn, self.instance_id, {*live, self.instance_id})
                if i.fingerprint not in self._persisted
            ]
            ending = await self._absorb(conn, orphans, now) if orphans else []
        if orphans:
            log.warning("adopted %d alert instances of replicas that stopped", len(orphans))
        self._notify_if(ending)

    async def _absorb(
        self, conn: AsyncConnection, instances: list[Instance], now: datetime
    ) -> list[tuple[Rule | None, str, Transition]]:
        """Take persisted instances into their RuleRuns; those of removed or changed rules end."""
        ending: list[tuple[Rule | None, str, Transition]] = []
        for i in instances:
            self._persisted[i.fingerprint] = _persisted_key(i)
            run = self.runs.get(i.rule)
            if run is not None and i.definition_hash == run.rule.definition_hash:
                run.instances[i.fingerprint] = i
                continue
            change = Change.RESOLVED if i.phase is Phase.FIRING else Change.DROPPED
            group = run.group if run is not None else ""
            ending.append((run.rule if run else None, group, Transition(change, i, now, ResolveReason.RULE_REMOVED)))
        await self._record(conn, ending, {}, now)
        return ending

    async def _new_run(self, conn: AsyncConnection, rule: Rule, group: str, instances: list[Instance]) -> RuleRun:
        states: dict[str, dict[str, Any]] = {}
        baseline = rule.condition.baseline
        if baseline is not None:
            states = await ledger.load_baselines(conn, rule.name, rule.definition_hash)
        return RuleRun(rule, group, instances, states)

    async def apply_rules(self, new: RuleSet) -> None:
        """Swap in a reloaded rule set: unchanged rules keep their state, removed or changed ones end theirs."""
        async with self._lock:
            changes = new.changes_since(self.rules)
            now = self._clock()
            ending: list[tuple[Rule | None, str, Transition]] = []
            async with self._db.transaction() as conn:
                for name in (*changes.removed, *changes.changed):
                    run = self.runs.pop(name)
                    await self._save_baselines(conn, [run], now)
                    ending += [(run.rule, run.group, t) for t in run.end_all(now, ResolveReason.RULE_REMOVED)]
                await self._record(conn, ending, {}, now)
                for group in new.groups:
                    for rule in group.rules:
                        if rule.name in self.runs:
                            run = self.runs[rule.name]
                            run.rule, run.group = rule, group.name  # labels/annotations may have changed
                        else:
                            self.runs[rule.name] = await self._new_run(conn, rule, group.name, [])
            self.rules = new
        self._notify_if(ending)

    async def stop(self) -> None:
        async with self._lock, self._db.transaction() as conn:
            await self._save_baselines(conn, list(self.runs.values()), self._clock())

    # --- evaluation ------------------------------------------------------------------------------

    async def evaluate_group(self, group: RuleGroup) -> None:
        started = self._clock()
        try:
            with self._tracer.start_as_current_span(
                "evaluate rule group", attributes={"vigil.group": group.name, "vigil.rules": len(group.rules)}
            ):
                async with self._lock:
                    await self._evaluate(group)
        finally:
            self.metrics.evaluations.labels(group.name).inc()
            self.metrics.duration.labels(group.name).observe((self._clock() - started).total_seconds())

    async def _evaluate(self, group: RuleGroup) -> None:
        now = self._clock()
        end = now - self._delay
        found: list[tuple[Rule | None, str, Transition]] = []
        stats: dict[str, Any] = {}
        runs = [self.runs[r.name] for r in group.rules if r.name in self.runs]
        for run in runs:
            start = end - run.rule.window
            results = self._windows.query(run.rule.name, _ns(start), _ns(end))
            outcome = run.evaluate(results, now, complete=start >= self.started_at)
            found += [(run.rule, run.group, t) for t in outcome.transitions]
            stats.update(outcome.stats)
            await asyncio.sleep(0)  # one rule at a time: ingest keeps flowing between them
        dirty = [i for run in runs for i in run.instances.values() if self._unsaved(i)]
        save_baselines = now - self._baselines_saved >= BASELINE_SAVE_EVERY
        if not found and not dirty and not save_baselines:
            return
        async with self._db.transaction() as conn:
            await self._record(conn, found, stats, now)
            # _record has just saved the instances that fired; the others still need writing.
            for i in (i for i in dirty if self._unsaved(i)):
                if await ledger.save_instance(conn, i, now, self.instance_id):
                    self._persisted[i.fingerprint] = _persisted_key(i)
                else:
                    self._yield(i.rule, i)
            if save_baselines:
                await self._save_baselines(conn, list(self.runs.values()), now)
        self._notify_if(found)

    def _unsaved(self, i: Instance) -> bool:
        return self._persisted.get(i.fingerprint) != _persisted_key(i)

    async def _save_baselines(self, conn: AsyncConnection, runs: list[RuleRun], now: datetime) -> None:
        for run in runs:
            if run.detectors:
                await ledger.save_baselines(conn, run.rule.name, run.rule.definition_hash, run.detector_states(), now)
        self._baselines_saved = now

    async def _record(
        self,
        conn: AsyncConnection,
        transitions: list[tuple[Rule | None, str, Transition]],
        stats: Mapping[str, Any],
        now: datetime,
    ) -> None:
        gone: list[str] = []
        for rule, group, t in transitions:
            i = t.instance
            if t.change is Change.FIRING:
                assert rule is not None
                if not await ledger.save_instance(conn, i, now, self.instance_id):
                    self._yield(rule.name, i)
                    continue
                window = stats.get(i.fingerprint)
                found = evidence_mod.collect(window.exemplars if window is not None else (), self._traces)
                event = self._event(rule, group, i, EventKind.FIRING, now, refs=evidence_mod.refs(found))
                with self._tracer.start_as_current_span(
                    "firing",
                    attributes={
                        "vigil.rule": rule.name,
                        "vigil.tier": rule.tier,
                        "vigil.incident": event.incident_id,
                        "vigil.evidence_traces": len(found),
                    },
                ):
                    await ledger.open_incident(conn, ledger.Opening(event, _service(rule, i.labels), found))
                self._persisted[i.fingerprint] = _persisted_key(i)
                self.metrics.incidents.labels(rule.tier, rule.name).inc()
                log.warning("firing: %s %s incident %s", rule.name, dict(i.labels), i.incident_id)
            elif t.change is Change.RESOLVED:
                event = self._resolved_event(rule, group, i, now, t.reason or ResolveReason.CONDITION_CLEARED)
                await ledger.close_incident(conn, event)
                gone.append(i.fingerprint)
                self.metrics.incident_duration.labels(event.tier).observe(event.duration_seconds or 0.0)
                log.warning("resolved: %s %s incident %s (%s)", i.rule, dict(i.labels), i.incident_id, t.reason)
            elif t.change is Change.DROPPED:
                gone.append(i.fingerprint)
        await ledger.delete_instances(conn, gone, self.instance_id)
        for fp in gone:
            self._persisted.pop(fp, None)

    def _event(self, rule: Rule, group: str, i: Instance, kind: EventKind, now: datetime, **extra: Any) -> AlertEvent:
        band = {k: v for k, v in i.band.items() if k != "learning"} if i.band else None
        numbers = {k: float(v) for k, v in band.items() if isinstance(v, (int, float))} if band else None
        value = i.value if i.value is not None else (0.0 if rule.condition.absent else None)
        assert i.incident_id is not None and i.fired_at is not None
        return AlertEvent(
            id=str(uuid.uuid4()),
            kind=kind,
            incident_id=i.incident_id,
            fingerprint=i.fingerprint,
            rule=rule.name,
            group=group,
            tier=rule.tier,
            labels=dict(i.labels),
            annotations=rule.render_annotations(i.labels, value, numbers),
            value=i.value,
            threshold=rule.condition.describe(),
            baseline=band,
            starts_at=i.active_since,
            fired_at=i.fired_at,
            at=now,
            exemplars=extra.get("refs", ()),
            ends_at=extra.get("ends_at"),
            duration_seconds=extra.get("duration"),
            resolve_reason=extra.get("reason"),
        )

    def _resolved_event(
        self, rule: Rule | None, group: str, i: Instance, now: datetime, reason: ResolveReason
    ) -> AlertEvent:
        duration = (now - i.active_since).total_seconds()
        rule = rule or self._placeholder_rule(i)
        return self._event(rule, group, i, EventKind.RESOLVED, now, ends_at=now, duration=duration, reason=reason)

    def _placeholder_rule(self, i: Instance) -> Rule:
        # The rule is gone from the files; the resolved event still needs its name and tier.
        tier = i.labels.get("tier", "P2")
        return Rule.model_validate(
            {
                "name": i.rule,
                "tier": tier if tier in TIERS else "P2",
                "select": {"signal": "spans"},
                "measure": "count",
                "window": "1m",
                "condition": {"threshold": "> 0"},
            }
        )

    def _yield(self, rule: str, i: Instance) -> None:
        # Another live replica evaluates this series (both received its data): it keeps the alert.
        run = self.runs.get(rule)
        if run is not None:
            run.instances.pop(i.fingerprint, None)
        log.info("series %s of %s belongs to another replica; leaving it to that one", dict(i.labels), rule)

    def _notify_if(self, transitions: list[tuple[Rule | None, str, Transition]]) -> None:
        if any(t.change in (Change.FIRING, Change.RESOLVED) for _, _, t in transitions):
            self._on_events()

    # --- views -----------------------------------------------------------------------------------

    async def snapshot(self) -> list[dict[str, Any]]:
        """Every live instance, and for baseline rules every series with its band (for /api/alerts).

        Taken between evaluations, so it shows only state that is already committed to SQL.
        """
        async with self._lock:
            return self._snapshot()

    def _snapshot(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for run in self.runs.values():
            listed: set[str] = set()
            for i in run.instances.values():
                listed.add(i.fingerprint)
                out.append(_alert_view(run, i.fingerprint, dict(i.labels), i.phase.value, i))
            for fp, seen in run.last.items():
                if fp not in listed and seen.band is not None:
                    out.append(_alert_view(run, fp, {}, "inactive", None))
        return out


def _alert_view(run: RuleRun, fp: str, labels: dict[str, str], state: str, i: Instance | None) -> dict[str, Any]:
    seen = run.last.get(fp)
    band = dict(seen.band) if seen is not None and seen.band is not None else None
    return {
        "rule": run.rule.name,
        "group": run.group,
        "tier": run.rule.tier,
        "fingerprint": fp,
        "state": state,
        "labels": labels or (dict(i.labels) if i else {}),
        "value": seen.value if seen is not None else None,
        "threshold": run.rule.condition.describe(),
        "baseline": band,
        "learning": bool(band and band.get("learning")),
        "activeSince": iso(i.active_since) if i else None,
        "firedAt": iso(i.fired_at) if i and i.fired_at else None,
        "clearSince": iso(i.clear_since) if i and i.clear_since else None,
        "incidentId": i.incident_id if i else None,
    }

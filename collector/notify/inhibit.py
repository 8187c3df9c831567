"""Inhibition: a firing source alert mutes target alerts that share the `equal` labels (config `inhibit`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.notify.alert import alert_labels
from collector.notify.selector import Selector
from collector.settings import Inhibit
from collector.store.tables import incidents


@dataclass(frozen=True, slots=True)
class InhibitRule:
    source: Selector
    target: Selector
    equal: tuple[str, ...]

    @classmethod
    def of(cls, rule: Inhibit) -> InhibitRule:
        return cls(Selector.of(rule.source), Selector.of(rule.target), tuple(rule.equal))

    def key(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        # As in Alertmanager, a label missing on both sides counts as equal.
        return tuple(labels.get(k, "") for k in self.equal)


class Inhibitor:
    """Answers "is this alert inhibited?" against a set of firing alerts. Pure once built."""

    def __init__(self, rules: Sequence[InhibitRule], firing: Iterable[tuple[str, Mapping[str, str]]]) -> None:
        self._rules = tuple(rules)
        # Per rule: the `equal` label values of its firing sources -> their incident ids.
        self._sources: list[dict[tuple[str, ...], set[str]]] = [{} for _ in self._rules]
        for incident_id, labels in firing:
            for rule, index in zip(self._rules, self._sources, strict=True):
                if rule.source.matches(labels):
                    index.setdefault(rule.key(labels), set()).add(incident_id)

    @property
    def active(self) -> bool:
        """Whether any firing alert is a source of some rule (else nothing is inhibited)."""
        return any(self._sources)

    def inhibited(self, incident_id: str, labels: Mapping[str, str]) -> bool:
        for rule, index in zip(self._rules, self._sources, strict=True):
            if not rule.target.matches(labels):
                continue
            sources = index.get(rule.key(labels))
            # An alert never inhibits itself, even when it matches both sides of a rule.
            if sources and (len(sources) > 1 or incident_id not in sources):
                return True
        return False


async def load_inhibitor(conn: AsyncConnection, rules: Sequence[InhibitRule]) -> Inhibitor:
    """Build the inhibitor from the open incidents in SQL, reading only the tiers a source can match.

    Open incidents are what the evaluator holds as firing, written in the same transaction
    as their events, so every replica sees the same sources.
    """
    if not rules:
        return Inhibitor((), ())
    query = select(incidents.c.id, incidents.c.rule, incidents.c.tier, incidents.c.labels).where(
        incidents.c.ends_at.is_(None)
    )
    tiers: set[str] = set()
    for rule in rules:
        allowed = rule.source.allowed("tier")
        if allowed is None:
            tiers.clear()
            break
        tiers |= allowed
    if tiers:
        query = query.where(incidents.c.tier.in_(sorted(tiers)))
    rows = await conn.execute(query)
    return Inhibitor(rules, ((r.id, alert_labels({"labels": r.labels, "rule": r.rule, "tier": r.tier})) for r in rows))

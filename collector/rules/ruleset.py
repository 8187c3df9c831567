"""A loaded, validated set of rule groups: what the evaluator runs and what a reload swaps as one value."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

from collector.model import SeriesSelector
from collector.rules.schema import Rule


@dataclass(frozen=True)
class RuleGroup:
    """The rules of one file, evaluated together every `interval` (already defaulted from the config)."""

    name: str
    file: str
    interval: timedelta
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class RuleChanges:
    """How one rule set differs from another, by rule name."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    # Same name, different definition_hash: the old rule's alert state no longer applies.
    changed: tuple[str, ...] = ()
    # Same definition_hash: alert state, pending and keep_firing_for timers carry over.
    kept: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleSet:
    """Every rule group in force, in file order. Rule names are unique across the set."""

    groups: tuple[RuleGroup, ...] = ()

    def rules(self) -> tuple[Rule, ...]:
        return tuple(rule for group in self.groups for rule in group.rules)

    def selectors(self) -> dict[str, SeriesSelector]:
        """Rule name → what that rule reads; the store keeps exactly these series."""
        return {rule.name: rule.selector for rule in self.rules()}

    def get(self, name: str) -> Rule | None:
        return self._by_name.get(name)

    def group_of(self, name: str) -> RuleGroup | None:
        return next((g for g in self.groups if any(r.name == name for r in g.rules)), None)

    @cached_property
    def _by_name(self) -> dict[str, Rule]:
        return {rule.name: rule for rule in self.rules()}

    @cached_property
    def version(self) -> str:
        """A hash of the whole set (groups, intervals, every rule in full): equal versions mean nothing changed."""
        h = hashlib.sha256()
        for group in self.groups:
            h.update(f"{group.name}\0{group.interval.total_seconds()}\0".encode())
            for rule in group.rules:
                h.update(rule.content_hash.encode())
            h.update(b"\1")
        return h.hexdigest()

    def changes_since(self, old: RuleSet) -> RuleChanges:
        """What a swap from `old` to this set does to each rule."""
        before, after = old._by_name, self._by_name
        return RuleChanges(
            added=tuple(n for n in after if n not in before),
            removed=tuple(n for n in before if n not in after),
            changed=tuple(n for n in after if n in before and after[n].definition_hash != before[n].definition_hash),
            kept=tuple(n for n in after if n in before and after[n].definition_hash == before[n].definition_hash),
        )

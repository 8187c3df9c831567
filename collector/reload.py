"""Reload: validate the new config and rules as a whole, then hand them to every stage; a bad set changes nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

from collector.rules.registry import ReloadResult, RuleRegistry
from collector.rules.ruleset import RuleSet

log = logging.getLogger(__name__)

Applier = Callable[[RuleSet], Awaitable[None]]


class Reloader:
    """Runs one reload at a time: load (may fail: old set stays), swap, then apply to each stage in order."""

    def __init__(
        self, *, registry: RuleRegistry, load: Callable[[], RuleSet], metrics_registry: CollectorRegistry
    ) -> None:
        self.rules = registry
        self._load = load
        self._appliers: list[Applier] = []
        self._announce: Callable[[], Awaitable[None]] | None = None
        self._lock = asyncio.Lock()
        self._success = Gauge(
            "vigil_rules_last_reload_success",
            "1 if the last reload of config and rules succeeded, else 0.",
            registry=metrics_registry,
        )
        self._success_time = Gauge(
            "vigil_rules_last_reload_success_timestamp_seconds",
            "When config and rules were last loaded.",
            registry=metrics_registry,
        )
        self._reloads = Counter(
            "vigil_rules_reloads_total",
            "Reloads of config and rules, by result.",
            ["result"],
            registry=metrics_registry,
        )
        self._rules = Gauge("vigil_rules_loaded", "Rules in force.", registry=metrics_registry)
        self._success.set(1)
        self._success_time.set_to_current_time()
        self._rules.set_function(lambda: len(registry.current().rules()))

    def on_change(self, applier: Applier) -> None:
        """Call `applier(new_rules)` after each successful swap, in registration order."""
        self._appliers.append(applier)

    async def reload(self, reason: str, *, announce: bool = True) -> ReloadResult:
        """Reload; `announce` tells the other replicas (off when the reload came from one of them)."""
        async with self._lock:
            result = self.rules.reload(self._load)
            if not result.ok:
                self._success.set(0)
                self._reloads.labels("failure").inc()
                log.error(
                    "reload (%s) failed; the previous rules keep running:\n%s",
                    reason,
                    "\n".join(str(p) for p in result.problems),
                )
                return result
            self._success.set(1)
            self._success_time.set_to_current_time()
            self._reloads.labels("success").inc()
            if result.swapped:
                new = self.rules.current()
                for apply in self._appliers:
                    await apply(new)
                log.info("reload (%s): %d rules in force (%s)", reason, len(new.rules()), result.changes)
                if announce and self._announce is not None:
                    await self._announce()
            return result

    def announce_with(self, announce: Callable[[], Awaitable[None]]) -> None:
        """How a swapped reload is made known to the other replicas."""
        self._announce = announce

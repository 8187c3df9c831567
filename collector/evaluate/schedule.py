"""Runs every rule group at its interval with APScheduler; an evaluation that overruns skips the next one."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import CollectorRegistry, Counter

from collector.rules.ruleset import RuleGroup, RuleSet

log = logging.getLogger(__name__)

_PREFIX = "group:"


class GroupScheduler:
    """One job per rule group (`max_instances=1`, `coalesce=True`); overruns are counted, never queued."""

    def __init__(self, run: Callable[[RuleGroup], Awaitable[None]], registry: CollectorRegistry) -> None:
        self._run = run
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._overruns = Counter(
            "vigil_rule_group_overruns_total",
            "Evaluations skipped because the previous one of the same group was still running.",
            ["group"],
            registry=registry,
        )
        self._errors = Counter(
            "vigil_rule_group_errors_total", "Evaluations that raised.", ["group"], registry=registry
        )
        self._scheduler.add_listener(self._on_skip, EVENT_JOB_MAX_INSTANCES)

    def start(self, rules: RuleSet) -> None:
        self.apply(rules)
        self._scheduler.start()

    def apply(self, rules: RuleSet) -> None:
        """Replace the jobs with one per group of `rules` (after a reload)."""
        for job in self._scheduler.get_jobs():
            if job.id.startswith(_PREFIX):
                job.remove()
        for group in rules.groups:
            seconds = group.interval.total_seconds()
            self._scheduler.add_job(
                self._job,
                IntervalTrigger(seconds=seconds, timezone=UTC),
                args=[group],
                id=_PREFIX + group.name,
                name=group.name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(seconds)),
            )

    async def _job(self, group: RuleGroup) -> None:
        # The job boundary: an exception is logged and counted, and the next interval runs as usual.
        try:
            await self._run(group)
        except Exception:
            self._errors.labels(group.name).inc()
            log.exception("evaluation of rule group %s failed", group.name)

    def _on_skip(self, event: JobExecutionEvent) -> None:
        if event.job_id.startswith(_PREFIX):
            group = event.job_id[len(_PREFIX) :]
            self._overruns.labels(group).inc()
            log.warning("rule group %s: evaluation still running at its next interval; skipped", group)

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

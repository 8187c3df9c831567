"""P2 digests: a cron job per digest route sends one notification with the period's incidents.

The incidents come from the `incidents` table: those that fired in the period, those
still open, and those resolved in it (with durations). A digest goes through the
outbox like any notification (durable, signed, retried). Its outbox id is derived
from route, receiver and period end, so replicas running the same job write it once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.model import iso
from collector.notify.alert import alert_labels, alert_view
from collector.notify.context import digest_summary, notification_context
from collector.notify.dispatcher import take_lock
from collector.notify.metrics import NotifyMetrics
from collector.notify.outbox import NewDelivery, enqueue
from collector.notify.plan import Plan
from collector.notify.router import CompiledRoute, Schedule
from collector.notify.silence import active_silences, silenced_by
from collector.notify.tables import digest_runs
from collector.notify.writer import Writer
from collector.store.db import Database
from collector.store.tables import incidents

log = logging.getLogger(__name__)

MAX_INCIDENTS = 10_000
_NAMESPACE = uuid.UUID("6f0b8f52-9a53-4d0e-8c43-5f1f3f0a9d21")
_WINDOWS = (timedelta(hours=1), timedelta(days=1), timedelta(days=8), timedelta(days=32), timedelta(days=367))


def previous_fire(trigger: CronTrigger, at: datetime) -> datetime | None:
    """The last time the trigger fires at or before `at` (None if not within a year)."""
    for window in _WINDOWS:
        last = None
        fire: datetime | None = trigger.get_next_fire_time(None, at - window)
        while fire is not None and fire <= at:
            last = fire
            fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
        if last is not None:
            return last.astimezone(UTC)
    return None


def _incident_payload(row: Any) -> dict[str, Any]:
    return {
        "incidentId": row.id,
        "fingerprint": row.fingerprint,
        "rule": row.rule,
        "tier": row.tier,
        "labels": dict(row.labels),
        "annotations": dict(row.annotations),
        "value": row.value,
        "threshold": row.threshold,
        "baseline": row.baseline,
        "startsAt": iso(row.starts_at),
        "firedAt": iso(row.fired_at),
        "endsAt": iso(row.ends_at) if row.ends_at else None,
        "durationSeconds": row.duration_seconds,
        "resolveReason": row.resolve_reason,
        # Evidence (whole traces) stays out of a digest; the incident link leads to it.
        "exemplars": [],
    }


_COLUMNS = [c for c in incidents.c if c.name != "evidence"]


class DigestScheduler:
    """Owns the APScheduler jobs of the digest routes; `send` is also callable directly."""

    def __init__(
        self,
        *,
        db: Database,
        writer: Writer,
        plan: Callable[[], Plan],
        metrics: NotifyMetrics,
        clock: Callable[[], datetime],
        external_url: str,
        instance_id: str,
        on_enqueued: Callable[[set[str]], None],
    ) -> None:
        self._db = db
        self._writer = writer
        self._plan = plan
        self._metrics = metrics
        self._clock = clock
        self._external_url = external_url
        self._instance_id = instance_id
        self._on_enqueued = on_enqueued
        self._scheduler: AsyncIOScheduler | None = None

    def start(self) -> None:
        """Start the scheduler on the running event loop and add one job per digest route."""
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.start()
        self.reschedule()

    def stop(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None

    def reschedule(self) -> None:
        if self._scheduler is None:
            return
        self._scheduler.remove_all_jobs()
        for route in self._plan().router.routes:
            schedule = route.digest_schedule()
            if schedule is None:
                continue
            self._scheduler.add_job(
                self.scheduled,
                schedule.trigger(),
                args=[route.key, schedule],
                id=f"digest-{route.key}",
                name=f"digest {route.label}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=3600,
                replace_existing=True,
            )

    def jobs(self) -> list[tuple[str, datetime | None]]:
        """(job id, next run time) of every scheduled digest, for tests and the log."""
        if self._scheduler is None:
            return []
        return [(job.id, job.next_run_time) for job in self._scheduler.get_jobs()]

    async def scheduled(self, route_key: str, schedule: Schedule) -> None:
        """The cron job: the digest of the period that ended at the last fire time. Never raises."""
        try:
            period_end = previous_fire(schedule.trigger(), self._clock()) or self._clock()
            await self.send(route_key, period_end)
        except Exception:  # the job boundary: one failed digest must not stop the scheduler
            self._metrics.digests.labels("error").inc()
            log.exception("digest for route %s failed", route_key)

    async def send_all(self, period_end: datetime) -> int:
        """Send every digest route's digest for the period ending at `period_end` (manual run)."""
        total = 0
        for route in self._plan().router.routes:
            if route.digest_schedule() is not None:
                total += await self.send(route.key, period_end)
        return total

    async def send(self, route_key: str, period_end: datetime) -> int:
        """Write the digest of one route for the period ending at `period_end`; returns notifications written."""
        plan = self._plan()
        route = next((r for r in plan.router.routes if r.key == route_key), None)
        schedule = route.digest_schedule() if route is not None else None
        if route is None or schedule is None:
            return 0
        try:


            async def work(conn: AsyncConnection) -> list[NewDelivery]:
                await take_lock(conn, "dispatch", self._instance_id, self._clock())
                return await self._digest_rows(conn, plan, route, schedule, period_end)

            rows = await self._writer.run(work)
        except IntegrityError:
            # Another replica wrote this period's digest first.
            self._metrics.digests.labels("skipped").inc()
            return 0
        self._metrics.digests.labels("sent" if rows else "empty").inc()
        if rows:
            self._on_enqueued({r.receiver for r in rows})
        return len(rows)

    async def _digest_rows(
        self, conn: AsyncConnection, plan: Plan, route: CompiledRoute, schedule: Schedule, end: datetime
    ) -> list[NewDelivery]:
        now = self._clock()
        default_start = previous_fire(schedule.trigger(), end - timedelta(seconds=1)) or end - timedelta(days=1)
        starts: dict[str, datetime] = {}
        for name in route.receivers:
            last = (
                await conn.execute(
                    select(digest_runs.c.period_end).where(
                        digest_runs.c.route_key == route.key, digest_runs.c.receiver == name
                    )
                )
            ).scalar()
            if last is not None and last.tzinfo is None:
                last = last.replace(tzinfo=UTC)
            if name not in plan.receivers or (last is not None and last >= end):
                continue
            # The period runs from the last digest sent (so downtime is covered), or one schedule step back.
            starts[name] = last if last is not None else default_start
            await self._mark(conn, route.key, name, end)
        if not starts:
            return []
        found = await self._incidents(conn, plan, route, min(starts.values()), end)
        silences = await active_silences(conn, now)
        out: list[NewDelivery] = []
        for name, start in starts.items():
            receiver = plan.receivers[name]
            fired, still_open, resolved = [], [], []
            for row in found:
                labels = alert_labels({"labels": row.labels, "rule": row.rule, "tier": row.tier})
                if silenced_by(silences, labels) is not None:
                    continue
                if start <= row.fired_at < end:
                    fired.append(row)
                if row.ends_at is None or row.ends_at >= end:
                    still_open.append(row)
                elif row.ends_at >= start:
                    resolved.append(row)
            listed = sorted(still_open, key=lambda r: r.fired_at) + sorted(resolved, key=lambda r: r.fired_at)
            if not listed:
                continue
            open_ids = {r.id for r in still_open}
            alerts = [
                alert_view(_incident_payload(r), "firing" if r.id in open_ids else "resolved", self._external_url)
                for r in listed[: receiver.max_alerts]
            ]
            summary = digest_summary(
                start, end, schedule.cron, fired=len(fired), open_=len(still_open), resolved=len(resolved)
            )
            nid = str(uuid.uuid5(_NAMESPACE, f"{route.key}/{name}/{iso(end)}"))
            ctx = notification_context(
                kind="digest",
                receiver=name,
                receiver_url=receiver.url,
                group_key=f"digest:{route.label}",
                group_labels={},
                alerts=alerts,
                total=len(listed),
                external_url=self._external_url,
                now=now,
                digest=summary,
            )
            rendered = plan.templates.render(receiver.template, ctx)
            out.append(
                NewDelivery(
                    id=nid,
                    receiver=name,
                    ordering_key=f"digest:{route.key}",
                    kind="digest",
                    idempotency_key=nid,
                    group_key=f"digest:{route.label}",
                    incident_ids=[a["incidentId"] for a in alerts],
                    alert_count=len(listed),
                    content_type=rendered.content_type,
                    body=rendered.body,
                )
            )
        await enqueue(conn, out, now)
        return out

    async def _incidents(
        self, conn: AsyncConnection, plan: Plan, route: CompiledRoute, since: datetime, end: datetime
    ) -> list[Any]:
        """Incidents that were open at some point after `since`, routed to this route's digest."""
        query = (
            select(*_COLUMNS)
            .where(incidents.c.fired_at < end, or_(incidents.c.ends_at.is_(None), incidents.c.ends_at >= since))
            .order_by(incidents.c.fired_at.desc())
            .limit(MAX_INCIDENTS)
        )
        out = []
        for row in await conn.execute(query):
            labels = alert_labels({"labels": row.labels, "rule": row.rule, "tier": row.tier})
            first = plan.router.route_for(labels)
            if first is not None and first.key == route.key and first.digest_for(row.tier) is not None:
                out.append(row)
        return out

    async def _mark(self, conn: AsyncConnection, route_key: str, receiver: str, end: datetime) -> None:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(digest_runs).values(route_key=route_key, receiver=receiver, period_end=end)
        await conn.execute(
            stmt.on_conflict_do_update(index_elements=["route_key", "receiver"], set_={"period_end": end})
        )

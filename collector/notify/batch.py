"""One dispatch batch: a run of events through routing, grouping, silences and inhibition, in one transaction."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.notify.alert import alert_labels
from collector.notify.grouping import (
    Group,
    Member,
    flush,
    group_id,
    group_key_text,
    group_labels,
    schedule_after_firing,
)
from collector.notify.groupstate import GroupBook
from collector.notify.inhibit import Inhibitor, load_inhibitor
from collector.notify.notice import Notices
from collector.notify.outbox import enqueue
from collector.notify.plan import Plan
from collector.notify.router import Target
from collector.notify.silence import Silence, active_silences, silenced_by
from collector.notify.tables import notify_groups
from collector.store.eventlog import StoredEvent
from collector.store.tables import incidents


class Batch:
    """Events in seq order -> group changes and outbox rows, written with `finish` in the caller's transaction."""

    def __init__(self, conn: AsyncConnection, plan: Plan, now: datetime, external_url: str) -> None:
        self._conn = conn
        self._plan = plan
        self._now = now
        self.book = GroupBook()
        self.notices = Notices(plan, now, external_url)
        self.suppressed: Counter[str] = Counter()
        self._silences: list[Silence] | None = None
        self._inhibitor: Inhibitor | None = None

    async def run(self, events: Sequence[StoredEvent], *, look_for_due: bool) -> datetime | None:
        """Process the events and the groups that are due; returns when the next group is due (None: none is).

        `look_for_due` False skips asking SQL for due groups (the caller knows none is due yet).
        """
        labels = {e.seq: alert_labels(e.payload) for e in events}
        targets = {e.seq: self._plan.router.targets(labels[e.seq]) for e in events if e.kind == "firing"}
        group_ids = {e.seq: [self._group_id(t, labels[e.seq]) for t in targets.get(e.seq, ())] for e in events}
        await self.book.load_groups(self._conn, {g for ids in group_ids.values() for g in ids})
        # Members already in SQL matter for resolved events, and for firings into groups that exist.
        known = [
            e.incident_id
            for e in events
            if e.kind == "resolved" or any(g in self.book.groups for g in group_ids[e.seq])
        ]
        await self.book.load_incidents(self._conn, known)
        for e in events:
            if e.kind == "firing":
                self._firing(e, labels[e.seq], targets[e.seq])
            elif e.kind == "resolved":
                await self._resolved(e)
        due = await self.book.due(self._conn, self._now, from_sql=look_for_due)
        if due:
            await self._load_suppression()
            await self.book.complete(self._conn, due, labels=self._may_suppress())
            for gid in due:
                await self._flush(gid)
        await self.book.save(self._conn)
        await enqueue(self._conn, self.notices.rows, self._now)
        next_due: datetime | None = (await self._conn.execute(select(func.min(notify_groups.c.next_flush_at)))).scalar()
        return next_due

    @staticmethod
    def _group_id(t: Target, labels: dict[str, str]) -> str:
        return group_id(t.route_key, t.receiver, group_labels(labels, t.group_by))

    def _firing(self, e: StoredEvent, labels: dict[str, str], targets: Sequence[Target]) -> None:
        starts_at = str(e.payload.get("startsAt", ""))
        for t in targets:
            glabels = group_labels(labels, t.group_by)
            gid = group_id(t.route_key, t.receiver, glabels)
            group = self.book.groups.get(gid)
            if group is None:
                key = group_key_text(t.route_label, glabels)
                group = Group(gid, t.receiver, t.route_key, key, glabels, t.timing, created_at=self._now)
                self.book.add_group(group)
            else:
                group.timing = t.timing
                self.book.touch_group(gid)
            member = self.book.members[gid].get(e.incident_id)
            if member is None:
                member = Member(e.incident_id, e.id, labels, starts_at, False, self._now, payload=dict(e.payload))
                self.book.add_member(gid, member)
            else:
                # The same incident fired again (e.g. replayed): keep what was already sent, refresh the data.
                member.event_id, member.labels, member.starts_at = e.id, labels, starts_at
                member.payload = dict(e.payload)
                self.book.touch_member(gid, e.incident_id, payload=True)
            schedule_after_firing(group, self._now)

    async def _resolved(self, e: StoredEvent) -> None:
        for gid in self.book.groups_of(e.incident_id):
            group = self.book.groups[gid]
            member = self.book.members[gid][e.incident_id]
            if not member.notified:
                await self._load_suppression()
                if self._suppression(member) is None:
                    # Its firing is still waiting for group_wait: send it now, so the resolved has one to follow.
                    await self.book.complete(self._conn, [gid], labels=self._may_suppress())
                    await self._flush(gid)
            if member.notified:
                self.notices.resolved(group, e)
            # Never notified (silenced or inhibited all along): nothing to resolve downstream.
            self.book.drop_member(gid, e.incident_id)
            self.book.touch_group(gid)

    async def _load_suppression(self) -> None:
        if self._silences is None:
            self._silences = await active_silences(self._conn, self._now)
        if self._inhibitor is None:
            self._inhibitor = await load_inhibitor(self._conn, self._plan.inhibit)

    def _may_suppress(self) -> bool:
        """Whether any silence or inhibition is in force (if not, members are read without their labels)."""
        assert self._silences is not None and self._inhibitor is not None
        return bool(self._silences) or self._inhibitor.active

    def _suppression(self, member: Member) -> str | None:
        if not self._may_suppress():
            return None
        assert self._silences is not None and self._inhibitor is not None
        assert member.labels is not None, "members are read with labels while silences or inhibition apply"
        if silenced_by(self._silences, member.labels) is not None:
            return "silenced"
        if self._inhibitor.inhibited(member.incident_id, member.labels):
            return "inhibited"
        return None

    async def _flush(self, gid: str) -> None:
        group = self.book.groups[gid]
        members = list(self.book.members[gid].values())
        receiver = self._plan.receivers.get(group.receiver)
        if receiver is None:
            # The receiver was removed from the config: nothing will ever be sent for this group.
            for m in members:
                self.book.drop_member(gid, m.incident_id)
            return
        before = {m.incident_id: (m.notified, m.suppressed) for m in members}
        # One notification per alert (PagerDuty): at most max_alerts of them per look at the group.
        per_alert = self._plan.templates.per_alert(receiver.template)
        limit = receiver.max_alerts if per_alert else None
        result = flush(group, members, self._suppression, self._now, limit)
        self.book.touch_group(gid)
        if all(m.notified and m.suppressed is None for m in members):
            self.book.mark_all_notified(gid)
        else:
            for m in members:
                if before[m.incident_id] != (m.notified, m.suppressed):
                    self.book.touch_member(gid, m.incident_id)
        for _, reason in result.newly_suppressed:
            self.suppressed[reason] += 1
        muted = [m.incident_id for m, reason in result.newly_suppressed if reason == "silenced"]
        if muted:
            # MTTR reports flag (and can exclude) incidents someone chose to silence.
            await self._conn.execute(update(incidents).where(incidents.c.id.in_(muted)).values(silenced=True))
        if result.send:
            shown = result.send if per_alert else result.send[: receiver.max_alerts]
            await self.book.payloads(self._conn, shown)
            self.notices.group(group, result.send, result.fresh)

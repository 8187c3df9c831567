"""Group state in SQL: load the groups and members one dispatch pass touches, write back what changed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, Table, and_, bindparam, delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.notify.grouping import Group, Member
from collector.notify.router import Timing
from collector.notify.tables import notify_groups, notify_members
from collector.store.tables import events

# Longest IN (...) list per query: well inside SQLite's and asyncpg's parameter limits.
CHUNK = 500


def _chunks(items: Sequence[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), CHUNK):
        yield list(items[i : i + CHUNK])


def _group(row: Any) -> Group:
    timing = Timing(
        timedelta(seconds=row.group_wait_s),
        timedelta(seconds=row.group_interval_s),
        timedelta(seconds=row.repeat_interval_s),
    )
    return Group(
        id=row.id,
        receiver=row.receiver,
        route_key=row.route_key,
        key=row.group_key,
        labels=dict(row.group_labels),
        timing=timing,
        created_at=row.created_at,
        next_flush_at=row.next_flush_at,
        last_flush_at=row.last_flush_at,
        last_sent_at=row.last_sent_at,
    )


_WITH_LABELS = list(notify_members.c)
_LIGHT = [c for c in _WITH_LABELS if c.name != "labels"]


def _member(row: Any) -> Member:
    labels = row._mapping.get("labels")
    return Member(
        row.incident_id,
        row.event_id,
        dict(labels) if labels is not None else None,
        row.starts_at,
        row.notified,
        row.created_at,
        row.suppressed,
    )


def _group_row(g: Group) -> dict[str, Any]:
    return {
        "id": g.id,
        "receiver": g.receiver,
        "route_key": g.route_key,
        "group_key": g.key,
        "group_labels": g.labels,
        "group_wait_s": g.timing.group_wait.total_seconds(),
        "group_interval_s": g.timing.group_interval.total_seconds(),
        "repeat_interval_s": g.timing.repeat_interval.total_seconds(),
        "created_at": g.created_at,
        "next_flush_at": g.next_flush_at,
        "last_flush_at": g.last_flush_at,
        "last_sent_at": g.last_sent_at,
    }


def _member_row(group_id: str, m: Member) -> dict[str, Any]:
    return {
        "group_id": group_id,
        "incident_id": m.incident_id,
        "event_id": m.event_id,
        "labels": m.labels,
        "starts_at": m.starts_at,
        "notified": m.notified,
        "suppressed": m.suppressed,
        "created_at": m.created_at,
    }


_GROUP_CHANGES = (
    "group_wait_s",
    "group_interval_s",
    "repeat_interval_s",
    "next_flush_at",
    "last_flush_at",
    "last_sent_at",
)
_REFRESHED = ("event_id", "labels", "starts_at", "notified", "suppressed")
_FLAGS = ("notified", "suppressed")


async def _update_many(
    conn: AsyncConnection, table: Table, keys: Sequence[str], columns: Sequence[str], rows: Sequence[dict[str, Any]]
) -> None:
    """One executemany UPDATE of `columns`, matching rows on `keys` (bind names are prefixed: not column names)."""
    if not rows:
        return
    stmt = (
        update(table)
        .where(and_(*(table.c[k] == bindparam(f"k_{k}", type_=table.c[k].type) for k in keys)))
        .values({c: bindparam(f"v_{c}", type_=table.c[c].type) for c in columns})
    )
    params = [{**{f"k_{k}": r[k] for k in keys}, **{f"v_{c}": r[c] for c in columns}} for r in rows]
    await conn.execute(stmt, params)


class GroupBook:
    """The groups and members a dispatch pass has read, and which of them it created, changed or removed."""

    def __init__(self) -> None:
        self.groups: dict[str, Group] = {}
        self.members: dict[str, dict[str, Member]] = {}
        # Groups whose members are all in memory (new ones, or loaded in full).
        self._complete: set[str] = set()
        self._new_groups: set[str] = set()
        self._changed_groups: set[str] = set()
        self._new_members: set[tuple[str, str]] = set()
        self._changed_flags: set[tuple[str, str]] = set()
        self._changed_payload: set[tuple[str, str]] = set()
        self._dropped_members: set[tuple[str, str]] = set()
        # Groups whose every member is now notified and unsuppressed: one UPDATE instead of one per member.
        self._all_notified: set[str] = set()
        self._added_here: set[str] = set()
        self._by_incident: dict[str, set[str]] = {}

    # --- reading -------------------------------------------------------------------------

    async def load_groups(self, conn: AsyncConnection, ids: Iterable[str]) -> None:
        wanted = sorted(set(ids) - set(self.groups))
        for chunk in _chunks(wanted):
            for row in await conn.execute(select(notify_groups).where(notify_groups.c.id.in_(chunk))):
                self.groups[row.id] = _group(row)
                self.members.setdefault(row.id, {})

    async def load_incidents(self, conn: AsyncConnection, incident_ids: Iterable[str]) -> None:
        """Load the member rows of these incidents (in every group they are in) and their groups."""
        wanted = sorted(set(incident_ids))
        group_ids: set[str] = set()
        for chunk in _chunks(wanted):
            query = select(*_WITH_LABELS).where(notify_members.c.incident_id.in_(chunk))
            for row in await conn.execute(query):
                self._remember(row.group_id, _member(row))
                group_ids.add(row.group_id)
        await self.load_groups(conn, group_ids)

    async def complete(self, conn: AsyncConnection, group_ids: Iterable[str], *, labels: bool) -> None:
        """Make sure every member of these groups is in memory (a flush needs all of them), with labels if asked."""
        wanted = sorted(g for g in set(group_ids) if g not in self._complete)
        columns = _WITH_LABELS if labels else _LIGHT
        for chunk in _chunks(wanted):
            for row in await conn.execute(select(*columns).where(notify_members.c.group_id.in_(chunk))):
                key = (row.group_id, row.incident_id)
                if key in self._dropped_members or row.incident_id in self.members.get(row.group_id, {}):
                    continue
                self._remember(row.group_id, _member(row))
        self._complete.update(wanted)

    async def payloads(self, conn: AsyncConnection, members: Sequence[Member]) -> None:
        """Read the event payloads of these members (those going into a notification) from `events`."""
        missing: dict[str, list[Member]] = {}
        for m in members:
            if m.payload is None:
                missing.setdefault(m.event_id, []).append(m)
        for chunk in _chunks(sorted(missing)):
            for row in await conn.execute(select(events.c.id, events.c.payload).where(events.c.id.in_(chunk))):
                for m in missing[row.id]:
                    m.payload = dict(row.payload)

    async def due(self, conn: AsyncConnection, now: datetime, *, from_sql: bool) -> list[str]:
        """Groups whose next look is due: among those in memory, and (if `from_sql`) those in SQL."""
        ids = {g.id for g in self.groups.values() if g.next_flush_at is not None and g.next_flush_at <= now}
        if from_sql:
            rows = await conn.execute(select(notify_groups.c.id).where(notify_groups.c.next_flush_at <= now))
            ids |= {r.id for r in rows}
        await self.load_groups(conn, ids)
        return sorted(ids, key=lambda i: (self.groups[i].next_flush_at or now, i))

    def _remember(self, group_id: str, member: Member) -> None:
        self.members.setdefault(group_id, {})[member.incident_id] = member
        self._by_incident.setdefault(member.incident_id, set()).add(group_id)

    def groups_of(self, incident_id: str) -> list[str]:
        return sorted(self._by_incident.get(incident_id, ()))

    # --- changing ------------------------------------------------------------------------

    def add_group(self, group: Group) -> None:
        self.groups[group.id] = group
        self.members[group.id] = {}
        self._complete.add(group.id)
        self._new_groups.add(group.id)
        self._added_here.add(group.id)

    def touch_group(self, group_id: str) -> None:
        self._changed_groups.add(group_id)

    def add_member(self, group_id: str, member: Member) -> None:
        self._remember(group_id, member)
        self._new_members.add((group_id, member.incident_id))
        self._dropped_members.discard((group_id, member.incident_id))

    def touch_member(self, group_id: str, incident_id: str, *, payload: bool = False) -> None:
        (self._changed_payload if payload else self._changed_flags).add((group_id, incident_id))

    def mark_all_notified(self, group_id: str) -> None:
        self._all_notified.add(group_id)

    def drop_member(self, group_id: str, incident_id: str) -> None:
        self.members.get(group_id, {}).pop(incident_id, None)
        self._by_incident.get(incident_id, set()).discard(group_id)
        key = (group_id, incident_id)
        self._changed_flags.discard(key)
        self._changed_payload.discard(key)
        if key in self._new_members:
            self._new_members.discard(key)
        else:
            self._dropped_members.add(key)

    # --- writing -------------------------------------------------------------------------

    async def save(self, conn: AsyncConnection) -> None:
        # A group created in this batch whose members all resolved in it is never written.
        self._new_groups = {g for g in self._new_groups if self.members.get(g)}
        await self._save_groups(conn)
        await self._save_members(conn)
        # A group with no members left is gone; the next firing starts a new one (with group_wait).
        emptied = sorted({g for g, _ in self._dropped_members} - self._new_groups)
        for chunk in _chunks(emptied):
            await conn.execute(
                delete(notify_groups).where(
                    notify_groups.c.id.in_(chunk),
                    ~exists().where(notify_members.c.group_id == notify_groups.c.id),
                )
            )

    async def _save_groups(self, conn: AsyncConnection) -> None:
        new = [_group_row(self.groups[g]) for g in sorted(self._new_groups)]
        if new:
            await conn.execute(notify_groups.insert(), new)
        changed = [
            _group_row(self.groups[g])
            for g in sorted(self._changed_groups - self._new_groups)
            if g in self.groups and g not in self._added_here
        ]
        await _update_many(conn, notify_groups, ("id",), _GROUP_CHANGES, changed)

    async def _save_members(self, conn: AsyncConnection) -> None:
        dropped = sorted(self._dropped_members)
        if dropped:
            key = and_(
                notify_members.c.group_id == bindparam("k_group", type_=String),
                notify_members.c.incident_id == bindparam("k_incident", type_=String),
            )
            await conn.execute(delete(notify_members).where(key), [{"k_group": g, "k_incident": i} for g, i in dropped])
        new = [_member_row(g, self.members[g][i]) for g, i in sorted(self._new_members)]
        if new:
            await conn.execute(notify_members.insert(), new)
        skip = self._new_members | self._dropped_members
        refreshed = sorted(self._changed_payload - skip)
        keys = ("group_id", "incident_id")
        rows = [_member_row(g, self.members[g][i]) for g, i in refreshed]
        await _update_many(conn, notify_members, keys, _REFRESHED, rows)
        for gid in sorted(self._all_notified):
            if all((gid, i) in self._new_members for i in self.members.get(gid, {})):
                continue  # every member was just inserted with these flags
            await conn.execute(
                update(notify_members)
                .where(
                    notify_members.c.group_id == gid,
                    or_(notify_members.c.notified.is_(False), notify_members.c.suppressed.is_not(None)),
                )
                .values(notified=True, suppressed=None)
            )
        flagged = sorted(self._changed_flags - skip - set(refreshed))
        rows = [_member_row(g, self.members[g][i]) for g, i in flagged]
        await _update_many(conn, notify_members, keys, _FLAGS, rows)

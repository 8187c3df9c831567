"""Notification groups: which alerts travel together and when a group is sent (pure; no I/O).

A group is one route + receiver + the values of its `group_by` labels. A new
group waits `group_wait` before its first notification, so alerts that fire
together arrive together; after that it is looked at again no sooner than
`group_interval` after the last look when alerts were added, and re-sent every
`repeat_interval` while it still has firing alerts. Resolved alerts do not wait
for these timers (see the dispatcher).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from collector.notify.router import Timing

# A floor under the timers that drive re-checks, so a 0s interval cannot spin the dispatcher.
MIN_RECHECK = timedelta(milliseconds=50)


@dataclass(slots=True)
class Group:
    id: str
    receiver: str
    route_key: str
    key: str
    labels: dict[str, str]
    timing: Timing
    created_at: datetime
    next_flush_at: datetime | None = None
    last_flush_at: datetime | None = None
    last_sent_at: datetime | None = None


@dataclass(slots=True)
class Member:
    """One firing alert in a group: its latest firing event, and whether a notification carried it."""

    incident_id: str
    event_id: str
    # None when read without them: only silences and inhibition need the labels of every member.
    labels: dict[str, str] | None
    starts_at: str
    notified: bool
    created_at: datetime
    suppressed: str | None = None
    # The event payload, read from SQL only for members that go into a notification.
    payload: dict[str, Any] | None = None

    def sort_key(self) -> tuple[str, str]:
        return (self.starts_at, self.incident_id)


def group_labels(labels: Mapping[str, str], group_by: Sequence[str]) -> dict[str, str]:
    """The `group_by` labels the alert has (a missing label groups with the others that miss it)."""
    return {k: labels[k] for k in group_by if k in labels}


def group_id(route_key: str, receiver: str, labels: Mapping[str, str]) -> str:
    text = "\x1f".join([route_key, receiver, *(f"{k}\x1e{v}" for k, v in sorted(labels.items()))])
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def group_key_text(route_label: str, labels: Mapping[str, str]) -> str:
    """Alertmanager-style groupKey: `{route matchers}:{group labels}`."""
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{route_label}:{{{inner}}}"


def schedule_after_firing(group: Group, now: datetime) -> None:
    """An alert was added to the group or changed: when should the group be looked at?"""
    if group.last_flush_at is None:
        due = group.created_at + group.timing.group_wait
    else:
        due = max(now, group.last_flush_at + group.timing.group_interval)
    group.next_flush_at = due if group.next_flush_at is None else min(group.next_flush_at, due)


Suppression = Callable[[Member], str | None]


@dataclass(frozen=True, slots=True)
class Flush:
    """What one look at a group decided: the alerts to send (empty: nothing) and the newly suppressed."""

    send: list[Member]
    fresh: list[Member]
    newly_suppressed: list[tuple[Member, str]]


def flush(
    group: Group, members: Sequence[Member], suppression: Suppression, now: datetime, limit: int | None = None
) -> Flush:
    """Decide whether the group is sent now, update its timers and its members' flags.

    Sent are all firing alerts that are not silenced or inhibited now, when one of
    them was never notified, or when `repeat_interval` has passed since the last send.
    With `limit` (one notification per alert) at most that many are sent, new ones
    first; the rest wait for the next look, `group_interval` later.
    """
    notifiable: list[Member] = []
    newly: list[tuple[Member, str]] = []
    for m in members:
        reason = suppression(m)
        if reason is not None and reason != m.suppressed and not m.notified:
            newly.append((m, reason))
        m.suppressed = reason
        if reason is None:
            notifiable.append(m)
    notifiable.sort(key=Member.sort_key)
    fresh = [m for m in notifiable if not m.notified]
    repeat = max(group.timing.repeat_interval, MIN_RECHECK)
    repeat_due = group.last_sent_at is not None and now >= group.last_sent_at + repeat
    send = notifiable if notifiable and (fresh or repeat_due) else []
    if limit is not None:
        send = (fresh + [m for m in send if m.notified])[:limit] if send else []
    group.last_flush_at = now
    if send:
        group.last_sent_at = now
        for m in send:
            m.notified = True
    due: list[datetime] = []
    if group.last_sent_at is not None and any(m.notified for m in members):
        due.append(group.last_sent_at + repeat)
    if any(not m.notified for m in members):
        # Silenced or inhibited alerts that were never sent: look again when a silence may have ended.
        due.append(now + max(group.timing.group_interval, MIN_RECHECK))
    group.next_flush_at = min(due) if due else None
    return Flush(send, fresh, newly)

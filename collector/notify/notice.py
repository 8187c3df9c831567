"""Notices: turn a group send or a resolved event into rendered outbox rows for one receiver."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from collector.notify.alert import alert_view
from collector.notify.context import notification_context
from collector.notify.grouping import Group, Member
from collector.notify.outbox import NewDelivery
from collector.notify.plan import Plan
from collector.settings import Receiver
from collector.store.eventlog import StoredEvent


class Notices:
    """Collects the outbox rows of one dispatch pass, in the order they must be delivered."""

    def __init__(self, plan: Plan, now: datetime, external_url: str) -> None:
        self._plan = plan
        self._now = now
        self._external_url = external_url
        self.rows: list[NewDelivery] = []

    def group(self, group: Group, send: Sequence[Member], fresh: Sequence[Member]) -> None:
        """A firing notification of the group's alerts (the first max_alerts; the rest counted as truncated)."""
        receiver = self._plan.receivers.get(group.receiver)
        if receiver is None:
            return
        new = {m.incident_id for m in fresh}
        per_alert = self._plan.templates.per_alert(receiver.template)
        batches: list[Sequence[Member]] = [[m] for m in send] if per_alert else [send]
        for batch in batches:
            shown = list(batch[: receiver.max_alerts])
            nid = str(uuid.uuid4())
            # A notification that carries exactly one new event is that event: its id is the key,
            # so receivers can match it across retries, restarts and replicas. Anything else
            # (several alerts, a repeat) is its own notification with its own id.
            single = len(batch) == 1 and batch[0].incident_id in new
            key = batch[0].event_id if single else nid
            kind = "firing" if any(m.incident_id in new for m in batch) else "repeat"
            alerts = [alert_view(m.payload or _from_member(m), "firing", self._external_url) for m in shown]
            self._add(receiver, group, nid, key, kind, alerts, len(batch))

    def resolved(self, group: Group, event: StoredEvent) -> None:
        receiver = self._plan.receivers.get(group.receiver)
        if receiver is None:
            return
        alerts = [alert_view(event.payload, "resolved", self._external_url)]
        self._add(receiver, group, str(uuid.uuid4()), event.id, "resolved", alerts, 1)

    def _add(
        self,
        receiver: Receiver,
        group: Group,
        nid: str,
        key: str,
        kind: str,
        alerts: list[dict[str, Any]],
        total: int,
    ) -> None:
        ctx = notification_context(
            kind="resolved" if kind == "resolved" else "firing",
            receiver=receiver.name,
            receiver_url=receiver.url,
            group_key=group.key,
            group_labels=group.labels,
            alerts=alerts,
            total=total,
            external_url=self._external_url,
            now=self._now,
        )
        rendered = self._plan.templates.render(receiver.template, ctx)
        self.rows.append(
            NewDelivery(
                id=nid,
                receiver=receiver.name,
                ordering_key=group.id,
                kind=kind,
                idempotency_key=key,
                group_key=group.key,
                incident_ids=[a["incidentId"] for a in alerts],
                alert_count=total,
                content_type=rendered.content_type,
                body=rendered.body,
            )
        )


def _from_member(m: Member) -> dict[str, Any]:
    """What is known of an alert whose event is no longer in `events`: enough to identify it."""
    return {"incidentId": m.incident_id, "labels": m.labels or {}, "startsAt": m.starts_at}

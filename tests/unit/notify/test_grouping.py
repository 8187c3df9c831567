"""When a group is sent: group_wait, group_interval, repeat_interval, suppressed members (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from collector.notify.grouping import (
    Group,
    Member,
    flush,
    group_id,
    group_key_text,
    group_labels,
    schedule_after_firing,
)
from collector.notify.router import Timing

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
TIMING = Timing(timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=2))


def _group() -> Group:
    return Group("g", "team", "r", "{}:{}", {}, TIMING, created_at=T0)


def _member(n: int, *, notified: bool = False) -> Member:
    return Member(f"i{n}", f"e{n}", {"alertname": "A"}, f"2026-11-22T09:5{n}:00.000Z", notified, T0)


def _never(_: Member) -> str | None:
    return None


def test_a_new_group_waits_group_wait_then_later_alerts_wait_group_interval() -> None:
    g = _group()
    schedule_after_firing(g, T0)
    assert g.next_flush_at == T0 + timedelta(seconds=30)
    members = [_member(1), _member(2)]
    result = flush(g, members, _never, T0 + timedelta(seconds=30))
    assert [m.incident_id for m in result.send] == ["i1", "i2"]
    assert all(m.notified for m in members)
    assert g.next_flush_at == T0 + timedelta(seconds=30) + timedelta(hours=2)
    later = T0 + timedelta(minutes=1)
    schedule_after_firing(g, later)
    assert g.next_flush_at == T0 + timedelta(seconds=30) + timedelta(minutes=5)


def test_nothing_new_and_no_repeat_due_sends_nothing_then_repeat_resends_all() -> None:
    g = _group()
    g.last_sent_at = g.last_flush_at = T0
    members = [_member(1, notified=True)]
    assert flush(g, members, _never, T0 + timedelta(minutes=5)).send == []
    result = flush(g, members, _never, T0 + timedelta(hours=2))
    assert [m.incident_id for m in result.send] == ["i1"] and result.fresh == []


def test_suppressed_members_are_left_out_counted_once_and_rechecked() -> None:
    g = _group()
    members = [_member(1), _member(2)]

    def silenced(m: Member) -> str | None:
        return "silenced" if m.incident_id == "i2" else None

    first = flush(g, members, silenced, T0)
    assert [m.incident_id for m in first.send] == ["i1"]
    assert [(m.incident_id, r) for m, r in first.newly_suppressed] == [("i2", "silenced")]
    # Looked at again after group_interval, in case the silence ends.
    assert g.next_flush_at == T0 + timedelta(minutes=5)
    second = flush(g, members, silenced, T0 + timedelta(minutes=5))
    assert second.newly_suppressed == [] and second.send == []
    third = flush(g, members, _never, T0 + timedelta(minutes=10))
    assert [m.incident_id for m in third.send] == ["i1", "i2"] and [m.incident_id for m in third.fresh] == ["i2"]


def test_per_alert_limit_sends_new_alerts_first_and_leaves_the_rest_for_later() -> None:
    g = _group()
    members = [_member(n) for n in range(5)]
    result = flush(g, members, _never, T0, limit=2)
    assert [m.incident_id for m in result.send] == ["i0", "i1"]
    assert [m.notified for m in members] == [True, True, False, False, False]
    assert g.next_flush_at == T0 + timedelta(minutes=5)


def test_group_identity_and_key() -> None:
    labels = group_labels({"alertname": "A", "service.name": "s", "pod": "p1"}, ("alertname", "service.name", "x"))
    assert labels == {"alertname": "A", "service.name": "s"}
    assert group_id("r", "team", labels) == group_id("r", "team", dict(reversed(labels.items())))
    assert group_id("r", "team", labels) != group_id("r", "other", labels)
    assert group_key_text('{tier="P0"}', labels) == '{tier="P0"}:{alertname="A", service.name="s"}'

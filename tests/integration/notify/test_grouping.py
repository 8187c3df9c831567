"""Grouping timers end to end: group_wait batches, repeat_interval re-sends, resolved events never wait."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from collector.notify import Notifier
from collector.store.db import Database
from tests.integration.notify.conftest import MakeNotifier
from tests.integration.notify.harness import (
    Sink,
    eventually,
    firing,
    make_settings,
    resolved,
    wait_until,
    write,
    write_many,
)


def _route(**timers: Any) -> list[dict[str, Any]]:
    return [{"match": {"tier": ["P0", "P1"]}, "receivers": ["team"], **timers}]


async def test_group_wait_batches_alerts_that_fire_together(
    sink: Sink, database: Database, notifier_factory: MakeNotifier
) -> None:
    settings = make_settings(sink, {"team": {}}, routes=_route(group_wait="400ms", group_interval="1h"))
    notifier = await notifier_factory(settings)
    fires = [firing(tier="P1", labels={"http.route": f"/r{i}"}) for i in range(3)]
    for f in fires:
        await write(database, f)
        notifier.wake()
    await wait_until(lambda: len(sink.at("/team")) == 1, what="the grouped notification")
    [got] = sink.at("/team")
    body = got.json()
    assert sorted(a["incidentId"] for a in body["alerts"]) == sorted(f.incident_id for f in fires)
    assert body["groupLabels"] == {"alertname": "CheckoutErrorRatio", "service.name": "checkout"}
    assert body["commonLabels"] == {"alertname": "CheckoutErrorRatio", "tier": "P1", "service.name": "checkout"}
    # Three events in one notification: the notification's own id is the key, fixed when it was written.
    [row] = await notifier.deliveries()
    assert got.key == row["id"] and got.key not in {f.id for f in fires}


async def test_repeat_interval_resends_a_group_that_is_still_firing(
    sink: Sink, database: Database, notifier_factory: MakeNotifier
) -> None:
    routes = _route(group_wait="0s", group_interval="100ms", repeat_interval="300ms")
    notifier = await notifier_factory(make_settings(sink, {"team": {}}, routes=routes))
    fire = firing()
    await write(database, fire)
    notifier.wake()
    await wait_until(lambda: len(sink.at("/team")) >= 3, what="two repeats")
    first, *repeats = sink.at("/team")
    assert first.key == fire.id
    assert all(r.json()["alerts"][0]["incidentId"] == fire.incident_id for r in repeats)
    assert len({r.key for r in repeats}) == len(repeats) and fire.id not in {r.key for r in repeats}
    kinds = [r["kind"] for r in reversed(await notifier.deliveries())]
    assert kinds[0] == "firing" and set(kinds[1:]) == {"repeat"}


async def test_a_resolved_is_not_held_back_by_group_interval(
    sink: Sink, database: Database, notifier_factory: MakeNotifier
) -> None:
    routes = _route(group_wait="0s", group_interval="1h")
    notifier = await notifier_factory(make_settings(sink, {"team": {}}, routes=routes))
    a = firing(labels={"http.route": "/a"})
    await write(database, a)
    notifier.wake()
    await wait_until(lambda: len(sink.at("/team")) == 1, what="A firing")
    b = firing(labels={"http.route": "/b"})
    await write(database, b)  # same group: waits for group_interval (1h)
    end = resolved(a)
    await write(database, end)
    notifier.wake()
    await wait_until(lambda: len(sink.at("/team")) == 2, what="A resolved")
    assert [r.key for r in sink.at("/team")] == [a.id, end.id]
    assert sink.at("/team")[1].json()["status"] == "resolved"


async def test_a_resolved_during_group_wait_sends_the_firing_first(
    sink: Sink, database: Database, notifier_factory: MakeNotifier
) -> None:
    routes = _route(group_wait="1h")
    notifier = await notifier_factory(make_settings(sink, {"team": {}}, routes=routes))
    fire = firing(tier="P1")
    await write(database, fire)
    notifier.wake()
    end = resolved(fire)
    await write(database, end)
    notifier.wake()
    await wait_until(lambda: len(sink.at("/team")) == 2, what="firing and resolved")
    assert [r.json()["status"] for r in sink.at("/team")] == ["firing", "resolved"]
    assert [r.key for r in sink.at("/team")] == [fire.id, end.id]


async def test_a_storm_of_20000_alerts_in_one_group_gives_bounded_payloads(
    sink: Sink, database: Database, notifier_factory: MakeNotifier
) -> None:
    total = 20_000
    routes = _route(group_wait="2s", group_interval="2s")
    notifier = await notifier_factory(make_settings(sink, {"team": {"max_alerts": 50}}, routes=routes))
    await write_many(database, [firing(labels={"http.route": f"/r{i}"}) for i in range(total)])
    notifier.wake()

    def complete() -> bool:
        return any(len(r.json()["alerts"]) + r.json()["truncatedAlerts"] == total for r in sink.at("/team"))

    await wait_until(complete, timeout=60, what="a notification covering all 20,000 alerts")
    for got in sink.at("/team"):
        body = got.json()
        assert len(body["alerts"]) == 50
        assert len(got.body) < 64_000
    last = sink.at("/team")[-1].json()
    assert last["truncatedAlerts"] == total - 50
    await eventually(lambda: _delivered(notifier), what="the outbox to drain")


async def _delivered(notifier: Notifier) -> bool:
    rows = await notifier.deliveries()
    return all(r["state"] == "delivered" for r in rows)


async def test_with_no_routes_p0_pages_at_once_and_p2_waits_for_the_digest(
    sink: Sink, database: Database, notifier_factory: MakeNotifier
) -> None:
    notifier = await notifier_factory(make_settings(sink, {"oncall": {}}))
    p2 = firing(tier="P2", rule="SlowCron")
    p0 = firing(tier="P0")
    await write(database, p2, p0)
    notifier.wake()
    await wait_until(lambda: len(sink.at("/oncall")) == 1, what="the P0 page")
    assert sink.at("/oncall")[0].key == p0.id
    [(_, next_run)] = notifier.digests.jobs()
    assert next_run is not None and (next_run.hour, next_run.minute) == (9, 0)
    assert next_run.utcoffset() == timedelta(0)  # UTC unless the schedule names a time zone

"""Retries: a sink that is down, rate-limits, is slow or refuses for good; receivers never wait for each other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from prometheus_client import CollectorRegistry

from collector.notify import Notifier
from collector.store.db import Database
from tests.integration.notify.conftest import MakeApi, MakeNotifier
from tests.integration.notify.harness import (
    Answer,
    Sink,
    eventually,
    firing,
    make_settings,
    resolved,
    wait_until,
    write,
)


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


async def test_sink_down_for_a_while_then_up_gets_each_event_in_order(
    sink: Sink, database: Database, notifier_factory: MakeNotifier
) -> None:
    notifier = await notifier_factory(make_settings(sink, {"oncall": {}}))
    await sink.stop()
    fires = [firing(labels={"http.route": f"/r{i}"}, rule=f"Rule{i}") for i in range(3)]
    ends = [resolved(f) for f in fires]
    await write(database, *fires)
    await write(database, *ends)
    notifier.wake()

    async def failed_attempts() -> bool:
        rows = await notifier.deliveries(state="pending")
        return any(r["attempts"] >= 2 for r in rows)

    await eventually(failed_attempts, what="attempts against the closed port")
    await sink.start()
    await eventually(lambda: _all_delivered(notifier), what="every delivery")

    received = sink.at("/oncall")
    by_key: dict[str, set[bytes]] = {}
    for r in received:
        by_key.setdefault(r.key, set()).add(r.body)
    # Each event arrived under one key, with one body, however often it was sent.
    assert all(len(bodies) == 1 for bodies in by_key.values())
    for f, end in zip(fires, ends, strict=True):
        mine = [r for r in received if r.json()["alerts"][0]["incidentId"] == f.incident_id]
        assert {r.key for r in mine} == {f.id, end.id}
        statuses = [r.json()["status"] for r in mine]
        # The resolved never arrives before its firing.
        assert statuses[0] == "firing"
        assert statuses.index("resolved") > statuses.index("firing")


async def _all_delivered(notifier: Notifier) -> bool:
    rows = await notifier.deliveries()
    return bool(rows) and all(r["state"] == "delivered" for r in rows)


async def test_429_retry_after_in_seconds_is_honoured(
    sink: Sink, database: Database, notifier_factory: MakeNotifier
) -> None:
    sink.script("/oncall", [Answer(429, {"Retry-After": "1"})])
    notifier = await notifier_factory(make_settings(sink, {"oncall": {}}))
    fire = firing()
    await write(database, fire)
    notifier.wake()

    async def waiting() -> bool:
        rows = await notifier.deliveries()
        return bool(rows) and rows[0]["attempts"] == 1 and rows[0]["state"] == "pending"

    await eventually(waiting, what="the rate-limited attempt")
    [row] = await notifier.deliveries()
    assert row["lastStatus"] == 429
    # The backoff alone would wait at most 0.3s (FAST): this is the receiver's second.
    assert _parse(row["nextAttemptAt"]) - _parse(row["lastAttemptAt"]) >= timedelta(seconds=0.95)
    await wait_until(lambda: len(sink.at("/oncall")) == 2, what="the second attempt")
    assert sink.at("/oncall")[0].key == sink.at("/oncall")[1].key == fire.id
    await eventually(lambda: _all_delivered(notifier), what="delivery")


async def test_429_retry_after_as_http_date_is_honoured(
    sink: Sink, database: Database, notifier_factory: MakeNotifier
) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    sink.script("/oncall", [Answer(429, {"Retry-After": later})])
    notifier = await notifier_factory(make_settings(sink, {"oncall": {}}))
    await write(database, firing())
    notifier.wake()

    async def waiting() -> bool:
        rows = await notifier.deliveries()
        return bool(rows) and rows[0]["attempts"] == 1

    await eventually(waiting, what="the rate-limited attempt")
    [row] = await notifier.deliveries()
    # The date has whole seconds: at least one of the two remains, well above the 0.3s backoff cap.
    assert _parse(row["nextAttemptAt"]) - _parse(row["lastAttemptAt"]) >= timedelta(seconds=0.5)
    await eventually(lambda: _all_delivered(notifier), what="delivery")


async def test_a_sink_slower_than_the_timeout_is_retried(
    sink: Sink, database: Database, notifier_factory: MakeNotifier
) -> None:
    sink.script("/oncall", [Answer(200, delay=2.0)])
    notifier = await notifier_factory(make_settings(sink, {"oncall": {"timeout": "300ms"}}))
    fire = firing()
    await write(database, fire)
    notifier.wake()
    await eventually(lambda: _all_delivered(notifier), what="delivery after the timeout")
    [row] = await notifier.deliveries()
    assert row["attempts"] == 2
    assert [r.key for r in sink.at("/oncall")] == [fire.id, fire.id]


async def test_permanent_400_is_dead_lettered_and_a_manual_retry_delivers_it(
    sink: Sink, database: Database, notifier_factory: MakeNotifier, api_client: MakeApi
) -> None:
    sink.script("/oncall", [Answer(400)])
    registry = CollectorRegistry()
    notifier = await notifier_factory(make_settings(sink, {"oncall": {}}), registry=registry)
    api = await api_client(notifier)
    fire = firing()
    await write(database, fire)
    notifier.wake()

    async def dead() -> bool:
        return bool(await notifier.deliveries(state="dead"))

    await eventually(dead, what="the dead letter")
    response = await api.get("/api/deliveries", params={"state": "dead"})
    assert response.status == 200
    [row] = (await response.json())["deliveries"]
    assert row["lastStatus"] == 400 and row["attempts"] == 1 and row["receiver"] == "oncall"
    assert row["idempotencyKey"] == fire.id
    assert registry.get_sample_value("vigil_notifications_total", {"receiver": "oncall", "outcome": "dead"}) == 1

    response = await api.post(f"/api/deliveries/{row['id']}/retry")
    assert response.status == 200
    assert (await response.json())["state"] == "pending"
    await eventually(lambda: _all_delivered(notifier), what="the retried delivery")
    assert [r.key for r in sink.at("/oncall")] == [fire.id, fire.id]
    again = await api.post(f"/api/deliveries/{row['id']}/retry")
    assert again.status == 409
    missing = await api.post("/api/deliveries/nope/retry")
    assert missing.status == 404


async def test_one_slow_failing_receiver_does_not_delay_the_others(
    sink: Sink, database: Database, notifier_factory: MakeNotifier
) -> None:
    sink.default("/broken", Answer(503, delay=3.0))
    settings = make_settings(sink, {"a": {}, "b": {}, "broken": {}})
    notifier = await notifier_factory(settings)
    fires = [firing(rule=f"Rule{i}") for i in range(10)]
    await write(database, *fires)
    notifier.wake()
    want = {f.id for f in fires}
    await wait_until(lambda: {r.key for r in sink.at("/a")} == want, what="receiver a")
    await wait_until(lambda: {r.key for r in sink.at("/b")} == want, what="receiver b")
    broken = await notifier.deliveries(receiver="broken")
    # a and b have everything while the broken receiver's first answers have not even come back.
    assert len(broken) == 10 and all(r["state"] == "pending" and r["attempts"] == 0 for r in broken)

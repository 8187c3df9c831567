"""Silences and inhibition end to end, including the resolved of an alert muted after its firing went out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from collector.model import iso
from collector.notify import Notifier
from collector.store.db import Database
from collector.store.tables import events
from tests.integration.notify.conftest import MakeApi, MakeNotifier
from tests.integration.notify.harness import Sink, eventually, firing, make_settings, resolved, wait_until, write

ROUTES = [
    {"match": {"tier": "P0"}, "receivers": ["team"], "group_wait": "0s", "group_interval": "200ms"},
    {"match": {"tier": "P1"}, "receivers": ["team"], "group_wait": "200ms", "group_interval": "200ms"},
]
INHIBIT = [{"source": {"tier": "P0"}, "target": {"tier": ["P1", "P2"]}, "equal": ["service.name"]}]


def _dispatched(database: Database) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        async with database.engine.connect() as conn:
            left = (await conn.execute(select(func.count()).where(events.c.dispatched_at.is_(None)))).scalar()
        return left == 0

    return check


def _silence(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    body = {
        "matchers": {"service.name": "checkout", "alertname": {"regex": "Checkout.*"}},
        "startsAt": iso(now - timedelta(minutes=1)),
        "endsAt": iso(now + timedelta(hours=1)),
        "createdBy": "alice",
        "comment": "deploying checkout",
    }
    body.update(overrides)
    return body


def _suppressed(registry: CollectorRegistry, reason: str) -> float:
    return registry.get_sample_value("vigil_notifications_suppressed_total", {"reason": reason}) or 0.0


async def test_an_alert_silenced_from_the_start_sends_neither_firing_nor_resolved(
    sink: Sink, database: Database, notifier_factory: MakeNotifier, api_client: MakeApi
) -> None:
    registry = CollectorRegistry()
    notifier = await notifier_factory(make_settings(sink, {"team": {}}, routes=ROUTES), registry=registry)
    api = await api_client(notifier)
    created = await api.post("/api/silences", json=_silence())
    assert created.status == 201
    fire = firing()
    await write(database, fire)
    notifier.wake()
    await wait_until(lambda: _suppressed(registry, "silenced") == 1, what="the silenced firing")
    await write(database, resolved(fire))
    notifier.wake()
    await eventually(_dispatched(database), what="the resolved to be dispatched")
    assert sink.received == []
    assert await notifier.deliveries() == []


async def test_a_resolved_goes_out_when_the_alert_was_silenced_after_its_firing(
    sink: Sink, database: Database, notifier_factory: MakeNotifier, api_client: MakeApi
) -> None:
    notifier = await notifier_factory(make_settings(sink, {"team": {}}, routes=ROUTES))
    api = await api_client(notifier)
    fire = firing()
    await write(database, fire)
    notifier.wake()
    await wait_until(lambda: len(sink.at("/team")) == 1, what="the firing")
    assert (await api.post("/api/silences", json=_silence())).status == 201
    end = resolved(fire)
    await write(database, end)
    notifier.wake()
    await wait_until(lambda: len(sink.at("/team")) == 2, what="the resolved")
    assert [r.key for r in sink.at("/team")] == [fire.id, end.id]


async def test_expiring_a_silence_lets_a_still_firing_alert_through(
    sink: Sink, database: Database, notifier_factory: MakeNotifier, api_client: MakeApi
) -> None:
    registry = CollectorRegistry()
    notifier = await notifier_factory(make_settings(sink, {"team": {}}, routes=ROUTES), registry=registry)
    api = await api_client(notifier)
    silence = await (await api.post("/api/silences", json=_silence())).json()
    fire = firing()
    await write(database, fire)
    notifier.wake()
    await wait_until(lambda: _suppressed(registry, "silenced") == 1, what="the silenced firing")
    expired = await api.delete(f"/api/silences/{silence['id']}")
    assert expired.status == 200 and (await expired.json())["state"] == "expired"
    await wait_until(lambda: len(sink.at("/team")) == 1, what="the firing after the silence ended")
    assert sink.at("/team")[0].key == fire.id


async def test_a_p0_inhibits_p1_of_the_same_service_only(
    sink: Sink, database: Database, notifier_factory: MakeNotifier
) -> None:
    registry = CollectorRegistry()
    settings = make_settings(sink, {"team": {}}, routes=ROUTES, inhibit=INHIBIT)
    notifier = await notifier_factory(settings, registry=registry)
    p0 = firing(tier="P0", rule="CheckoutDown")
    muted = firing(tier="P1", rule="CheckoutSlow")
    other = firing(tier="P1", rule="PaymentsSlow", labels={"service.name": "payments"})
    await write(database, p0, muted, other)
    notifier.wake()
    await wait_until(lambda: len(sink.at("/team")) == 2, what="P0 and the other service's P1")
    await wait_until(lambda: _suppressed(registry, "inhibited") == 1, what="the inhibited P1")
    assert {r.key for r in sink.at("/team")} == {p0.id, other.id}
    await write(database, resolved(muted))
    notifier.wake()
    await eventually(_dispatched(database), what="the muted alert's resolved")
    assert len(sink.at("/team")) == 2


async def test_a_resolved_goes_out_when_the_alert_was_inhibited_after_its_firing(
    sink: Sink, database: Database, notifier_factory: MakeNotifier
) -> None:
    settings = make_settings(sink, {"team": {}}, routes=ROUTES, inhibit=INHIBIT)
    notifier = await notifier_factory(settings)
    slow = firing(tier="P1", rule="CheckoutSlow")
    await write(database, slow)
    notifier.wake()
    await wait_until(lambda: len(sink.at("/team")) == 1, what="the P1 firing")
    down = firing(tier="P0", rule="CheckoutDown")
    await write(database, down)
    notifier.wake()
    await wait_until(lambda: len(sink.at("/team")) == 2, what="the P0 firing")
    end = resolved(slow)
    await write(database, end)
    notifier.wake()
    await wait_until(lambda: len(sink.at("/team")) == 3, what="the P1 resolved")
    assert [r.key for r in sink.at("/team")] == [slow.id, down.id, end.id]


async def test_silences_api_validates_lists_filters_and_expires(
    notifier_factory: MakeNotifier, sink: Sink, api_client: MakeApi
) -> None:
    notifier: Notifier = await notifier_factory(make_settings(sink, {"team": {}}))
    api = await api_client(notifier)
    now = datetime.now(UTC)
    bad = [
        _silence(endsAt=iso(now - timedelta(hours=2))),
        _silence(matchers={}),
        _silence(matchers={"alertname": {"regex": "("}}),
        _silence(createdBy=""),
        {"matchers": {"a": "b"}, "createdBy": "x"},
    ]
    for body in bad:
        response = await api.post("/api/silences", json=body)
        assert response.status == 400, body
        assert (await response.json())["error"]
    assert (await api.post("/api/silences", data=b"{not json")).status == 400

    active = await (await api.post("/api/silences", json=_silence())).json()
    later = {
        "matchers": {"service.name": "payments"},
        "startsAt": iso(now + timedelta(hours=1)),
        "duration": "2h",
        "createdBy": "bob",
    }
    pending = await (await api.post("/api/silences", json=later)).json()
    assert active["state"] == "active" and pending["state"] == "pending"
    assert active["matchers"] == {"service.name": "checkout", "alertname": {"regex": "Checkout.*"}}

    async def ids(**params: str) -> list[str]:
        response = await api.get("/api/silences", params=params)
        assert response.status == 200
        return [s["id"] for s in (await response.json())["silences"]]

    assert set(await ids()) == {active["id"], pending["id"]}
    assert await ids(state="active") == [active["id"]]
    assert await ids(createdBy="bob") == [pending["id"]]
    assert await ids(match="service.name=payments") == [pending["id"]]
    assert await ids(match="alertname=CheckoutLatency") == [active["id"]]
    assert (await api.get("/api/silences", params={"state": "bogus"})).status == 400

    assert (await api.delete(f"/api/silences/{active['id']}")).status == 200
    assert await ids(state="expired") == [active["id"]]
    assert set(await ids(state="active,pending")) == {pending["id"]}
    one = await (await api.get(f"/api/silences/{active['id']}")).json()
    assert one["state"] == "expired" and one["createdBy"] == "alice" and one["comment"] == "deploying checkout"
    assert (await api.delete("/api/silences/unknown")).status == 404

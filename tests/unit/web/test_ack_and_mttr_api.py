"""POST /api/incidents/{id}/ack and GET /api/mttr through the real handlers on a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from pytest_aiohttp import AiohttpClient

from collector import keys
from collector.incidents.ack import Acknowledger
from collector.model import ResolveReason
from collector.store.db import Database
from collector.web import acks, incidents, mttr
from tests.unit.web.incident_seed import at, seed

Client = Any
# Handler behaviour that no SQL dialect changes runs on SQLite only; SQL paths run on both databases.
SQLITE_ONLY = pytest.mark.parametrize("storage_url", ["sqlite"], indirect=True)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def db(storage_url: str) -> AsyncIterator[Database]:
    database = Database(storage_url)
    await database.open()
    yield database
    await database.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(at(3600))


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, db: Database, registry: CollectorRegistry, clock: Clock) -> Client:
    app = web.Application()
    app[keys.DATABASE] = db
    incidents.add_routes(app)
    acks.add_routes(app, Acknowledger(db, registry, clock))
    mttr.add_routes(app)
    return await aiohttp_client(app)


async def get_incident(client: Client, incident_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/incidents/{incident_id}")
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


def ack_count(registry: CollectorRegistry, tier: str) -> float:
    return registry.get_sample_value("vigil_incident_ack_seconds_count", {"tier": tier}) or 0.0


async def test_an_ack_is_recorded_once_and_shows_in_the_incident_and_the_list(
    client: Client, db: Database, registry: CollectorRegistry
) -> None:
    inc = await seed(db, fired=100)
    first = await client.post(f"/api/incidents/{inc.id}/ack", json={"by": "alice", "at": "2026-11-23T10:02:40Z"})
    assert first.status == 200
    assert await first.json() == {
        "incidentId": inc.id, "ackedAt": "2026-11-23T10:02:40.000Z", "ackedBy": "alice", "first": True
    }
    again = await client.post(f"/api/incidents/{inc.id}/ack", json={"by": "bob"})
    assert again.status == 200
    assert await again.json() == {
        "incidentId": inc.id, "ackedAt": "2026-11-23T10:02:40.000Z", "ackedBy": "alice", "first": False
    }
    shown = await get_incident(client, inc.id)
    assert (shown["ackedAt"], shown["ackedBy"], shown["state"]) == ("2026-11-23T10:02:40.000Z", "alice", "open")
    listed = await (await client.get("/api/incidents")).json()
    assert [(i["id"], i["ackedBy"]) for i in listed["incidents"]] == [(inc.id, "alice")]
    # Observed once, on the first ack: 60 s after firing.
    assert ack_count(registry, "P0") == 1
    assert registry.get_sample_value("vigil_incident_ack_seconds_sum", {"tier": "P0"}) == 60.0


@SQLITE_ONLY
async def test_a_receiver_callback_may_post_a_form_and_the_ack_defaults_to_now(
    client: Client, db: Database, clock: Clock
) -> None:
    inc = await seed(db, fired=100, tier="P1", ended=900)
    response = await client.post(f"/api/incidents/{inc.id}/ack", data={"by": "oncall-bot"})
    assert response.status == 200
    body = await response.json()
    assert (body["ackedBy"], body["ackedAt"]) == ("oncall-bot", "2026-11-23T11:00:00.000Z")
    shown = await get_incident(client, inc.id)
    assert (shown["state"], shown["ackedBy"]) == ("resolved", "oncall-bot"), "a resolved incident can be acked"


@SQLITE_ONLY
async def test_the_dashboard_form_is_sent_back_to_the_incident_page(client: Client, db: Database) -> None:
    inc = await seed(db, fired=100)
    form = {"by": "carol", "next": f"/incidents/{inc.id}"}
    response = await client.post(f"/api/incidents/{inc.id}/ack", data=form, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == f"/incidents/{inc.id}"
    assert (await get_incident(client, inc.id))["ackedBy"] == "carol"
    offsite = await client.post(
        f"/api/incidents/{inc.id}/ack", data={"by": "carol", "next": "//evil.example/"}, allow_redirects=False
    )
    assert offsite.status == 200, "a redirect never leaves the dashboard"


@SQLITE_ONLY
async def test_an_unknown_incident_is_a_404(client: Client, registry: CollectorRegistry) -> None:
    response = await client.post("/api/incidents/nope/ack", json={"by": "alice"})
    assert response.status == 404
    assert await response.json() == {"error": "no such incident"}
    assert ack_count(registry, "P0") == 0


BAD_ACKS = [
    ({}, "'by' is required"),
    ({"by": "  "}, "'by' is required"),
    ({"by": "alice", "at": "yesterday"}, "'at' must be ISO-8601"),
    ({"by": "alice", "at": "2026-11-23T09:00:00Z"}, "before the incident fired"),
    ({"by": "alice", "at": "2026-11-23T12:00:00Z"}, "in the future"),
    ([1, 2], "must be a JSON object"),
]


@SQLITE_ONLY
async def test_a_bad_ack_is_a_400_that_says_why_and_a_get_is_refused(client: Client, db: Database) -> None:
    inc = await seed(db, fired=100)
    for body, message in BAD_ACKS:
        response = await client.post(f"/api/incidents/{inc.id}/ack", json=body)
        assert response.status == 400, body
        assert message in (await response.json())["error"]
    headers = {"Content-Type": "application/json"}
    not_json = await client.post(f"/api/incidents/{inc.id}/ack", data=b"{by", headers=headers)
    assert not_json.status == 400
    response = await client.get(f"/api/incidents/{inc.id}/ack?by=alice")
    assert response.status == 405
    assert response.headers["Allow"] == "POST"
    assert "POST" in (await response.json())["error"]
    assert (await get_incident(client, inc.id))["ackedAt"] is None


async def seed_history(client: Client, db: Database) -> None:
    a = await seed(db, fired=0, ended=570)  # MTTR 600
    await client.post(f"/api/incidents/{a.id}/ack", json={"by": "a", "at": at(60).isoformat()})  # MTTA 60
    b = await seed(db, fired=100, ended=370, service="payments")  # MTTR 300
    await client.post(f"/api/incidents/{b.id}/ack", json={"by": "b", "at": at(1100).isoformat()})  # MTTA 1000, late
    await seed(db, fired=200)  # open
    await seed(db, fired=300, ended=3570, silenced=True)  # MTTR 3300
    await seed(db, fired=400, ended=460, reason=ResolveReason.MANUAL)  # MTTR 90
    await seed(db, fired=500, ended=1070, tier="P2", rule="SlowPages")  # MTTR 600


async def mttr_of(client: Client, query: str) -> dict[str, Any]:
    response = await client.get(f"/api/mttr?{query}")
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def test_mttr_per_tier_with_counts_and_flags(client: Client, db: Database) -> None:
    await seed_history(client, db)
    body = await mttr_of(client, "by=tier")
    assert (body["by"], body["exclude"], body["since"], body["until"]) == ("tier", [], None, None)
    p0, p1, p2 = body["groups"]
    assert (p0["tier"], p0["count"], p0["open"], p0["resolved"], p0["acked"]) == ("P0", 5, 1, 4, 2)
    assert (p0["silenced"], p0["manual"], p0["excluded"]) == (1, 1, 0)
    assert p0["mttaSeconds"] == {"mean": 530.0, "p50": 530.0, "p90": pytest.approx(906.0)}
    assert p0["mttrSeconds"]["mean"] == pytest.approx((600 + 300 + 3300 + 90) / 4)
    assert p0["mttrSeconds"]["p50"] == pytest.approx(450.0)
    assert (p1["count"], p1["mttrSeconds"]) == (0, {"mean": None, "p50": None, "p90": None})
    assert (p2["count"], p2["mttrSeconds"]["mean"], p2["mttaSeconds"]["mean"]) == (1, 600.0, None)


@SQLITE_ONLY
async def test_mttr_can_leave_out_silenced_and_manual_incidents(client: Client, db: Database) -> None:
    await seed_history(client, db)
    quiet = (await mttr_of(client, "exclude=silenced,manual"))["groups"][0]
    assert (quiet["count"], quiet["excluded"], quiet["silenced"], quiet["manual"]) == (3, 2, 0, 0)
    assert quiet["mttrSeconds"] == {"mean": 450.0, "p50": 450.0, "p90": 570.0}
    repeated = (await mttr_of(client, "exclude=silenced&exclude=manual"))["groups"][0]
    assert repeated == quiet


async def test_mttr_by_service_and_rule_within_a_time_range(client: Client, db: Database) -> None:
    await seed_history(client, db)
    by_service = (await mttr_of(client, "by=service"))["groups"]
    assert [(g["service"], g["count"]) for g in by_service] == [("checkout", 5), ("payments", 1)]
    by_rule = (await mttr_of(client, "by=rule&since=2026-11-23T10:01:40Z&until=2026-11-23T10:08:00Z"))["groups"]
    # Fired at 100, 200, 300 and 400 s; the one at 500 s is past `until`.
    assert [(g["rule"], g["count"]) for g in by_rule] == [("CheckoutErrors", 4)]


@SQLITE_ONLY
async def test_mttr_rejects_bad_parameters(client: Client) -> None:
    for query in ("by=team", "exclude=flaky", "since=soon"):
        response = await client.get(f"/api/mttr?{query}")
        assert response.status == 400, query
        assert "error" in await response.json()

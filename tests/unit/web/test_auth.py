"""API tokens: the API, /-/reload and the pages need one; health, metrics and the stylesheet stay open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from pytest_aiohttp import AiohttpClient

from collector import keys
from collector.evaluate.evaluator import Evaluator
from collector.incidents.ack import Acknowledger
from collector.store.db import Database
from collector.store.hub import Store
from collector.web import acks, auth, health, incidents, metrics, pages
from collector.web.dashboard import Dashboard
from collector.web.health import Readiness

Client = Any
TOKEN = "s3cret-token"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/vigil.db")
    await database.open()
    yield database
    await database.close()


async def make_client(aiohttp_client: AiohttpClient, db: Database, tmp_path: Path, tokens: list[str]) -> Client:
    registry = CollectorRegistry()
    app = web.Application(middlewares=[auth.middleware(tokens)])
    app[keys.REGISTRY] = registry
    app[keys.READINESS] = Readiness()
    app[keys.DATABASE] = db
    store = Store(traces=None, max_series_per_rule=10, max_series=10, registry=registry)
    app[keys.EVALUATOR] = Evaluator(
        db=db, windows=store, traces=lambda _: None, registry=registry, delay=timedelta(seconds=1)
    )
    health.add_routes(app)
    metrics.add_routes(app)
    incidents.add_routes(app)
    acks.add_routes(app, Acknowledger(db, registry))
    pages.add_routes(app, Dashboard(tmp_path))
    return await aiohttp_client(app)


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, db: Database, tmp_path: Path) -> Client:
    return await make_client(aiohttp_client, db, tmp_path, [TOKEN, "another"])


async def test_health_metrics_and_the_stylesheet_need_no_token(client: Client) -> None:
    for path in ("/healthz", "/metrics", "/static/vigil.css"):
        assert (await client.get(path)).status == 200, path


async def test_the_api_wants_a_bearer_token(client: Client) -> None:
    missing = await client.get("/api/incidents")
    assert missing.status == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="vigil"'
    assert await missing.json() == {"error": "missing bearer token"}
    wrong = await client.get("/api/incidents", headers={"Authorization": "Bearer nope"})
    assert (wrong.status, await wrong.json()) == (401, {"error": "invalid bearer token"})
    ok = await client.get("/api/incidents", headers={"Authorization": f"Bearer {TOKEN}"})
    assert (ok.status, await ok.json()) == (200, {"incidents": []})
    other = await client.get("/api/incidents", headers={"Authorization": "Bearer another"})
    assert other.status == 200
    post = await client.post("/api/incidents/x/ack", json={"by": "alice"})
    assert post.status == 401


async def test_a_browser_passes_the_token_once_in_the_url_and_then_by_cookie(client: Client) -> None:
    login = await client.get("/incidents/x")
    assert login.status == 401 and login.content_type == "text/html"
    assert login.headers["WWW-Authenticate"] == 'Bearer realm="vigil"'
    assert 'name="token"' in await login.text()
    refused = await client.get("/?token=wrong", allow_redirects=False)
    assert refused.status == 401

    entered = await client.get(f"/?range=7d&token={TOKEN}", allow_redirects=False)
    assert entered.status == 303
    assert entered.headers["Location"] == "/?range=7d", "the token leaves the address bar"
    cookie = entered.headers["Set-Cookie"]
    assert "vigil_token=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    # The test client keeps the cookie, as a browser does.
    assert (await client.get("/?range=7d")).status == 200
    assert (await client.get("/api/incidents")).status == 200
    assert (await client.get("/incidents/x")).status == 404


async def test_a_state_change_from_another_site_is_refused(client: Client) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Origin": "https://evil.example"}
    response = await client.post("/api/incidents/x/ack", data={"by": "mallory"}, headers=headers)
    assert response.status == 403
    same = {"Authorization": f"Bearer {TOKEN}", "Origin": f"http://{client.host}:{client.port}"}
    assert (await client.post("/api/incidents/x/ack", data={"by": "alice"}, headers=same)).status == 404


async def test_without_tokens_everything_is_open(aiohttp_client: AiohttpClient, db: Database, tmp_path: Path) -> None:
    client = await make_client(aiohttp_client, db, tmp_path, [])
    assert (await client.get("/api/incidents")).status == 200
    assert (await client.get("/")).status == 200
    assert (await client.get("/?token=whatever")).status == 200
    foreign = await client.post("/api/incidents/x/ack", json={"by": "m"}, headers={"Origin": "https://evil.example"})
    assert foreign.status == 403

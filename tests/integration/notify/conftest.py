"""Fixtures for notification tests: a real webhook sink, a real database, Notifiers that are stopped afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from collector import keys
from collector.notify import Notifier, now_utc
from collector.notify.outcome import Backoff
from collector.settings import Settings
from collector.store.db import Database
from collector.web import deliveries as deliveries_web
from collector.web import silences as silences_web
from tests.integration.notify.harness import TEMPLATES, Sink

# Fast retries keep the tests short; the policy is the same as in production.
FAST = Backoff(base=0.05, cap=0.3)

MakeNotifier = Callable[..., Awaitable[Notifier]]
MakeApi = Callable[[Notifier], Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    s = Sink()
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def database(storage_url: str) -> AsyncIterator[Database]:
    db = Database(storage_url)
    await db.open()
    yield db
    await db.close()


@pytest.fixture
async def notifier_factory(database: Database) -> AsyncIterator[MakeNotifier]:
    started: list[Notifier] = []

    async def make(
        settings: Settings,
        *,
        instance_id: str = "replica-a",
        clock: Callable[[], datetime] = now_utc,
        registry: CollectorRegistry | None = None,
        start: bool = True,
    ) -> Notifier:
        notifier = Notifier(
            db=database,
            settings=settings,
            templates_dir=TEMPLATES,
            external_url="http://vigil.test:8080/",
            registry=registry or CollectorRegistry(),
            instance_id=instance_id,
            clock=clock,
            backoff=FAST,
        )
        if start:
            await notifier.start()
            started.append(notifier)
        return notifier

    yield make
    for n in started:
        await n.stop()


@pytest.fixture
def api_client(aiohttp_client: Callable[..., Awaitable[TestClient[web.Request, web.Application]]]) -> MakeApi:
    """The silences and deliveries API of a Notifier, served on 127.0.0.1."""

    async def make(notifier: Notifier) -> TestClient[web.Request, web.Application]:
        app = web.Application()
        app[keys.SILENCES] = notifier.silences
        app[keys.NOTIFIER] = notifier
        silences_web.add_routes(app)
        deliveries_web.add_routes(app)
        return await aiohttp_client(app)

    return make

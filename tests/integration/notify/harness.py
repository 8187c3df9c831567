"""Test harness for the notification stage: a real local webhook sink, events written as the evaluator does."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from collector.model import AlertEvent, EventKind, ExemplarRef, ResolveReason
from collector.settings import Settings
from collector.store.db import Database
from collector.store.eventlog import append_event
from collector.store.tables import events as events_table
from collector.store.tables import incidents

TEMPLATES = Path(__file__).resolve().parents[3] / "templates"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def key(self) -> str:
        return self.headers.get("Idempotency-Key", "")


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Sink:
    """An HTTP server on 127.0.0.1 that records every request and answers as scripted per path."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._scripts: dict[str, list[Answer]] = {}
        self._default: dict[str, Answer] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.changed = asyncio.Event()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, answers: Sequence[Answer]) -> None:
        """Answer the next requests on `path` with these, then with the default."""
        self._scripts[path] = list(answers)

    def default(self, path: str, answer: Answer) -> None:
        self._default[path] = answer

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append(Received(request.path, dict(request.headers), body, time.monotonic()))
        self.changed.set()
        script = self._scripts.get(request.path)
        answer = script.pop(0) if script else self._default.get(request.path, Answer())
        if answer.delay:
            await asyncio.sleep(answer.delay)
        return web.Response(status=answer.status, headers=answer.headers, text="ok" if answer.status < 300 else "no")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        if self.port == 0:
            self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Close the port: connections are refused until `start` again (on the same port)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def wait_until(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


def firing(
    *,
    rule: str = "CheckoutErrorRatio",
    tier: str = "P0",
    labels: dict[str, str] | None = None,
    at: datetime | None = None,
    summary: str = "error ratio high",
) -> AlertEvent:
    now = at or datetime.now(UTC)
    all_labels = {"service.name": "checkout", **(labels or {})}
    return AlertEvent(
        id=str(uuid.uuid4()),
        kind=EventKind.FIRING,
        incident_id=str(uuid.uuid4()),
        fingerprint=uuid.uuid4().hex[:16],
        rule=rule,
        group="checkout",
        tier=tier,
        labels=all_labels,
        annotations={"summary": summary},
        value=0.071,
        threshold="> 0.03",
        baseline=None,
        starts_at=now - timedelta(seconds=30),
        fired_at=now,
        at=now,
        exemplars=(ExemplarRef("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"),),
    )


def resolved(fire: AlertEvent, *, at: datetime | None = None) -> AlertEvent:
    now = at or datetime.now(UTC)
    return AlertEvent(
        id=str(uuid.uuid4()),
        kind=EventKind.RESOLVED,
        incident_id=fire.incident_id,
        fingerprint=fire.fingerprint,
        rule=fire.rule,
        group=fire.group,
        tier=fire.tier,
        labels=fire.labels,
        annotations=fire.annotations,
        value=0.01,
        threshold=fire.threshold,
        baseline=None,
        starts_at=fire.starts_at,
        fired_at=fire.fired_at,
        at=now,
        ends_at=now,
        duration_seconds=(now - fire.fired_at).total_seconds(),
        resolve_reason=ResolveReason.CONDITION_CLEARED,
    )


def _incident_row(e: AlertEvent) -> dict[str, Any]:
    return {
        "id": e.incident_id,
        "fingerprint": e.fingerprint,
        "rule": e.rule,
        "group_name": e.group,
        "tier": e.tier,
        "service": e.labels.get("service.name"),
        "labels": dict(e.labels),
        "annotations": dict(e.annotations),
        "value": e.value,
        "threshold": e.threshold,
        "baseline": e.baseline,
        "starts_at": e.starts_at,
        "fired_at": e.fired_at,
        "silenced": False,
        "evidence": [],
    }


async def write(db: Database, *events: AlertEvent) -> None:
    """Write events as the evaluator does: the incident change and the event in one transaction."""
    async with db.engine.begin() as conn:
        for e in events:
            if e.kind is EventKind.FIRING:
                await conn.execute(incidents.insert().values(**_incident_row(e)))
            else:
                await conn.execute(
                    incidents.update()
                    .where(incidents.c.id == e.incident_id)
                    .values(
                        ends_at=e.ends_at,
                        duration_seconds=e.duration_seconds,
                        resolve_reason=e.resolve_reason.value if e.resolve_reason else None,
                    )
                )
            await append_event(conn, e)


async def write_many(db: Database, events: Sequence[AlertEvent]) -> None:
    """Many firing events at once (a storm), in bulk; only the event log, which is all notification reads."""
    async with db.engine.begin() as conn:
        await conn.execute(
            events_table.insert(),
            [
                {
                    "id": e.id,
                    "incident_id": e.incident_id,
                    "kind": e.kind.value,
                    "payload": e.to_payload(),
                    "created_at": e.at,
                }
                for e in events
            ],
        )


def make_settings(
    sink: Sink,
    receivers: dict[str, dict[str, Any]],
    *,
    routes: list[dict[str, Any]] | None = None,
    inhibit: list[dict[str, Any]] | None = None,
) -> Settings:
    """Settings with one receiver per name, each posting to /<name> on the sink."""
    return Settings.model_validate(
        {
            "receivers": [{"name": n, "url": sink.url(f"/{n}"), **opts} for n, opts in receivers.items()],
            "routes": routes or [],
            "inhibit": inhibit or [],
        }
    )

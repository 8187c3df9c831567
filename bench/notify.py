"""Notification throughput and latency against a local webhook sink.

    .venv/bin/python bench/notify.py [--events 3000] [--receivers 1 10] [--rate 50] [--storage sqlite postgres]

The sink runs in its own process (an aiohttp server on 127.0.0.1 that answers 200
at once). Events are written to the `events` table in transactions of 100, as the
evaluator writes them, and the Notifier is woken after each. Every event is its own
group (group_wait 0), so each one is one delivery per receiver. Printed: events/s
and deliveries/s until every delivery is acknowledged, and the latency from an
event's commit to its first delivery attempt at the sink (p50/p99), measured with
300 events at a steady --rate events/s, one per transaction (below the throughput,
so that it shows the added latency and not a queue). With --storage postgres a scratch database is created next to
VIGIL_TEST_POSTGRES_URL and dropped afterwards.

For comparison it measures, in the same run, a bare aiohttp client posting a body of
the same size to the same sink, 64 requests at a time, with nothing else to do: the
most webhooks per second this process could send whatever the notifier around it did.
With 10 receivers every event is 10 webhooks, so events/s there can be at most a tenth
of that figure.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from machine import machine  # noqa: E402

from collector.model import AlertEvent, EventKind  # noqa: E402
from collector.notify import Notifier  # noqa: E402
from collector.notify.context import alertmanager_body, sample_context  # noqa: E402
from collector.settings import Settings  # noqa: E402
from collector.store.db import Database  # noqa: E402
from collector.store.eventlog import append_event  # noqa: E402

# --- the sink, in its own process --------------------------------------------------------------


def _sink_main(port_out: Any) -> None:
    first: dict[str, float] = {}
    count = 0

    async def hook(request: web.Request) -> web.Response:
        nonlocal count
        await request.read()
        count += 1
        key = f"{request.path}:{request.headers.get('Idempotency-Key', '')}"
        first.setdefault(key, time.time())
        return web.Response(text="ok")

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"count": count})

    async def firsts(request: web.Request) -> web.Response:
        return web.json_response(first)

    async def reset(request: web.Request) -> web.Response:
        nonlocal count
        count = 0
        first.clear()
        return web.Response(text="ok")

    async def run() -> None:
        app = web.Application()
        app.router.add_post("/reset", reset)
        app.router.add_post("/{tail:.*}", hook)
        app.router.add_get("/stats", stats)
        app.router.add_get("/first", firsts)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_out.send(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(run())


@contextmanager
def sink_process() -> Iterator[int]:
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.Process(target=_sink_main, args=(child,), daemon=True)
    proc.start()
    try:
        yield int(parent.recv())
    finally:
        proc.kill()
        proc.join()


async def sink_stats(session: aiohttp.ClientSession, port: int) -> dict[str, Any]:
    async with session.get(f"http://127.0.0.1:{port}/stats") as r:
        data: dict[str, Any] = await r.json()
        return data


# --- storage -------------------------------------------------------------------------------------


@contextmanager
def storage(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite+aiosqlite:///{tmp}/vigil.db"
        return
    import asyncpg  # type: ignore[import-untyped]

    base = os.environ.get("VIGIL_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    admin = base.replace("postgresql+asyncpg://", "postgresql://")
    name = f"vigil_bench_{uuid.uuid4().hex[:8]}"

    async def sql(statement: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(sql(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{base.rpartition('/')[0]}/{name}"
    finally:
        asyncio.run(sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- the run -------------------------------------------------------------------------------------


def event(n: int) -> AlertEvent:
    now = datetime.now(UTC)
    return AlertEvent(
        id=str(uuid.uuid4()),
        kind=EventKind.FIRING,
        incident_id=str(uuid.uuid4()),
        fingerprint=f"{n:016x}",
        rule=f"BenchRule{n}",
        group="bench",
        tier="P0",
        labels={"service.name": f"svc{n % 50}"},
        annotations={"summary": f"bench alert {n}"},
        value=1.0,
        threshold="> 0.5",
        baseline=None,
        starts_at=now - timedelta(seconds=10),
        fired_at=now,
        at=now,
    )


async def bare_post_rate(port: int, body: bytes, seconds: float = 3.0) -> float:
    """Requests/s of a plain aiohttp POST loop to the sink (64 in flight): the ceiling of any webhook sender here."""
    sent = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:

        async def one() -> None:
            headers = {"Content-Type": "application/json", "Idempotency-Key": "bare"}
            async with session.post(f"http://127.0.0.1:{port}/bare", data=body, headers=headers) as r:
                await r.read()

        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            await asyncio.gather(*(one() for _ in range(64)))
            sent += 64
        return sent / (time.perf_counter() - started)


def settings(port: int, receivers: int) -> Settings:
    names = [f"r{i}" for i in range(receivers)]
    return Settings.model_validate(
        {
            "receivers": [{"name": n, "url": f"http://127.0.0.1:{port}/{n}", "hmac_secret": "bench"} for n in names],
            "routes": [{"match": {"tier": "P0"}, "receivers": names, "group_wait": "0s"}],
        }
    )


async def write_batch(db: Database, events: list[AlertEvent]) -> float:
    async with db.transaction() as conn:
        for e in events:
            await append_event(conn, e)
    return time.time()


async def run(url: str, port: int, receivers: int, count: int, rate: float) -> dict[str, float]:
    db = Database(url)
    await db.open()
    notifier = Notifier(
        db=db,
        settings=settings(port, receivers),
        templates_dir=ROOT / "templates",
        external_url="http://127.0.0.1:8080",
        registry=CollectorRegistry(),
        instance_id="bench",
    )
    await notifier.start()
    out: dict[str, float] = {}
    async with aiohttp.ClientSession() as session:
        try:
            await session.post(f"http://127.0.0.1:{port}/reset")
            # Throughput: everything as fast as it can be written.
            started = time.perf_counter()
            for i in range(0, count, 100):
                await write_batch(db, [event(n) for n in range(i, min(i + 100, count))])
                notifier.wake()
            want = count * receivers
            while (await sink_stats(session, port))["count"] < want:
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
            out["events_per_s"] = count / elapsed
            out["deliveries_per_s"] = want / elapsed

            # Latency: a steady rate, one event per transaction; commit -> first attempt at the sink.
            await session.post(f"http://127.0.0.1:{port}/reset")
            written: dict[str, float] = {}
            for n in range(300):
                e = event(count + n)
                written[e.id] = await write_batch(db, [e])
                notifier.wake()
                await asyncio.sleep(1 / rate)
            while (await sink_stats(session, port))["count"] < 300 * receivers:
                await asyncio.sleep(0.05)
            async with session.get(f"http://127.0.0.1:{port}/first") as r:
                first: dict[str, float] = await r.json()
            keyed = ((key.split(":", 1)[1], t) for key, t in first.items())
            lat = sorted((t - written[k]) * 1000 for k, t in keyed if k in written)
            out["p50_ms"] = statistics.median(lat)
            out["p99_ms"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        finally:
            await notifier.stop()
            await db.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--receivers", type=int, nargs="*", default=[1, 10])
    parser.add_argument("--rate", type=float, default=50.0, help="events/s of the latency run")
    parser.add_argument("--storage", choices=["sqlite", "postgres"], nargs="*", default=["sqlite", "postgres"])
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(
        f"sink in its own process; one delivery per event per receiver, HMAC-signed; {args.events} events as fast "
        f"as possible, then latency at {args.rate:g} events/s"
    )
    with sink_process() as port:
        body = orjson.dumps(alertmanager_body(sample_context("firing")))
        bare = asyncio.run(bare_post_rate(port, body))
        print(f"bare aiohttp POST loop, {len(body)}-byte body, same sink: {bare:,.0f} requests/s", flush=True)
        header = f"{'storage':<9} {'receivers':>9} {'events/s':>9} {'deliveries/s':>13} {'vs bare':>8} {'p50 ms':>8}"
        print(f"{header} {'p99 ms':>8}")
        for kind in args.storage:
            for receivers in args.receivers:
                with storage(kind) as url:
                    r = asyncio.run(run(url, port, receivers, args.events, args.rate))
                print(
                    f"{kind:<9} {receivers:>9} {r['events_per_s']:>9,.0f} {r['deliveries_per_s']:>13,.0f} "
                    f"{r['deliveries_per_s'] / bare:>8.0%} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()

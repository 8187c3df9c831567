"""Outbox delivery across replicas: deliveries/s and duplicates with 1 and 2 notifier processes on one database.

    .venv/bin/python bench/outbox.py [--events 2000] [--replicas 1 2] [--storage sqlite postgres]

Each replica is its own process with its own Notifier (its own instance id) on the
same database, as several `vigil run` replicas are. The parent writes firing events
in transactions of 100; replicas dispatch them into the outbox and claim deliveries
(FOR UPDATE SKIP LOCKED on PostgreSQL, a conditional UPDATE on SQLite). The sink
counts requests and distinct Idempotency-Keys: duplicates = requests - distinct keys.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

import aiohttp
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from machine import machine
from notify import ROOT, event, settings, sink_process, storage, write_batch

from collector.notify import Notifier
from collector.store.db import Database


def _replica_main(url: str, port: int, name: str, ready: Connection, stop: Connection) -> None:
    async def run() -> None:
        db = Database(url)
        await db.open()
        notifier = Notifier(
            db=db,
            settings=settings(port, 1),
            templates_dir=ROOT / "templates",
            external_url="http://127.0.0.1:8080",
            registry=CollectorRegistry(),
            instance_id=name,
        )
        await notifier.start()
        ready.send(True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, stop.recv)
        await notifier.stop()
        await db.close()

    asyncio.run(run())


async def _sink_counts(port: int) -> tuple[int, int]:
    async with aiohttp.ClientSession() as s:
        async with s.get(f"http://127.0.0.1:{port}/stats") as r:
            count = int((await r.json())["count"])
        async with s.get(f"http://127.0.0.1:{port}/first") as r:
            distinct = len(await r.json())
    return count, distinct


async def _reset(port: int) -> None:
    async with aiohttp.ClientSession() as s:
        await s.post(f"http://127.0.0.1:{port}/reset")


def run(url: str, port: int, replicas: int, count: int) -> tuple[float, int]:
    db_ready = asyncio.run(_migrate(url))
    assert db_ready
    asyncio.run(_reset(port))
    procs, stops = [], []
    for i in range(replicas):
        ready_r, ready_w = multiprocessing.Pipe(duplex=False)
        stop_r, stop_w = multiprocessing.Pipe(duplex=False)
        p = multiprocessing.Process(target=_replica_main, args=(url, port, f"replica-{i}", ready_w, stop_r))
        p.start()
        ready_r.recv()
        procs.append(p)
        stops.append(stop_w)
    try:
        started = time.perf_counter()
        asyncio.run(_write(url, count))
        while True:
            total, distinct = asyncio.run(_sink_counts(port))
            if distinct >= count:
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        time.sleep(1.0)  # anything sent twice would arrive by now
        total, distinct = asyncio.run(_sink_counts(port))
        return count / elapsed, total - distinct
    finally:
        for s in stops:
            s.send(True)
        for p in procs:
            p.join(30)


async def _migrate(url: str) -> bool:
    db = Database(url)
    await db.open()
    await db.close()
    return True


async def _write(url: str, count: int) -> None:
    db = Database(url)
    await db.open()
    try:
        for i in range(0, count, 100):
            await write_batch(db, [event(n) for n in range(i, min(i + 100, count))])
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--replicas", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--storage", choices=["sqlite", "postgres"], nargs="*", default=["sqlite", "postgres"])
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"{args.events} firing events, one receiver, one delivery each; sink in its own process")
    print(f"{'storage':<9} {'replicas':>8} {'deliveries/s':>13} {'duplicates':>11}")
    with sink_process() as port:
        for kind in args.storage:
            for replicas in args.replicas:
                with storage(kind) as url:
                    rate, dups = run(url, port, replicas, args.events)
                print(f"{kind:<9} {replicas:>8} {rate:>13,.0f} {dups:>11}", flush=True)


if __name__ == "__main__":
    main()

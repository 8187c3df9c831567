"""Throughput of the ingest stage alone: Vigil's OTLP/HTTP receiver feeding an in-memory counting sink.

    .venv/bin/python bench/ingest_stage.py [--seconds 4] [--connections 8]

The server process runs the very receiver `vigil run` serves on listen.otlp_http
(OtlpHttpReceiver: body reading with its limit, inflate, decode, per-item validation,
the bounded BatchQueue and its counters), pinned to CPU 0, but the queue feeds a sink
that only counts items instead of the store. The load generator (CPU 1) sends the same
pre-serialised 1000-item protobuf requests as bench/ingest.py. Printed: items/s, the
ratio to a bare `FromString` + count loop measured in the same run, and the server's
CPU use. bench/ingest.py measures the whole daemon, store and trace index included.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from ingest import PATHS, bare_line, bare_parse_rate, cpu_seconds, http_load, pin_to
from payloads import logs_request, metrics_request, spans_request
from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from machine import machine  # noqa: E402

from collector.ingest.auth import TokenCheck  # noqa: E402
from collector.ingest.backpressure import BatchQueue  # noqa: E402
from collector.ingest.otlp_http import OtlpHttpReceiver, make_ingest_app  # noqa: E402
from collector.ingest.stats import IngestStats  # noqa: E402
from collector.model import Batch  # noqa: E402

LIMIT = 64 << 20


class CountingSink:
    """The in-memory sink: keeps a count of what it was handed, nothing else."""

    def __init__(self) -> None:
        self.items = 0

    def consume(self, batch: Batch) -> None:
        self.items += batch.items


def _serve(port_out: Any) -> None:
    pin_to(0)

    async def run() -> None:
        queue = BatchQueue(CountingSink(), 200_000)
        stats = IngestStats(CollectorRegistry(), lambda: queue.depth, queue.capacity)
        receiver = OtlpHttpReceiver(queue=queue, stats=stats, tokens=TokenCheck(()), max_request_bytes=LIMIT)
        runner = web.AppRunner(make_ingest_app(receiver, LIMIT), access_log=None, auto_decompress=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        drain = asyncio.create_task(queue.run())
        port_out.send(runner.addresses[0][1])
        await drain

    asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()

    now = time.time_ns()
    messages = {"spans": spans_request(t0=now), "logs": logs_request(t0=now), "metrics": metrics_request(t0=now)}
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_serve, args=(child,), daemon=True)
    server.start()
    port = int(parent.recv())
    pin_to(1)
    bare = bare_parse_rate(messages)
    print(f"machine: {machine()}")
    print("ingest stage (OtlpHttpReceiver + BatchQueue -> counting sink) pinned to CPU 0, load generator to CPU 1; "
          f"1000 items per request, {args.connections} keep-alive connections, {args.seconds:.0f}s per run")
    print(bare_line(bare))
    print(f"{'signal':<8} {'items/s':>10} {'vs bare':>8} {'server CPU':>10} {'refused':>8}")
    try:
        for signal, message in messages.items():
            body = message.SerializeToString()
            cpu0, t0 = cpu_seconds(server.pid or 0), time.monotonic()
            ok, refused = asyncio.run(http_load(f"http://127.0.0.1:{port}{PATHS[signal]}", body,
                                                "application/x-protobuf", args.seconds, args.connections))
            elapsed = time.monotonic() - t0
            cpu = (cpu_seconds(server.pid or 0) - cpu0) / elapsed
            rate = ok * 1000 / elapsed
            print(f"{signal:<8} {rate:>10,.0f} {rate / bare[signal]:>7.0%} {cpu:>9.0%} {refused:>8}", flush=True)
    finally:
        server.kill()
        server.join()


if __name__ == "__main__":
    main()

"""Ingest throughput of a real `vigil run`, driven from a separate process.

    .venv/bin/python bench/ingest.py [--seconds 4] [--connections 8] [--rules 0 50] [--at now|fixed]
                                     [--transports http/protobuf http/json grpc] [--signals spans logs metrics]

The daemon is pinned to CPU 0 and this load generator to CPU 1. For each
transport (OTLP/HTTP protobuf, OTLP/HTTP JSON, OTLP/gRPC) and signal it sends
pre-serialised 1000-item requests over keep-alive connections and prints items/s
accepted and the daemon's CPU use. For comparison it measures, in the same run and
on one core, a bare `Export*ServiceRequest.FromString` + count loop.

Every request of a run is the same one, as a client retrying would send: the store sees
repeated spans and log records again (their exemplars are already held) and repeated
metric points as duplicates. bench/ingest_cost.py measures fresh items, stage by stage.

The requests are stamped with the time each daemon starts (`--at now`), so their
items fall inside the rules' windows and every rule does its work. `--at fixed`
stamps them with payloads.T0 instead, as this benchmark once did: by now those
items are older than every window, and the store only counts them as late.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp
import grpc
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from payloads import SERVICES, T0, logs_request, metrics_request, spans_request, to_otlp_json

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from machine import machine  # noqa: E402

from tests.integration.daemon import free_port  # noqa: E402

PATHS = {"spans": "/v1/traces", "logs": "/v1/logs", "metrics": "/v1/metrics"}
TRANSPORTS = ("http/protobuf", "http/json", "grpc")
# The targets for the runs with rules (items/s, daemon on one core).
TARGETS = {("http/protobuf", "spans"): 200_000, ("http/json", "spans"): 60_000,
           ("http/protobuf", "logs"): 300_000, ("http/protobuf", "metrics"): 150_000}
GRPC_METHODS = {
    "spans": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
}


def pin_to(cpu: int) -> None:
    """Run this process on `cpu` alone, where the machine has more than one."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {cpu})


def bare_line(bare: dict[str, float]) -> str:
    return (f"bare FromString+count on one core: spans {bare['spans']:,.0f}/s, logs {bare['logs']:,.0f}/s, "
            f"metric points {bare['metrics']:,.0f}/s")


def bare_parse_rate(messages: dict[str, object], seconds: float = 1.5) -> dict[str, float]:
    """Items/s of FromString + count on this core: the floor any receiver pays."""
    out = {}
    for signal, msg in messages.items():
        body = msg.SerializeToString()  # type: ignore[attr-defined]
        cls = type(msg)
        n = 0
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            req = cls.FromString(body)
            if signal == "spans":
                n += sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
            elif signal == "logs":
                n += sum(len(sl.log_records) for rl in req.resource_logs for sl in rl.scope_logs)
            else:
                n += sum(len(m.gauge.data_points) + len(m.sum.data_points)
                         for rm in req.resource_metrics for sm in rm.scope_metrics for m in sm.metrics)
        out[signal] = n / (time.perf_counter() - started)
    return out


def write_rules(folder: Path, count: int) -> None:
    """`count` rules per signal, each reading three attribute keys (service.name + two more)."""
    rules = []
    for i in range(count):
        svc = SERVICES[i % len(SERVICES)]
        rules.append({"name": f"BenchSpans{i}", "tier": "P1", "window": "1m", "measure": "error_ratio",
                      "select": {"signal": "spans", "where": {"service.name": svc}},
                      "by": ["http.route", "http.request.method"], "condition": {"threshold": "> 0.5"}})
        rules.append({"name": f"BenchLogs{i}", "tier": "P2", "window": "1m", "measure": "count",
                      "select": {"signal": "logs", "where": {"service.name": svc, "severity": {"gte": "ERROR"}}},
                      "by": ["code.function"], "condition": {"threshold": "> 1000000"}})
        rules.append({"name": f"BenchMetrics{i}", "tier": "P2", "window": "1m", "measure": "avg",
                      "select": {"signal": "metrics", "metric": f"go.metric.{1 + 2 * (i % 5)}",
                                 "where": {"service.name": "checkout"}},
                      "by": ["pod", "http.route"], "condition": {"threshold": "> 1000"}})
    folder.mkdir(parents=True, exist_ok=True)
    if rules:
        (folder / "bench.yaml").write_text(yaml.safe_dump({"group": "bench", "rules": rules}, sort_keys=False))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def http_load(url: str, body: bytes, ctype: str, seconds: float, conns: int) -> tuple[int, int]:
    ok = refused = 0
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conns)) as session:
        async def worker() -> None:
            nonlocal ok, refused
            while time.monotonic() < deadline:
                async with session.post(url, data=body, headers={"Content-Type": ctype}) as r:
                    await r.read()
                    if r.status == 200:
                        ok += 1
                    else:
                        refused += 1
                        await asyncio.sleep(0.01)
        await asyncio.gather(*(worker() for _ in range(conns)))
    return ok, refused


async def grpc_load(target: str, method: str, body: bytes, seconds: float, conns: int) -> tuple[int, int]:
    ok = refused = 0
    deadline = time.monotonic() + seconds
    async with grpc.aio.insecure_channel(target, options=[("grpc.max_send_message_length", 64 << 20)]) as channel:
        call = channel.unary_unary(method)
        async def worker() -> None:
            nonlocal ok, refused
            while time.monotonic() < deadline:
                try:
                    await call(body)
                    ok += 1
                except grpc.aio.AioRpcError:
                    refused += 1
                    await asyncio.sleep(0.01)
        await asyncio.gather(*(worker() for _ in range(conns)))
    return ok, refused


def run_daemon(
    workdir: Path, rules: int, evaluation: dict[str, str] | None = None, keep_rules: bool = False
) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    listen = {"otlp_http": f"127.0.0.1:{free_port()}", "otlp_grpc": f"127.0.0.1:{free_port()}",
              "api": f"127.0.0.1:{free_port()}"}
    if not keep_rules:
        write_rules(workdir / "rules", rules)
    config: dict[str, object] = {
        "listen": listen, "rules": [str(workdir / "rules")],
        "storage": {"url": f"sqlite+aiosqlite:///{workdir}/vigil.db"},
        "limits": {"max_queued_items": 200_000},
    }
    if evaluation:
        config["evaluation"] = evaluation
    (workdir / "vigil.yaml").write_text(yaml.safe_dump(config))
    log = (workdir / "vigil.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "collector", "run", "-c", str(workdir / "vigil.yaml"),
                             "--log-level", "warning"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=lambda: os.sched_setaffinity(0, {0}))
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"http://{listen['api']}/readyz", timeout=1):
                return proc, listen
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"daemon did not start:\n{(workdir / 'vigil.log').read_text()}")


def of_target(rules: int, transport: str, signal: str, rate: float) -> str:
    """The rate as a share of its target, for the runs with rules that have one."""
    target = TARGETS.get((transport, signal))
    return f"{rate / target:.0%}" if rules and target else "-"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rules", type=int, nargs="*", default=[0, 50])
    parser.add_argument("--at", choices=("now", "fixed"), default="now", help="time stamped on the items")
    parser.add_argument("--transports", nargs="+", choices=TRANSPORTS, default=list(TRANSPORTS),
                        help="only these transports (default: all)")
    parser.add_argument("--signals", nargs="+", choices=tuple(PATHS), default=list(PATHS),
                        help="only these signals (default: all)")
    args = parser.parse_args()

    messages = {"spans": spans_request(), "logs": logs_request(), "metrics": metrics_request()}
    pin_to(1)
    bare = bare_parse_rate(messages)
    print(f"machine: {machine()}")
    print("daemon pinned to CPU 0, load generator to CPU 1; 1000 items per request, "
          f"{args.connections} keep-alive connections, {args.seconds:.0f}s per run, items stamped {args.at}")
    print(bare_line(bare))
    print(f"{'rules/signal':>12} {'transport':<14} {'signal':<8} {'items/s':>10} {'vs bare':>8} {'vs target':>9} "
          f"{'daemon CPU':>10} "
          f"{'refused':>8}")
    for rule_count in args.rules:
        t0 = time.time_ns() if args.at == "now" else T0
        stamped = {"spans": spans_request(t0=t0), "logs": logs_request(t0=t0), "metrics": metrics_request(t0=t0)}
        bodies = {s: (m.SerializeToString(), to_otlp_json(m)) for s, m in stamped.items()}
        with tempfile.TemporaryDirectory() as tmp:
            proc, listen = run_daemon(Path(tmp), rule_count)
            try:
                for transport in args.transports:
                    for signal in args.signals:
                        pb, js = bodies[signal]
                        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
                        if transport == "grpc":
                            ok, refused = asyncio.run(grpc_load(listen["otlp_grpc"], GRPC_METHODS[signal], pb,
                                                                args.seconds, args.connections))
                        else:
                            body, ctype = (pb, "application/x-protobuf") if transport == "http/protobuf" \
                                else (js, "application/json")
                            ok, refused = asyncio.run(http_load(f"http://{listen['otlp_http']}{PATHS[signal]}",
                                                                body, ctype, args.seconds, args.connections))
                        elapsed = time.monotonic() - t0
                        cpu = (cpu_seconds(proc.pid) - cpu0) / elapsed
                        rate = ok * 1000 / elapsed
                        print(f"{rule_count:>12} {transport:<14} {signal:<8} {rate:>10,.0f} "
                              f"{rate / bare[signal]:>7.0%} {of_target(rule_count, transport, signal, rate):>9} "
                              f"{cpu:>9.0%} {refused:>8}", flush=True)
            finally:
                proc.terminate()
                proc.wait(30)


if __name__ == "__main__":
    main()

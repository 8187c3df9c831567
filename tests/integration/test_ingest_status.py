"""Every refusal of the OTLP/HTTP contract, seen by a client over a real socket."""

from __future__ import annotations

import gzip
import json
import re
import signal
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import requests
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tests.integration.daemon import Daemon

PB = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


def spans_request(n: int, seed: int = 1) -> bytes:
    spans = [
        Span(
            trace_id=(seed * 1_000_003 + i + 1).to_bytes(16, "big"),
            span_id=(i + 1).to_bytes(8, "big"),
            name="GET /item",
            start_time_unix_nano=1_700_000_000_000_000_000 + i,
            end_time_unix_nano=1_700_000_000_050_000_000 + i,
        )
        for i in range(n)
    ]
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]
    ).SerializeToString()


def test_empty_request_is_ok(start_daemon: Callable[..., Daemon]) -> None:
    d = start_daemon()
    r = requests.post(f"{d.otlp_http}/v1/traces", data=b"", headers=PB, timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/x-protobuf")
    assert not ExportTraceServiceResponse.FromString(r.content).HasField("partial_success")
    r = requests.post(f"{d.otlp_http}/v1/logs", data=b"{}", headers=JSON, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {}


def test_unknown_media_type_and_encoding_are_415(start_daemon: Callable[..., Daemon]) -> None:
    d = start_daemon()
    r = requests.post(f"{d.otlp_http}/v1/traces", data=b"x", headers={"Content-Type": "text/plain"}, timeout=10)
    assert r.status_code == 415
    r = requests.post(
        f"{d.otlp_http}/v1/traces", data=spans_request(1), headers={**PB, "Content-Encoding": "br"}, timeout=10
    )
    assert r.status_code == 415
    assert "br" in r.text


def test_undecodable_body_is_400_with_status(start_daemon: Callable[..., Daemon]) -> None:
    d = start_daemon()
    r = requests.post(f"{d.otlp_http}/v1/traces", data=b"\xff\xff\xff\xff garbage", headers=PB, timeout=10)
    assert r.status_code == 400
    status = status_pb2.Status.FromString(r.content)
    assert status.code == 3 and status.message
    r = requests.post(f"{d.otlp_http}/v1/metrics", data=b"{not json", headers=JSON, timeout=10)
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == 3 and body["message"]


def test_invalid_items_are_rejected_individually(start_daemon: Callable[..., Daemon]) -> None:
    d = start_daemon()
    good = {
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "EEE19B7EC3C1B174",
        "name": "ok",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": 1700000000100000000,
    }
    zero = {**good, "traceId": "0" * 32, "name": "zero"}
    backwards = {**good, "spanId": "eee19b7ec3c1b175", "endTimeUnixNano": "1", "name": "backwards"}
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [good, zero, backwards]}]}]}
    r = requests.post(f"{d.otlp_http}/v1/traces", data=json.dumps(doc), headers=JSON, timeout=10)
    assert r.status_code == 200
    partial = r.json()["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 2
    assert "spans[1]" in partial["errorMessage"] and "spans[2]" in partial["errorMessage"]
    assert d.metric("vigil_ingest_items_total", signal="spans", outcome="accepted") == 1
    assert d.metric("vigil_ingest_items_total", signal="spans", outcome="rejected", reason="invalid") == 2


def test_body_over_limit_is_413_plain_and_gzip(start_daemon: Callable[..., Daemon]) -> None:
    d = start_daemon(limits={"max_request_bytes": "64KiB"})
    big = spans_request(3000)
    assert len(big) > 64 * 1024
    r = requests.post(f"{d.otlp_http}/v1/traces", data=big, headers=PB, timeout=10)
    assert r.status_code == 413
    assert status_pb2.Status.FromString(r.content).message
    packed = gzip.compress(big)
    assert len(packed) < 64 * 1024
    r = requests.post(f"{d.otlp_http}/v1/traces", data=packed, headers={**PB, "Content-Encoding": "gzip"}, timeout=10)
    assert r.status_code == 413
    small = spans_request(10)
    two_members = gzip.compress(small[:40]) + gzip.compress(small[40:])
    r = requests.post(
        f"{d.otlp_http}/v1/traces", data=two_members, headers={**PB, "Content-Encoding": "gzip"}, timeout=10
    )
    assert r.status_code == 200
    assert d.metric("vigil_ingest_items_total", signal="spans", outcome="accepted") == 10


def _rss_hwm_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _gzip_bomb(inflated: int) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * (1 << 20)
    out = [comp.compress(block) for _ in range(inflated // len(block))]
    out.append(comp.flush())
    return b"".join(out)


def test_gzip_bomb_is_413_and_memory_stays_flat(start_daemon: Callable[..., Daemon]) -> None:
    d = start_daemon(limits={"max_request_bytes": "4MiB"})
    assert d.proc is not None
    bomb = _gzip_bomb(1 << 30)  # 1 GiB of zeros, about 1 MiB compressed
    before = _rss_hwm_kib(d.proc.pid)
    r = requests.post(
        f"{d.otlp_http}/v1/traces", data=bomb[: 4 << 20], headers={**PB, "Content-Encoding": "gzip"}, timeout=60
    )
    assert r.status_code == 413
    grown_mib = (_rss_hwm_kib(d.proc.pid) - before) / 1024
    assert grown_mib < 64, f"daemon peak memory grew by {grown_mib:.0f} MiB"


def test_full_queue_answers_429_with_retry_after(start_daemon: Callable[..., Daemon]) -> None:
    d = start_daemon(limits={"max_queued_items": 1})
    body = spans_request(2000)
    codes: list[int] = []
    retry_after: list[str] = []
    lock = threading.Lock()

    def send(k: int) -> None:
        with requests.Session() as s:
            for _ in range(6):
                r = s.post(f"{d.otlp_http}/v1/traces", data=body, headers=PB, timeout=30)
                with lock:
                    codes.append(r.status_code)
                    if r.status_code == 429:
                        retry_after.append(r.headers.get("Retry-After", ""))

    with ThreadPoolExecutor(12) as pool:
        list(pool.map(send, range(12)))
    assert set(codes) <= {200, 429}
    assert 429 in codes, "a queue of one item never filled up under 12 concurrent senders"
    assert all(v.isdigit() and int(v) >= 1 for v in retry_after)
    # Accepted means kept: every 200 is counted as accepted, nothing more.
    assert d.metric("vigil_ingest_items_total", signal="spans", outcome="accepted") == 2000 * codes.count(200)


def test_sigterm_during_load_keeps_every_accepted_item(start_daemon: Callable[..., Daemon]) -> None:
    d = start_daemon()
    assert d.proc is not None
    body = spans_request(500)
    accepted = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + 30

    def send() -> None:
        nonlocal accepted
        with requests.Session() as s:
            while time.monotonic() < stop_at:
                try:
                    r = s.post(f"{d.otlp_http}/v1/traces", data=body, headers=PB, timeout=10)
                except requests.ConnectionError:
                    return
                if r.status_code == 200:
                    with lock:
                        accepted += 500
                else:
                    assert r.status_code in (429, 503), r.status_code

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    assert accepted > 0
    assert d.stop(signal.SIGTERM) == 0
    for t in threads:
        t.join()
    m = re.search(r"(\d+) accepted items consumed", d.log())
    assert m, d.log()
    assert int(m.group(1)) == accepted

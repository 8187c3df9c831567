"""`vigil demo` against real local OTLP sinks: one trace over three services, logs with its IDs, the rules' metrics."""

from __future__ import annotations

import asyncio
import gzip
import signal
import socket
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from aiohttp import web
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from pytest_aiohttp import AiohttpServer

from collector.demo.runner import main

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "s3cret"


@dataclass
class Sink:
    """Everything the demo exported, decoded with opentelemetry-proto, and the bearer tokens it sent."""

    traces: list[Any] = field(default_factory=list)
    logs: list[Any] = field(default_factory=list)
    metrics: list[Any] = field(default_factory=list)
    tokens: set[str | None] = field(default_factory=set)

    def spans(self) -> Iterator[tuple[str, Span]]:
        for request in self.traces:
            for rs in request.resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        yield service_of(rs.resource.attributes), span

    def log_records(self) -> Iterator[tuple[str, Any]]:
        for request in self.logs:
            for rl in request.resource_logs:
                for sl in rl.scope_logs:
                    for record in sl.log_records:
                        yield service_of(rl.resource.attributes), record

    def metric_items(self) -> Iterator[tuple[dict[str, Any], Any]]:
        for request in self.metrics:
            for rm in request.resource_metrics:
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        yield attrs(rm.resource.attributes), metric


def attrs(kvs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in kvs:
        assert isinstance(kv, KeyValue)
        which = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, which) if which else None
    return out


def service_of(kvs: Any) -> str:
    return str(attrs(kvs)["service.name"])


def http_sink(sink: Sink) -> web.Application:
    kinds: dict[str, tuple[type[Message], type[Message], list[Any]]] = {
        "/v1/traces": (
            trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse, sink.traces,
        ),
        "/v1/logs": (logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse, sink.logs),
        "/v1/metrics": (
            metrics_service_pb2.ExportMetricsServiceRequest,
            metrics_service_pb2.ExportMetricsServiceResponse,
            sink.metrics,
        ),
    }

    async def receive(request: web.Request) -> web.Response:
        decode, answer, into = kinds[request.path]
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        assert request.content_type == "application/x-protobuf"
        into.append(decode.FromString(body))
        sink.tokens.add(request.headers.get("Authorization"))
        return web.Response(body=answer().SerializeToString(), content_type="application/x-protobuf")

    app = web.Application()
    for path in kinds:
        app.router.add_post(path, receive)
    return app


class _GrpcSink(
    trace_service_pb2_grpc.TraceServiceServicer,
    logs_service_pb2_grpc.LogsServiceServicer,
    metrics_service_pb2_grpc.MetricsServiceServicer,
):
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def _token(self, context: Any) -> None:
        self.sink.tokens.add(dict(context.invocation_metadata()).get("authorization"))

    async def Export(self, request: Any, context: Any) -> Any:
        self._token(context)
        if isinstance(request, trace_service_pb2.ExportTraceServiceRequest):
            self.sink.traces.append(request)
            return trace_service_pb2.ExportTraceServiceResponse()
        if isinstance(request, logs_service_pb2.ExportLogsServiceRequest):
            self.sink.logs.append(request)
            return logs_service_pb2.ExportLogsServiceResponse()
        self.sink.metrics.append(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


def rule_metric_names() -> set[str]:
    """Every metric an example rule selects."""
    names = set()
    for path in (ROOT / "rules").glob("*.yaml"):
        for rule in yaml.safe_load(path.read_text())["rules"]:
            if rule["select"]["signal"] == "metrics":
                names.add(rule["select"]["metric"])
    return names


def assert_shop_telemetry(sink: Sink) -> None:
    spans = list(sink.spans())
    assert {service for service, _ in spans} == {"frontend", "checkout", "payments"}
    by_id = {span.span_id: (service, span) for service, span in spans}
    servers = [(service, span) for service, span in spans if span.kind == Span.SPAN_KIND_SERVER]
    for _, span in servers:
        assert {"http.route", "http.request.method", "http.response.status_code"} <= attrs(span.attributes).keys()

    # A payments SERVER span whose parent is checkout's CLIENT span, whose SERVER span's parent is the frontend's.
    full = []
    for service, span in servers:
        if service != "payments":
            continue
        chain = [(service, span)]
        while chain[-1][1].parent_span_id:
            chain.append(by_id[chain[-1][1].parent_span_id])
        full.append(chain)
    assert full
    for chain in full:
        assert [(s, sp.kind) for s, sp in chain] == [
            ("payments", Span.SPAN_KIND_SERVER), ("checkout", Span.SPAN_KIND_CLIENT),
            ("checkout", Span.SPAN_KIND_SERVER), ("frontend", Span.SPAN_KIND_CLIENT),
            ("frontend", Span.SPAN_KIND_SERVER),
        ]
        assert len({sp.trace_id for _, sp in chain}) == 1
        assert attrs(chain[-1][1].attributes)["http.route"] == "/checkout"

    # Logs carry the trace and span of the server span they were written in.
    logs = list(sink.log_records())
    assert {service for service, _ in logs} == {"frontend", "checkout", "payments"}
    server_of = {span.span_id: (service, span) for service, span in servers}
    for service, record in logs:
        assert record.span_id in server_of
        owner, span = server_of[record.span_id]
        assert owner == service and record.trace_id == span.trace_id
    traced = {sp.trace_id for chain in full for _, sp in chain}
    assert {record.trace_id for _, record in logs if record.trace_id in traced} == traced

    metrics = list(sink.metric_items())
    names = {metric.name for _, metric in metrics}
    assert rule_metric_names() <= names
    assert {"process.runtime.go.gc.pause_ns", "go.goroutine.count", "go.memory.used"} <= rule_metric_names()
    for resource, metric in metrics:
        assert resource["service.instance.id"]
        if metric.name == "process.runtime.go.gc.pause_ns":
            assert metric.unit == "ns" and metric.WhichOneof("data") == "histogram"
        if metric.name == "go.memory.used":
            types = {attrs(p.attributes)["go.memory.type"] for p in metric.sum.data_points}
            assert types == {"other", "stack"}
        if metric.name == "db.client.connection.pending_requests":
            assert resource["service.name"] in {"checkout", "payments"}
            assert all("db.client.connection.pool.name" in attrs(p.attributes) for p in metric.sum.data_points)
    per_service = defaultdict(set)
    for resource, metric in metrics:
        per_service[resource["service.name"]].add(metric.name)
    assert all("go.goroutine.count" in names for names in per_service.values())
    assert set(per_service) == {"frontend", "checkout", "payments"}


async def test_demo_sends_one_trace_tree_with_logs_and_rule_metrics_over_http(
    aiohttp_server: AiohttpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    sink = Sink()
    server = await aiohttp_server(http_sink(sink))
    argv = [
        "--endpoint", f"http://127.0.0.1:{server.port}", "--duration", "2.1", "--rate", "40",
        "--export-interval", "0.2", "--fault", "errors", "--fault-after", "0", "--token", TOKEN, "--seed", "5",
    ]

    code = await asyncio.to_thread(main, argv)

    assert code == 0
    assert_shop_telemetry(sink)
    assert sink.tokens == {f"Bearer {TOKEN}"}
    # The errors fault shows: failed checkout spans and ERROR logs in the same traces.
    failed = {sp.trace_id for s, sp in sink.spans() if s == "checkout" and sp.status.code == Status.STATUS_CODE_ERROR}
    assert failed
    assert failed <= {r.trace_id for s, r in sink.log_records() if s == "checkout" and r.severity_text == "ERROR"}
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("vigil demo: frontend → checkout → payments at 40 requests/s, http/protobuf")
    assert "ShopHttpErrorRatio" in out[1]
    status = [line for line in out if line.lstrip().startswith("0:0")]
    assert [line.split()[0] for line in status] == ["0:01", "0:02"]
    assert all("fault errors on checkout" in line for line in status)
    assert out[-2].startswith("stopped after 0:02: ")
    assert out[-1] == f"all telemetry flushed to http://127.0.0.1:{server.port}"


async def test_demo_sends_over_grpc_with_the_token_as_metadata() -> None:
    sink = Sink()
    server = grpc.aio.server()
    servicer = _GrpcSink(sink)
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        argv = [
            "--protocol", "grpc", "--endpoint", f"127.0.0.1:{port}", "--duration", "1.2", "--rate", "40",
            "--export-interval", "0.2", "--token", TOKEN, "--seed", "6",
        ]
        code = await asyncio.to_thread(main, argv)
    finally:
        await server.stop(None)

    assert code == 0
    assert_shop_telemetry(sink)
    assert sink.tokens == {f"Bearer {TOKEN}"}


async def test_ctrl_c_stops_the_demo_and_flushes_what_it_buffered(aiohttp_server: AiohttpServer) -> None:
    sink = Sink()
    server = await aiohttp_server(http_sink(sink))
    # Exports are a minute apart: whatever reaches the sink was flushed at shutdown.
    argv = ["--endpoint", f"http://127.0.0.1:{server.port}", "--export-interval", "60", "--seed", "8"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys; from collector.demo.runner import main; sys.exit(main(sys.argv[1:]))",
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
    )
    assert proc.stdout is not None
    try:
        lines: list[str] = []
        while not (lines and lines[-1].strip().startswith("0:01")):
            lines.append((await proc.stdout.readline()).decode())
            assert lines[-1], "the demo ended before its first status line"

        proc.send_signal(signal.SIGINT)
        out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    assert proc.returncode == 0, err.decode()
    tail = out.decode().splitlines()
    assert tail[-2].startswith("stopped after 0:0")
    assert tail[-1] == f"all telemetry flushed to http://127.0.0.1:{server.port}"
    assert err == b""
    assert_shop_telemetry(sink)


def test_demo_refuses_to_start_without_vigil(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    assert main(["--endpoint", f"http://127.0.0.1:{port}", "--duration", "1"]) == 1
    assert capsys.readouterr().err.startswith(f"vigil demo: cannot reach Vigil at http://127.0.0.1:{port}: ")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rate", "0"], "argument --rate: must be greater than 0, not 0"),
        (["--fault-after", "-3"], "argument --fault-after: must be a finite number of at least 0, not -3"),
        (["--fault", "fire"], "argument --fault: invalid choice: 'fire'"),
        (["--service", "cart"], "argument --service: invalid choice: 'cart'"),
    ],
)
def test_bad_options_are_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: vigil demo ")
    assert message in err

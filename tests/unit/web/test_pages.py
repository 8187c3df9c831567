"""The dashboard pages, rendered by the real handlers from a real database, trace index and silence store."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from opentelemetry.exporter.otlp.proto.common._internal._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client import CollectorRegistry
from pytest_aiohttp import AiohttpClient

from collector import keys
from collector.bundle import BUNDLED_TEMPLATES
from collector.evaluate.evaluator import Evaluator
from collector.incidents.ack import Acknowledger
from collector.notify.silence import SilenceStore
from collector.notify.writer import Writer
from collector.store.db import Database
from collector.store.hub import Store
from collector.store.traces import TraceIndex
from collector.web import acks, pages
from collector.web.dashboard import Dashboard
from tests.unit.web.incident_seed import Emitted, at, emit, seed

Client = Any
SQLITE_ONLY = pytest.mark.parametrize("storage_url", ["sqlite"], indirect=True)
NOW = at(3600)


@pytest.fixture
async def db(storage_url: str) -> AsyncIterator[Database]:
    database = Database(storage_url)
    await database.open()
    yield database
    await database.close()


@pytest.fixture
def emitted() -> Emitted:
    return emit()


@pytest.fixture
def index(emitted: Emitted) -> TraceIndex:
    traces = TraceIndex(retention=timedelta(days=3650), max_bytes=2**26)
    received = max(s.end_time or 0 for s in emitted.spans)
    traces.add_spans(ExportTraceServiceRequest.FromString(encode_spans(emitted.spans).SerializeToString()), received)
    traces.add_logs(ExportLogsServiceRequest.FromString(encode_logs(emitted.logs).SerializeToString()), received)
    return traces


def trace_hex(emitted: Emitted, name: str) -> str:
    return format(next(s for s in emitted.spans if s.name == name).context.trace_id, "032x")


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, db: Database, index: TraceIndex, tmp_path: Path) -> Client:
    registry = CollectorRegistry()
    app = web.Application()
    app[keys.DATABASE] = db
    app[keys.TRACES] = index
    store = Store(traces=None, max_series_per_rule=100, max_series=1000, registry=registry)
    app[keys.EVALUATOR] = Evaluator(
        db=db, windows=store, traces=lambda _: None, registry=registry, delay=timedelta(seconds=5), clock=lambda: NOW
    )
    app[keys.SILENCES] = SilenceStore(db, Writer(db), lambda: NOW)
    acks.add_routes(app, Acknowledger(db, registry, lambda: NOW))
    # An empty templates folder of the user's: every page comes from the bundled templates.
    pages.add_routes(app, Dashboard(tmp_path / "templates", clock=lambda: NOW))
    return await aiohttp_client(app)


async def page(client: Client, path: str, status: int = 200) -> str:
    response = await client.get(path)
    assert response.status == status, await response.text()
    assert response.content_type == "text/html"
    text: str = await response.text()
    assert '<meta name="viewport"' in text
    return text


def rows(html: str) -> list[str]:
    return re.findall(r'<tr class="incident [a-z]+" data-incident-id="([^"]+)"', html)


@SQLITE_ONLY
async def test_the_dashboard_lists_incidents_with_their_state_and_filters_them(client: Client, db: Database) -> None:
    open_p0 = await seed(db, fired=3000)
    resolved_p2 = await seed(db, fired=2000, ended=2570, tier="P2", rule="SlowPages", service="search")
    old = await seed(db, fired=-2 * 86400, ended=-2 * 86400 + 60)
    await client.post(f"/api/incidents/{open_p0.id}/ack", json={"by": "alice"})

    html = await page(client, "/")
    assert rows(html) == [open_p0.id, resolved_p2.id], "newest first, within the last 24h"
    assert 'class="badge acked"' in html and "acknowledged by alice" in html
    assert rows(await page(client, "/?tier=P2")) == [resolved_p2.id]
    assert rows(await page(client, "/?service=checkout")) == [open_p0.id]
    assert rows(await page(client, "/?state=resolved")) == [resolved_p2.id]
    assert rows(await page(client, "/?range=7d")) == [open_p0.id, resolved_p2.id, old.id]
    assert rows(await page(client, "/?tier=bogus&range=bogus")) == [open_p0.id, resolved_p2.id]
    assert "Nothing pending or firing." in html


@SQLITE_ONLY
async def test_the_mttr_chart_plots_resolved_and_acknowledged_incidents(client: Client, db: Database) -> None:
    empty = await page(client, "/")
    assert "<svg" in empty and "<circle" not in empty
    inc = await seed(db, fired=1000, ended=1570)
    await client.post(f"/api/incidents/{inc.id}/ack", json={"by": "bob", "at": at(1090).isoformat()})
    html = await page(client, "/")
    chart = html[html.index('<svg class="chart"') : html.index("</svg>")]
    p0_mttr = re.search(r'data-series="P0 MTTR">(.*?)</g>', chart, re.S)
    p0_mtta = re.search(r'data-series="P0 MTTA">(.*?)</g>', chart, re.S)
    assert p0_mttr is not None and p0_mtta is not None
    assert "<circle" in p0_mttr.group(1) and "P0 MTTR 2026-11-23 10:30:00 UTC: 10m" in p0_mttr.group(1)
    assert "P0 MTTA 2026-11-23 10:30:00 UTC: 1m 30s" in p0_mtta.group(1)
    assert "<circle" not in chart.split('data-series="P1 MTTR"')[1]
    assert re.search(r"<td>10m</td>", html), "the summary table shows the MTTR"


@SQLITE_ONLY
async def test_what_users_wrote_is_escaped(client: Client, db: Database) -> None:
    evil = "<script>alert(1)</script>"
    inc = await seed(db, fired=3000, service=evil, labels={"route": evil})
    for html in (await page(client, "/"), await page(client, f"/incidents/{inc.id}")):
        assert evil not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


async def test_the_incident_page_shows_timeline_chart_and_evidence_waterfall_with_logs(
    client: Client, db: Database, emitted: Emitted, index: TraceIndex
) -> None:
    checkout = trace_hex(emitted, "POST /checkout")
    view = index.get(bytes.fromhex(checkout))
    assert view is not None
    evidence = [{"traceId": checkout, "spanId": "", "error": True, "durationMs": 5.0, "trace": view.to_dict()}]
    inc = await seed(db, fired=1000, ended=1570, evidence=evidence)
    await client.post(f"/api/incidents/{inc.id}/ack", json={"by": "dana", "at": at(1700).isoformat()})

    html = await page(client, f"/incidents/{inc.id}")
    kinds = re.findall(r'<li class="moment ([a-z]+)">', html)
    assert kinds == ["breach", "fired", "resolved", "acked"], "the ack came after the resolve"
    assert "Acknowledged by <b>dana</b>" in html and 'id="ack-button"' not in html
    chart = html[html.index('<svg class="chart"') : html.index("</svg>")]
    assert 'class="threshold"' in chart and "threshold 0.2" in chart
    assert chart.count("<circle") == 2, "the values of the firing and resolved events"
    assert 'class="marker fired"' in chart and 'class="marker resolved"' in chart

    waterfall = html[html.index('class="waterfall"') : html.index('<table class="logs">')]
    names = re.findall(r'<span class="service">checkout</span> ([^<]+?)\s*</div>', waterfall)
    assert names == ["POST /checkout", "charge card", "reserve stock"]
    assert re.findall(r'class="span-row( error)?"', waterfall) == ["", " error", ""]
    assert "padding-left: 0.9em" in waterfall, "children are indented"
    logs = html[html.index('<table class="logs">') :]
    assert "order received" in logs and "card declined" in logs


@SQLITE_ONLY
async def test_the_ack_button_acknowledges_and_comes_back(client: Client, db: Database) -> None:
    inc = await seed(db, fired=3000)
    html = await page(client, f"/incidents/{inc.id}")
    assert 'id="ack-button"' in html
    action = re.search(r'<form class="ack" method="post" action="([^"]+)">', html)
    assert action is not None and action.group(1) == f"/api/incidents/{inc.id}/ack"
    response = await client.post(action.group(1), data={"by": "erin", "next": f"/incidents/{inc.id}"})
    assert response.status == 200 and str(response.url).endswith(f"/incidents/{inc.id}")
    assert "Acknowledged by <b>erin</b>" in await response.text()
    await page(client, "/incidents/no-such-id", status=404)


async def test_a_trace_page_for_any_trace_and_from_evidence_once_the_index_dropped_it(
    client: Client, db: Database, emitted: Emitted, index: TraceIndex
) -> None:
    health = trace_hex(emitted, "GET /health")
    html = await page(client, f"/traces/{health.upper()}")
    assert "GET /health" in html and "healthy" in html
    # A trace only an incident's evidence still holds.
    gone = "ab" * 16
    view = index.get(bytes.fromhex(health))
    assert view is not None
    copy = {**view.to_dict(), "traceId": gone}
    await seed(db, fired=100, evidence=[{"traceId": gone, "spanId": "", "error": False, "trace": copy}])
    kept = await page(client, f"/traces/{gone}")
    assert "GET /health" in kept and "kept with an incident" in kept
    assert "not found" in await page(client, f"/traces/{'cd' * 16}", status=404)
    assert "32 hexadecimal digits" in await page(client, "/traces/xyz", status=400)
    form = await client.get(f"/traces?id={health}", allow_redirects=False)
    assert (form.status, form.headers["Location"]) == (303, f"/traces/{health}")


@SQLITE_ONLY
async def test_silences_are_listed_created_and_expired_from_the_page(client: Client) -> None:
    html = await page(client, "/silences?matchers=alertname%3DCheckoutErrors")
    assert "No silences." in html and ">alertname=CheckoutErrors</textarea>" in html
    bad = await client.post("/silences", data={"matchers": "nonsense", "duration": "2h", "createdBy": "fay"})
    assert bad.status == 400 and "expected label=value" in await bad.text()
    created = await client.post(
        "/silences",
        data={
            "matchers": "alertname=CheckoutErrors\nservice.name=~check.*",
            "duration": "2h",
            "createdBy": "fay",
            "comment": "deploying",
        },
    )
    assert created.status == 200
    listed = await created.text()
    assert "alertname=CheckoutErrors" in listed and "service.name=~check.*" in listed
    assert 'class="badge active">active' in listed and "deploying" in listed
    action = re.search(r'action="(/silences/[^"]+/expire)"', listed)
    assert action is not None
    expired = await client.post(action.group(1))
    assert 'class="badge expired">expired' in await expired.text()


@SQLITE_ONLY
async def test_the_stylesheet_is_served_by_the_app(client: Client) -> None:
    response = await client.get("/static/vigil.css")
    assert response.status == 200 and response.content_type == "text/css"
    assert (await response.text()) == (BUNDLED_TEMPLATES / "dashboard" / "static" / "vigil.css").read_text()

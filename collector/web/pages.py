"""The dashboard pages: live alerts, incidents and MTTR at `/`, one incident, one trace, and the stylesheet."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from collector import keys
from collector.incidents import mttr
from collector.incidents.ack import acked_by
from collector.incidents.evidence import trace_from_evidence
from collector.incidents.records import IncidentFilter, get_incident, list_incidents
from collector.incidents.timings import incident_times
from collector.web import incident_view, silence_pages
from collector.web.charts import trend_chart
from collector.web.dashboard import DEFAULT_RANGE, RANGES, Dashboard, parse_iso

_TRACE_ID = re.compile(r"[0-9a-fA-F]{32}")
STATES = ("open", "resolved")


def _choice(request: web.Request, name: str, choices: tuple[str, ...] | list[str]) -> str | None:
    """A filter of a page: an unknown value shows everything rather than an error page."""
    value = request.query.get(name, "")
    return value if value in choices else None


async def _live_alerts(request: web.Request) -> dict[str, list[dict[str, Any]]]:
    by_tier: dict[str, list[dict[str, Any]]] = {tier: [] for tier in mttr.TIERS}
    for alert in await request.app[keys.EVALUATOR].snapshot():
        if alert["state"] in ("pending", "firing"):
            by_tier.setdefault(alert["tier"], []).append(alert)
    for alerts in by_tier.values():
        alerts.sort(key=lambda a: (a["state"] != "firing", a["firedAt"] or a["activeSince"] or ""))
    return by_tier


def _incident_ids(alerts: dict[str, list[dict[str, Any]]]) -> set[str]:
    return {a["incidentId"] for tier in alerts.values() for a in tier if a.get("incidentId")}


def _bucket_start(at: datetime, step_seconds: float) -> datetime:
    return datetime.fromtimestamp(at.timestamp() // step_seconds * step_seconds, UTC)


def index_handler(dashboard: Dashboard) -> Handler:
    async def index(request: web.Request) -> web.Response:
        span = RANGES[_choice(request, "range", list(RANGES)) or DEFAULT_RANGE]
        exclude = [x for x in request.query.getall("exclude", []) if x in mttr.EXCLUSIONS]
        now = dashboard.clock()
        start = _bucket_start(now - span.length, span.step.total_seconds())
        chosen = IncidentFilter(
            tier=_choice(request, "tier", mttr.TIERS),
            service=request.query.get("service") or None,
            state=_choice(request, "state", STATES),
            since=now - span.length,
            limit=200,
        )
        live = await _live_alerts(request)
        async with request.app[keys.DATABASE].engine.connect() as conn:
            found = await list_incidents(conn, chosen)
            times = await incident_times(conn, start, None)
            acks = await acked_by(conn, _incident_ids(live))
        in_range = [t for t in times if t.fired_at >= now - span.length]
        return dashboard.render(
            "index.html",
            alerts=live,
            acks=acks,
            incidents=found,
            filters=chosen,
            range=span.name,
            ranges=list(RANGES),
            exclude=exclude,
            services=sorted({t.service for t in times if t.service}),
            summary=mttr.summarize(in_range, "tier", exclude),
            trend=trend_chart(mttr.trend(times, start, now, span.step, exclude), start, now, span.step),
            step=span.step,
        )

    return index


def incident_handler(dashboard: Dashboard) -> Handler:
    async def incident(request: web.Request) -> web.Response:
        incident_id = request.match_info["id"]
        async with request.app[keys.DATABASE].engine.connect() as conn:
            found = await get_incident(conn, incident_id)
        if found is None:
            return dashboard.render("missing.html", status=404, what="incident", key=incident_id)
        now = dashboard.clock()
        start, end = incident_view.window(found, now)
        history = dashboard.history.series(found["fingerprint"], start, end)
        return dashboard.render(
            "incident.html",
            incident=found,
            timeline=incident_view.timeline(found),
            chart=incident_view.chart(found, history, now),
            recorded=len(history),
            open_for=(now - (parse_iso(found["startsAt"]) or now)).total_seconds(),
            evidence=incident_view.evidence(found),
        )

    return incident


def trace_form_handler(dashboard: Dashboard) -> Handler:
    async def trace_form(request: web.Request) -> web.Response:
        wanted = request.query.get("id", "").strip()
        if wanted:
            raise web.HTTPSeeOther(f"/traces/{wanted}")
        return dashboard.render("trace.html", trace=None, trace_id="", problem=None)

    return trace_form


def trace_handler(dashboard: Dashboard) -> Handler:
    async def trace(request: web.Request) -> web.Response:
        text = request.match_info["trace_id"]
        if not _TRACE_ID.fullmatch(text):
            problem = f"{text[:64]!r} is not a trace ID: expected 32 hexadecimal digits"
            return dashboard.render("trace.html", status=400, trace=None, trace_id=text[:64], problem=problem)
        trace_id = text.lower()
        view = request.app[keys.TRACES].get(bytes.fromhex(trace_id))
        document: dict[str, Any] | None = dict(view.to_dict()) if view is not None else None
        copied = False
        if document is None:
            async with request.app[keys.DATABASE].engine.connect() as conn:
                document = await trace_from_evidence(conn, trace_id)
            copied = document is not None
        if document is None:
            problem = f"trace {trace_id} not found: never received, or older than retention.traces"
            return dashboard.render("trace.html", status=404, trace=None, trace_id=trace_id, problem=problem)
        shown = incident_view.trace_evidence(trace_id, document)
        return dashboard.render("trace.html", trace=shown, trace_id=trace_id, problem=None, copied=copied)

    return trace


def stylesheet_handler(dashboard: Dashboard) -> Handler:
    async def stylesheet(request: web.Request) -> web.Response:
        return web.Response(
            text=dashboard.stylesheet(), content_type="text/css", headers={"Cache-Control": "max-age=300"}
        )

    return stylesheet


def add_routes(app: web.Application, dashboard: Dashboard) -> None:
    app.router.add_get("/", index_handler(dashboard))
    app.router.add_get("/incidents/{id}", incident_handler(dashboard))
    app.router.add_get("/traces", trace_form_handler(dashboard))
    app.router.add_get("/traces/{trace_id}", trace_handler(dashboard))
    app.router.add_get("/static/vigil.css", stylesheet_handler(dashboard))
    silence_pages.add_routes(app, dashboard)

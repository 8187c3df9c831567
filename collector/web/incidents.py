"""GET /api/incidents and GET /api/incidents/{id}."""

from __future__ import annotations

from aiohttp import web

from collector import keys
from collector.incidents.records import IncidentFilter, get_incident, list_incidents
from collector.web.params import choice_param, int_param, time_param


async def incidents(request: web.Request) -> web.Response:
    f = IncidentFilter(
        tier=choice_param(request, "tier", ("P0", "P1", "P2")),
        service=request.query.get("service") or None,
        rule=request.query.get("rule") or None,
        since=time_param(request, "since"),
        until=time_param(request, "until"),
        state=choice_param(request, "state", ("open", "resolved")),
        limit=int_param(request, "limit", 100, 1, 1000),
    )
    async with request.app[keys.DATABASE].engine.connect() as conn:
        found = await list_incidents(conn, f)
    return web.json_response({"incidents": found})


async def incident(request: web.Request) -> web.Response:
    async with request.app[keys.DATABASE].engine.connect() as conn:
        found = await get_incident(conn, request.match_info["id"])
    if found is None:
        return web.json_response({"error": "no such incident"}, status=404)
    return web.json_response(found)


def add_routes(app: web.Application) -> None:
    app.add_routes([web.get("/api/incidents", incidents), web.get("/api/incidents/{id}", incident)])

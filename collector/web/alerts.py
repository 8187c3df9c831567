"""GET /api/alerts (live alert instances), GET /api/rules and POST /-/reload."""

from __future__ import annotations

from aiohttp import web

from collector import keys
from collector.model import iso
from collector.units import format_duration


async def list_alerts(request: web.Request) -> web.Response:
    alerts = await request.app[keys.EVALUATOR].snapshot()
    state = request.query.get("state")
    tier = request.query.get("tier")
    if state:
        alerts = [a for a in alerts if a["state"] == state]
    if tier:
        alerts = [a for a in alerts if a["tier"] == tier]
    return web.json_response({"alerts": alerts})


async def list_rules(request: web.Request) -> web.Response:
    reloader = request.app[keys.RELOADER]
    registry = reloader.rules
    last = registry.last_result
    groups = [
        {
            "name": g.name,
            "file": g.file,
            "interval": format_duration(g.interval),
            "rules": [
                {
                    "name": r.name,
                    "tier": r.tier,
                    "signal": r.select.signal.value,
                    "metric": r.select.metric,
                    "measure": r.measure,
                    "by": list(r.by),
                    "window": format_duration(r.window),
                    "condition": r.condition.kind,
                    "threshold": r.condition.describe(),
                    "for": format_duration(r.for_),
                    "keepFiringFor": format_duration(r.keep_firing_for),
                }
                for r in g.rules
            ],
        }
        for g in registry.current().groups
    ]
    return web.json_response(
        {
            "groups": groups,
            "lastReload": {
                "success": registry.last_success,
                "at": iso(last.at) if last else None,
                "lastSuccessAt": iso(registry.last_success_at) if registry.last_success_at else None,
                "errors": [str(p) for p in last.problems] if last else [],
            },
        }
    )


async def reload(request: web.Request) -> web.Response:
    result = await request.app[keys.RELOADER].reload("POST /-/reload")
    body = {"success": result.ok, "errors": [str(p) for p in result.problems]}
    return web.json_response(body, status=200 if result.ok else 400)


def add_routes(app: web.Application) -> None:
    app.add_routes(
        [
            web.get("/api/alerts", list_alerts),
            web.get("/api/rules", list_rules),
            web.post("/-/reload", reload),
        ]
    )

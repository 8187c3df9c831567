"""GET /api/mttr?since=&until=&by=tier|service|rule&exclude=silenced,manual: MTTA and MTTR per group."""

from __future__ import annotations

from aiohttp import web

from collector import keys
from collector.incidents.mttr import EXCLUSIONS, GROUPINGS, summarize
from collector.incidents.timings import incident_times
from collector.model import iso
from collector.web.params import bad_request, choice_param, time_param


def exclusions(request: web.Request) -> list[str]:
    """`exclude=silenced&exclude=manual` or `exclude=silenced,manual`."""
    found = [x for item in request.query.getall("exclude", []) for x in item.split(",") if x]
    unknown = sorted(set(found) - set(EXCLUSIONS))
    if unknown:
        raise bad_request(f"exclude must be among {', '.join(EXCLUSIONS)}, not {', '.join(unknown)}")
    return sorted(set(found))


async def mttr(request: web.Request) -> web.Response:
    since, until = time_param(request, "since"), time_param(request, "until")
    by = choice_param(request, "by", GROUPINGS) or "tier"
    exclude = exclusions(request)
    async with request.app[keys.DATABASE].engine.connect() as conn:
        found = await incident_times(conn, since, until)
    return web.json_response(
        {
            "since": iso(since) if since else None,
            "until": iso(until) if until else None,
            "by": by,
            "exclude": exclude,
            "groups": [g.to_dict(by) for g in summarize(found, by, exclude)],
        }
    )


def add_routes(app: web.Application) -> None:
    app.add_routes([web.get("/api/mttr", mttr)])

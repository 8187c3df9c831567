"""GET /api/services: every service seen in spans, with its current rate, error ratio and p99 latency."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from aiohttp import web

from collector import keys
from collector.model import iso
from collector.units import parse_duration
from collector.web.params import bad_request


async def services(request: web.Request) -> web.Response:
    raw = request.query.get("window", "1m")
    try:
        window = parse_duration(raw)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    if not timedelta(seconds=1) <= window <= timedelta(minutes=15):
        raise bad_request("window must be between 1s and 15m")
    found = request.app[keys.STORE].services(time.time_ns(), window)
    return web.json_response({
        "window": raw,
        "services": [
            {
                "service": s.service,
                "spans": s.spans,
                "rate": s.rate,
                "errorRatio": s.error_ratio,
                "p99Ms": s.p99_ms,
                "lastSeen": iso(datetime.fromtimestamp(s.last_seen_ns / 1e9, UTC)),
            }
            for s in sorted(found, key=lambda s: s.service)
        ],
    })


def add_routes(app: web.Application) -> None:
    app.add_routes([web.get("/api/services", services)])

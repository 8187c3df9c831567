"""GET /api/deliveries and POST /api/deliveries/{id}/retry: the outbox as users see it, dead letters included."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from collector import keys
from collector.notify.outbox import STATES

MAX_LIMIT = 1000


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status, dumps=_dumps)


async def list_deliveries(request: web.Request) -> web.Response:
    """`?state=pending|delivered|dead`, `?receiver=`, `?limit=` (default 100), newest first."""
    state = request.query.get("state")
    if state is not None and state not in STATES:
        return _error(400, f"unknown state {state!r} (expected {', '.join(STATES)})")
    text = request.query.get("limit", "100")
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        return _error(400, f"limit must be a number from 1 to {MAX_LIMIT}")
    found = await request.app[keys.NOTIFIER].deliveries(
        state=state, receiver=request.query.get("receiver"), limit=int(text)
    )
    return web.json_response({"deliveries": found}, dumps=_dumps)


async def retry_delivery(request: web.Request) -> web.Response:
    """Re-queue a dead delivery: 200 with it (state pending), 404 unknown, 409 when it is not dead."""
    notifier = request.app[keys.NOTIFIER]
    delivery_id = request.match_info["id"]
    if await notifier.retry(delivery_id):
        return web.json_response(await notifier.delivery(delivery_id), dumps=_dumps)
    current = await notifier.delivery(delivery_id)
    if current is None:
        return _error(404, "no such delivery")
    return _error(409, f"delivery is {current['state']}; only dead deliveries can be retried")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/deliveries", list_deliveries)
    app.router.add_post("/api/deliveries/{id}/retry", retry_delivery)

"""GET /api/traces/{traceId}: one trace's spans in tree order and the logs that share its trace ID."""

from __future__ import annotations

import re
from typing import Any

import orjson
from aiohttp import web

from collector import keys

_TRACE_ID = re.compile(r"[0-9a-fA-F]{32}")


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status, dumps=_dumps)


async def get_trace(request: web.Request) -> web.Response:
    """200 with the trace document, 400 for an ID that is not 32 hex digits, 404 when nothing is held for it."""
    text = request.match_info["trace_id"]
    if not _TRACE_ID.fullmatch(text):
        return _error(400, f"invalid trace ID {text[:64]!r}: expected 32 hexadecimal digits")
    view = request.app[keys.TRACES].get(bytes.fromhex(text))
    if view is None:
        return _error(404, f"trace {text.lower()} not found (never received, or older than retention.traces)")
    return web.json_response(view.to_dict(), dumps=_dumps)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/traces/{trace_id}", get_trace, name="trace")

"""GET /api/traces/{traceId}: one trace's spans in tree order and the logs that share its trace ID."""

from __future__ import annotations

import logging
import re
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from collector import keys

log = logging.getLogger(__name__)

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
    if view is not None:
        return web.json_response(view.to_dict(), dumps=_dumps)
    # With replicas, a trace lives where its service's data was routed: ask the peers (they answer locally only).
    if request.query.get("local") != "1":
        found = await _from_peers(request, text.lower())
        if found is not None:
            return web.Response(body=found, content_type="application/json")
    return _error(404, f"trace {text.lower()} not found (never received, or older than retention.traces)")


async def _from_peers(request: web.Request, trace_id: str) -> bytes | None:
    settings = request.app.get(keys.SETTINGS)
    if settings is None or not settings.cluster.peers:
        return None
    session = request.app[keys.HTTP_CLIENT]
    headers = {"Authorization": f"Bearer {settings.auth.api_tokens[0]}"} if settings.auth.api_tokens else {}
    for peer in settings.cluster.peers:
        try:
            async with session.get(
                f"{peer.rstrip('/')}/api/traces/{trace_id}",
                params={"local": "1"},
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=3),
            ) as r:
                if r.status == 200:
                    return await r.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("peer %s did not answer for trace %s: %s", peer, trace_id, exc)
    return None


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/traces/{trace_id}", get_trace, name="trace")

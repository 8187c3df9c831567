"""GET/POST/DELETE /api/silences: list, create and expire silences."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from collector import keys
from collector.notify.silence import STATES, Silence, parse_silence_request

MAX_BODY = 64 * 1024


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status, dumps=_dumps)


def _label_filters(request: web.Request) -> list[tuple[str, str]]:
    out = []
    for item in request.query.getall("match", []):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"match={item!r}: expected match=LABEL=VALUE")
        out.append((key, value))
    return out


def _accepts(silence: Silence, filters: list[tuple[str, str]]) -> bool:
    """The silence has a matcher on each filtered label, and that matcher accepts the value."""
    for key, value in filters:
        on_key = [m for m in silence.matchers if m.name == key]
        if not on_key or not all(m.matches({key: value}) for m in on_key):
            return False
    return True


async def list_silences(request: web.Request) -> web.Response:
    """`?state=active,pending,expired` (repeatable or comma-separated), `?createdBy=`, `?match=LABEL=VALUE`."""
    store = request.app[keys.SILENCES]
    states = [s for item in request.query.getall("state", []) for s in item.split(",") if s]
    unknown = sorted(set(states) - set(STATES))
    if unknown:
        return _error(400, f"unknown state {', '.join(unknown)} (expected {', '.join(STATES)})")
    try:
        filters = _label_filters(request)
    except ValueError as exc:
        return _error(400, str(exc))
    found = await store.find(states=states, created_by=request.query.get("createdBy"))
    now = store.now()
    body = [s.to_json(now) for s in found if _accepts(s, filters)]
    return web.json_response({"silences": body}, dumps=_dumps)


async def get_silence(request: web.Request) -> web.Response:
    store = request.app[keys.SILENCES]
    silence = await store.get(request.match_info["id"])
    if silence is None:
        return _error(404, "no such silence")
    return web.json_response(silence.to_json(store.now()), dumps=_dumps)


async def create_silence(request: web.Request) -> web.Response:
    """201 with the new silence (its `id` included); 400 with the reason when the body is not valid."""
    store = request.app[keys.SILENCES]
    if request.content_length is not None and request.content_length > MAX_BODY:
        return _error(413, f"body larger than {MAX_BODY} bytes")
    raw = await request.read()
    if len(raw) > MAX_BODY:
        return _error(413, f"body larger than {MAX_BODY} bytes")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _error(400, f"the body is not valid JSON: {exc}")
    try:
        draft = parse_silence_request(data, store.now())
    except ValueError as exc:
        return _error(400, str(exc))
    silence = await store.create(draft)
    return web.json_response(silence.to_json(store.now()), status=201, dumps=_dumps)


async def expire_silence(request: web.Request) -> web.Response:
    """Expire now; 200 with the silence (state expired), 404 when unknown."""
    store = request.app[keys.SILENCES]
    silence = await store.expire(request.match_info["id"])
    if silence is None:
        return _error(404, "no such silence")
    return web.json_response(silence.to_json(store.now()), dumps=_dumps)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/silences", list_silences)
    app.router.add_post("/api/silences", create_silence)
    app.router.add_get("/api/silences/{id}", get_silence)
    app.router.add_delete("/api/silences/{id}", expire_silence)

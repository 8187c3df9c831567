"""POST /api/incidents/{id}/ack: acknowledge an incident, from the API, a receiver's callback or the dashboard form.

The body is JSON (`{"by": "alice", "at": "2026-11-22T10:03:00Z"}`) or a form (`by=alice&at=…`);
`at` is optional (default: now). A form may add `next=/incidents/…`: the answer is then a 303
back to that page of the dashboard. A GET is refused with 405: a state change needs a POST.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from collector.incidents.ack import Acknowledger, AckRejectedError
from collector.model import iso

MAX_BODY = 64 * 1024
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


def parse_time(raw: str) -> datetime:
    """ISO-8601 (a time without a zone is UTC) or unix seconds. Raises ValueError."""
    try:
        seconds = float(raw)
    except ValueError:
        parsed = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError) as exc:
        raise ValueError(f"{raw!r} is not a usable unix time") from exc


def local_path(raw: str | None) -> str | None:
    """A path on this server to go back to (never another site: `//host` and `/\\host` are refused)."""
    if not raw or not raw.startswith("/") or raw.startswith(("//", "/\\")):
        return None
    return raw


async def _fields(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(MAX_BODY, request.content_length)
    if request.content_type in FORM_TYPES:
        form = await request.post()
        return {k: v for k, v in form.items() if isinstance(v, str)}
    raw = await request.read()
    if len(raw) > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(MAX_BODY, len(raw))
    if request.content_type == "application/json" or raw.strip():
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"the body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")
        return data
    return {}


def acknowledge_handler(acks: Acknowledger) -> Handler:
    async def acknowledge(request: web.Request) -> web.StreamResponse:
        try:
            fields = await _fields(request)
        except ValueError as exc:
            return _error(400, str(exc))
        by, at = fields.get("by"), fields.get("at")
        if not isinstance(by, str) or not by.strip():
            return _error(400, "'by' is required: who acknowledges (e.g. {\"by\": \"alice\"})")
        when = None
        if at not in (None, ""):
            try:
                when = parse_time(str(at))
            except ValueError:
                return _error(400, f"'at' must be ISO-8601 or unix seconds, not {at!r}")
        try:
            ack = await acks.ack(request.match_info["id"], by, when)
        except AckRejectedError as exc:
            return _error(400, str(exc))
        if ack is None:
            return _error(404, "no such incident")
        back = local_path(fields.get("next") if isinstance(fields.get("next"), str) else None)
        if back is not None:
            raise web.HTTPSeeOther(back)
        return web.json_response(
            {"incidentId": ack.incident_id, "ackedAt": iso(ack.acked_at), "ackedBy": ack.acked_by, "first": ack.first}
        )

    return acknowledge


async def refuse_get(request: web.Request) -> web.Response:
    return _error(405, "acknowledge with POST (a JSON or form body with 'by'); a GET never changes state", Allow="POST")


def add_routes(app: web.Application, acks: Acknowledger) -> None:
    app.router.add_post("/api/incidents/{id}/ack", acknowledge_handler(acks))
    app.router.add_get("/api/incidents/{id}/ack", refuse_get, allow_head=False)

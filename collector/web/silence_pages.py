"""The silences page: the list, a form to create one (plain HTML POST), and a button to expire one."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from collector import keys
from collector.notify.silence import SilenceStore, parse_silence_request
from collector.web.dashboard import Dashboard

DURATIONS = ("30m", "1h", "2h", "4h", "8h", "1d", "3d", "1w")


def parse_matcher_lines(text: str) -> dict[str, Any]:
    """One matcher a line: `label=value`, or `label=~regex`. Raises ValueError naming the bad line."""
    matchers: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"matcher line {number} {line!r}: expected label=value or label=~regex")
        if value.startswith("~"):
            matchers[name.strip()] = {"regex": value[1:].strip()}
        else:
            matchers[name.strip()] = value.strip()
    return matchers


def _store(request: web.Request) -> SilenceStore | None:
    return request.app.get(keys.SILENCES)


def _page(
    dashboard: Dashboard, store: SilenceStore | None, found: list[Any], status: int = 200, **form: Any
) -> web.Response:
    now = store.now() if store is not None else dashboard.clock()
    return dashboard.render(
        "silences.html",
        status=status,
        enabled=store is not None,
        silences=[s.to_json(now) for s in found],
        durations=DURATIONS,
        form={"matchers": "", "duration": "2h", "createdBy": "", "comment": "", "error": None, **form},
    )


def list_handler(dashboard: Dashboard) -> Handler:
    async def silences(request: web.Request) -> web.Response:
        store = _store(request)
        found = await store.find() if store is not None else []
        prefill = request.query.get("matchers", "")
        return _page(dashboard, store, found, matchers=prefill)

    return silences


def create_handler(dashboard: Dashboard) -> Handler:
    async def create(request: web.Request) -> web.Response:
        store = _store(request)
        if store is None:
            return _page(dashboard, None, [], status=404)
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        fields = {k: form.get(k, "") for k in ("matchers", "duration", "createdBy", "comment")}
        try:
            body = {
                "matchers": parse_matcher_lines(fields["matchers"]),
                "duration": fields["duration"],
                "createdBy": fields["createdBy"],
                "comment": fields["comment"],
            }
            draft = parse_silence_request(body, store.now())
        except ValueError as exc:
            return _page(dashboard, store, await store.find(), 400, **fields, error=str(exc))
        await store.create(draft)
        raise web.HTTPSeeOther("/silences")

    return create


async def expire(request: web.Request) -> web.Response:
    store = _store(request)
    if store is None or await store.expire(request.match_info["id"]) is None:
        raise web.HTTPNotFound(text="no such silence")
    raise web.HTTPSeeOther("/silences")


def add_routes(app: web.Application, dashboard: Dashboard) -> None:
    app.router.add_get("/silences", list_handler(dashboard))
    app.router.add_post("/silences", create_handler(dashboard))
    app.router.add_post("/silences/{id}/expire", expire)

"""Optional bearer tokens (`auth.api_tokens`) for the API, /-/reload and the dashboard pages.

A client sends `Authorization: Bearer <token>`. A browser user opens any page once with
`?token=<token>`: the answer is a redirect to the same page without it, setting an HttpOnly,
SameSite=Lax cookie that carries the token from then on. /healthz, /readyz, /metrics and the
stylesheet stay open. Whether or not tokens are set, a state change (POST, DELETE…) that a
browser sends from a page of another site (its `Origin` names another host) is refused.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from collector.errors import UnauthorizedError
from collector.ingest.auth import TokenCheck

COOKIE = "vigil_token"
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
OPEN_PREFIXES = ("/static/",)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="vigil"'}

_LOGIN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Vigil: token needed</title><link rel="stylesheet" href="/static/vigil.css"></head>
<body><main class="narrow"><h1>Vigil</h1><p class="notice">{message}</p>
<form method="get" action="{path}"><label>API token <input type="password" name="token" required autofocus></label>
<button type="submit">Open</button></form></main></body></html>
"""


def _is_api(request: web.Request) -> bool:
    return request.path.startswith(("/api/", "/-/"))


def _unauthorized(request: web.Request, message: str) -> web.Response:
    if _is_api(request):
        return web.json_response({"error": message}, status=401, headers=CHALLENGE)
    page = _LOGIN.format(message=html.escape(message), path=html.escape(request.path))
    return web.Response(text=page, status=401, content_type="text/html", headers=CHALLENGE)


def _cross_site(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None or request.method in SAFE_METHODS:
        return False
    # Browsers send "null" from sandboxed frames and some redirects: not this site either.
    host = urlsplit(origin).netloc if origin != "null" else ""
    return host not in {request.host, request.headers.get("X-Forwarded-Host", "")}


def _without_token(request: web.Request) -> str:
    query = [(k, v) for k, v in request.query.items() if k != "token"]
    return str(request.rel_url.with_query(query))


def middleware(tokens: Iterable[str]) -> Middleware:
    """The aiohttp middleware; with no tokens it only refuses cross-site state changes."""
    check = TokenCheck(tokens)

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if _cross_site(request):
            return web.json_response({"error": "cross-site request refused"}, status=403)
        if not check.enabled or request.path in OPEN_PATHS or request.path.startswith(OPEN_PREFIXES):
            return await handler(request)
        given = request.query.get("token")
        if given is not None and request.method in SAFE_METHODS:
            try:
                check.check(f"Bearer {given}")
            except UnauthorizedError as exc:
                return _unauthorized(request, str(exc))
            redirect = web.HTTPSeeOther(_without_token(request))
            redirect.set_cookie(COOKIE, given, httponly=True, samesite="Lax", path="/", secure=request.secure)
            raise redirect
        header = request.headers.get("Authorization")
        cookie = request.cookies.get(COOKIE)
        try:
            check.check(header if header is not None or cookie is None else f"Bearer {cookie}")
        except UnauthorizedError as exc:
            return _unauthorized(request, str(exc))
        return await handler(request)

    return authenticate

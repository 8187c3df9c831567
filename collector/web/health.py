"""Liveness and readiness: GET /healthz and GET /readyz."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from collector import keys

# A check returns None when ready, or a short reason why not.
ReadinessCheck = Callable[[], Awaitable[str | None]]


class Readiness:
    """Named readiness checks that the stages register as they start."""

    def __init__(self) -> None:
        self._checks: dict[str, ReadinessCheck] = {}

    def add(self, name: str, check: ReadinessCheck) -> None:
        self._checks[name] = check

    def remove(self, name: str) -> None:
        self._checks.pop(name, None)

    async def report(self) -> dict[str, str]:
        """`{name: "ok" | reason}` for every check."""
        out: dict[str, str] = {}
        for name, check in self._checks.items():
            try:
                reason = await check()
            except Exception as exc:  # a failing check means "not ready", with the reason shown
                reason = f"{type(exc).__name__}: {exc}"
            out[name] = reason or "ok"
        return out


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    readiness = request.app[keys.READINESS]
    checks = await readiness.report()
    ready = bool(checks) and all(v == "ok" for v in checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503
    )


def add_routes(app: web.Application) -> None:
    app.add_routes([web.get("/healthz", healthz), web.get("/readyz", readyz)])

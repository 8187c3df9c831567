"""GET /metrics: Prometheus (or OpenMetrics, when asked) exposition of the app's own registry."""

from __future__ import annotations

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from collector import keys


async def metrics(request: web.Request) -> web.Response:
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(request.app[keys.REGISTRY])
    response = web.Response(body=body)
    # The content type carries parameters (version, charset) that aiohttp's content_type= would reject.
    response.headers["Content-Type"] = content_type
    return response


def add_routes(app: web.Application) -> None:
    app.add_routes([web.get("/metrics", metrics)])

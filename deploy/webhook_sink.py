"""A webhook sink for trying Vigil out: verifies X-Vigil-Signature, prints each delivery, lists them at GET /.

python deploy/webhook_sink.py [--port 9000] [--secret S]   (or WEBHOOK_SECRET in the environment)
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
from typing import Any

from aiohttp import web

RECEIVED = web.AppKey("received", list)
SECRET = web.AppKey("secret", str)


def signature_ok(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"sha256={expected}", header)


async def hook(request: web.Request) -> web.Response:
    body = await request.read()
    secret = request.app[SECRET]
    if secret and not signature_ok(
        secret, request.headers.get("X-Vigil-Timestamp", ""), body, request.headers.get("X-Vigil-Signature", "")
    ):
        return web.json_response({"error": "bad signature"}, status=401)
    try:
        payload: Any = json.loads(body)
    except ValueError:
        return web.json_response({"error": "not JSON"}, status=400)
    entry = {"idempotencyKey": request.headers.get("Idempotency-Key"), "payload": payload}
    request.app[RECEIVED].append(entry)
    status = payload.get("status") if isinstance(payload, dict) else None
    print(json.dumps({"status": status, "idempotencyKey": entry["idempotencyKey"]}), flush=True)
    return web.json_response({"ok": True})


async def listing(request: web.Request) -> web.Response:
    return web.json_response(request.app[RECEIVED])


def make_app(secret: str) -> web.Application:
    app = web.Application()
    app[RECEIVED] = []
    app[SECRET] = secret
    app.add_routes([web.post("/hook", hook), web.get("/", listing)])
    return app


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", default=os.environ.get("WEBHOOK_SECRET", ""))
    args = parser.parse_args(argv)
    web.run_app(make_app(args.secret), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main(sys.argv[1:])
